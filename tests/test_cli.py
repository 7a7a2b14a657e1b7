"""The ``skaudio-random`` command line (``study`` and ``demo``)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from skaudio_random.cli import load_fsdd, main

from .conftest import FSDD, requires_fsdd
from .test_study import write_tree

REPO = Path(__file__).resolve().parents[1]


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_study_folder(tmp_path, capsys):
    tree = write_tree(tmp_path / "tones", n_per_class=4)
    out = tmp_path / "out"
    options = "--n-splits 2 --models mfcc vertical_7x96 --widths 8 --runs 2"
    options += " --n-frames 24 --no-nested --device cpu --quiet --svm-max-iter 100000"
    # searches in this process (worker processes take seconds to start; the
    # demo test runs the default)
    options += " --search-jobs 1"
    status = main(
        ["study", "folder", "--data-home", str(tree), "--out", str(out)]
        + options.split()
    )
    assert status == 0
    for name in (
        "results.csv",
        "results.md",
        "summary.csv",
        "ttests.csv",
        "figure_width8.png",
    ):
        assert (out / name).is_file(), name
    rows = rows_of(out / "results.csv")
    assert len(rows) == 2 * 2 * 2
    assert {r["dataset"] for r in rows} == {"audio_folder"}
    assert all(r["nested_score"] == "" for r in rows)  # --no-nested
    vert = [r for r in rows if r["model"] == "vertical_7x96"]
    assert {json.loads(r["transformer_params"])["n_frames"] for r in vert} == {24}
    settings = json.loads((out / "study.json").read_text())
    assert settings["transformer_params"] == {"n_frames": 24}
    assert settings["svm_params"] == {"max_iter": 100000}
    assert "SVC{'max_iter': 100000}" in (out / "results.md").read_text()
    printed = capsys.readouterr().out
    assert "## Width ≈8" in printed and "| MFCC (baseline) | 120 |" in printed

    # other folds into the same --out: refused, then --restart starts over
    again = ["study", "folder", "--data-home", str(tree), "--out", str(out)]
    again += options.replace("--n-splits 2", "--n-splits 4").split()
    assert main(again) == 1
    err = capsys.readouterr().err
    assert "folds changed: n_splits 2 -> 4" in err and "--restart" in err
    assert main([*again, "--restart"]) == 0
    assert json.loads((out / "study.json").read_text())["folds"]["n_splits"] == 4


def test_study_with_a_user_network(tmp_path, capsys, monkeypatch):
    tree = write_tree(tmp_path / "tones", n_per_class=4)
    out = tmp_path / "out"
    monkeypatch.chdir(REPO)  # "tests._user_nets" is found from the current folder
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(REPO))])
    options = "--n-splits 2 --models vgg tests._user_nets:small_net mfcc --widths 8"
    options += " --runs 1 --classifiers svm --n-frames 24 --no-nested --no-figures"
    options += " --device cpu --quiet"
    argv = ["study", "folder", "--data-home", str(tree), "--out", str(out)]
    assert main(argv + options.split()) == 0, capsys.readouterr().err
    rows = rows_of(out / "results.csv")
    assert {r["model"] for r in rows} == {"vgg", "small_net", "mfcc"}
    user = [r for r in rows if r["model"] == "small_net"]
    assert {int(r["n_features"]) for r in user} == {8}  # nf=4 from width 8
    identity = json.loads((out / "study.json").read_text())
    assert identity["models"]["small_net"]["spec"] == "tests._user_nets:small_net"
    assert "small_net" in capsys.readouterr().out


@pytest.mark.parametrize(
    "model, message",
    [
        ("resnet", r"unknown model 'resnet'; expected one of \['sample_level'"),
        ("tests._user_nets:missing", "has no attribute 'missing'"),
        ("no_such_pkg_xyz.nets:net", "cannot import module 'no_such_pkg_xyz.nets'"),
        ("tests._user_nets:NOT_A_FACTORY", "neither a transformer class nor a network"),
    ],
)
def test_bad_models_are_clear_errors(tmp_path, capsys, monkeypatch, model, message):
    monkeypatch.chdir(REPO)
    argv = ["study", "folder", "--data-home", str(tmp_path / "none"), "--models"]
    assert main([*argv, "vgg", model]) == 1
    err = capsys.readouterr().err
    assert re.search(message, err), err


def write_fsdd(root: Path, digits=(0, 1, 2), speakers=("ann", "bob"), takes=3) -> Path:
    rng = np.random.default_rng(0)
    (root / "recordings").mkdir(parents=True)
    t = np.arange(3000) / 8000
    for d in digits:
        for s in speakers:
            for k in range(takes):
                y = np.sin(2 * np.pi * 300 * (d + 1) * t) + 0.1 * rng.standard_normal(
                    t.size
                )
                sf.write(root / "recordings" / f"{d}_{s}_{k}.wav", 0.3 * y, 8000)
    return root


def test_study_fsdd_layout(tmp_path):
    home = tmp_path / "data"
    write_fsdd(home / "fsdd")
    data = load_fsdd(home, n_splits=2)
    assert len(data.filenames) == 18 and data.protocol == "cv"
    assert data.name == "fsdd" and data.fix_length == "repeat"
    assert sorted(set(data.groups)) == ["ann", "bob"]
    assert np.bincount(data.target).tolist() == [6, 6, 6]
    out = tmp_path / "out"
    options = "--n-splits 2 --models mfcc --classifiers svm --widths 8 --runs 1"
    options += " --max-clips 12 --inner-splits 2 --quiet --search-jobs 1"
    status = main(
        ["study", "fsdd", "--data-home", str(home), "--out", str(out)] + options.split()
    )
    assert status == 0
    (row,) = rows_of(out / "results.csv")
    assert row["dataset"] == "fsdd" and row["classifier"] == "svm"
    assert json.loads((out / "study.json").read_text())["n_clips"] == 12  # --max-clips
    assert row["nested_score"] != ""  # nested CV by default on the cv protocol


@requires_fsdd
def test_load_fsdd_real():
    data = load_fsdd(FSDD.parent)  # finds data_home/fsdd/recordings
    assert len(data.filenames) == 3000
    assert np.bincount(data.target).tolist() == [300] * 10
    assert len(set(data.groups)) == 6
    assert data.cv.get_n_splits() == 5


def test_errors_are_reported(tmp_path, capsys):
    assert main(["study", "gtzan", "--data-home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("skaudio-random: error:") and "gtzan" in err.lower()

    assert main(["study", "fsdd"]) == 1
    assert "needs --data-home" in capsys.readouterr().err

    assert main(["study", "fsdd", "--data-home", str(tmp_path)]) == 1
    assert "no recordings/*.wav" in capsys.readouterr().err

    assert (
        main(["study", "spoken_digits", "--widths", "0", "--out", str(tmp_path)]) == 1
    )
    assert "widths must be positive ints" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["study", "imagenet"],
        ["study", "spoken_digits", "--classifiers", "knn"],
        ["demo", "--runs", "2"],
        [],
    ],
)
def test_bad_command_lines_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: skaudio-random" in capsys.readouterr().err


def test_version_and_help(capsys):
    import skaudio_random

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert skaudio_random.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--data-home",
        "--device",
        "--n-jobs",
        "--runs",
        "--widths",
        "--models",
        "--out",
        "--no-nested",
    ):
        assert option in text


def test_demo_quick_as_a_module(tmp_path):
    """``python -m skaudio_random demo --quick`` from another folder, fresh process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "skaudio_random",
            "demo",
            "--quick",
            "--quiet",
            "--device",
            "cpu",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "skaudio_random_demo"
    assert "Free Spoken Digit Dataset" in proc.stdout
    assert "| MFCC (baseline) | 120 |" in proc.stdout
    assert "demo finished in" in proc.stdout
    for name in (
        "results.csv",
        "results.md",
        "summary.csv",
        "ttests.csv",
        "figure_width120.png",
    ):
        assert (out / name).is_file(), name
    rows = rows_of(out / "results.csv")
    assert {r["dataset"] for r in rows} == {"spoken_digits"}
    assert len(rows) == 2 * 2 * 2  # two models, SVM and ELM, two runs


def test_threads_are_limited_and_restored(tmp_path, monkeypatch):
    import torch

    from skaudio_random import cli

    seen = []

    def fake_study(args):
        seen.append(torch.get_num_threads())
        return 0

    monkeypatch.setattr(cli, "_study", fake_study)
    before = torch.get_num_threads()
    assert main(["study", "spoken_digits", "--threads", "1"]) == 0
    assert seen == [1] and torch.get_num_threads() == before
    assert main(["study", "spoken_digits", "--threads", "0"]) == 1


def test_subset_keeps_folds_groups_and_test_split():
    from sklearn.model_selection import PredefinedSplit
    from sklearn.utils import Bunch

    from skaudio_random.cli import subset

    y = np.repeat([0, 1, 2], 10)
    fold = np.tile([1, 2], 15)
    data = Bunch(
        filenames=np.array([f"f{i}.wav" for i in range(30)]),
        target=y,
        groups=np.arange(30) // 2,
        fold=fold,
        cv=PredefinedSplit(fold),
        test_filenames=np.array(["t.wav"]),
        test_target=np.array([0]),
        protocol="cv",
        name="x",
    )
    small = subset(data, 12)
    assert len(small.filenames) == 12 and np.bincount(small.target).tolist() == [
        4,
        4,
        4,
    ]
    keep = np.array([int(f[1:-4]) for f in small.filenames])
    assert np.all(np.diff(keep) > 0)  # order kept
    assert np.array_equal(small.target, y[keep])
    assert np.array_equal(small.groups, data.groups[keep])
    assert np.array_equal(small.cv.test_fold, fold[keep])
    assert small.test_filenames.tolist() == ["t.wav"]
    assert len(data.filenames) == 30  # the original is untouched
    assert small.subset_of == 30
    assert subset(data, 100) is data
    with pytest.raises(ValueError, match="--max-clips must be a positive int"):
        subset(data, 0)


# --------------------------------------------------------------------------- #
# a light start: the help and the package import do not load torch
# --------------------------------------------------------------------------- #
def _modules_after(code):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize(
    "code",
    [
        "import skaudio_random",
        "from skaudio_random.cli import main\n"
        "import contextlib, io\n"
        "for argv in (['--help'], ['study', '--help'], ['extract', '--help'],"
        " ['train', '--help'], ['predict', '--help'], ['demo', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit as exc:\n"
        "            assert exc.code == 0, argv",
    ],
    ids=["import", "help"],
)
def test_import_and_help_do_not_load_torch(code):
    loaded = _modules_after(code)
    assert "'skaudio_random'" in loaded
    for heavy in ("torch", "sklearn", "librosa", "scipy"):
        assert f"'{heavy}'" not in loaded, heavy


def test_lazy_names_are_the_registry_and_the_modules():
    import skaudio_random
    from skaudio_random import _names, features, study
    from skaudio_random.architectures import ARCHITECTURES

    assert list(_names.BUILTIN_MODELS) == list(ARCHITECTURES)
    assert skaudio_random._FEATURES == tuple(features.__all__)
    assert study.CLASSIFIERS == _names.CLASSIFIERS
    for name in skaudio_random.__all__:
        value = getattr(skaudio_random, name)
        assert value.__module__.startswith("skaudio_random."), name
        assert name in dir(skaudio_random)
    assert skaudio_random.study.run_study is skaudio_random.run_study
    with pytest.raises(AttributeError, match="no attribute 'SampleLevl'"):
        skaudio_random.SampleLevl  # noqa: B018


def test_help_lists_the_registry_models(capsys):
    from skaudio_random.network import model_names

    with pytest.raises(SystemExit):
        main(["extract", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert str(model_names()).replace(" ", "") in text.replace(" ", "")
