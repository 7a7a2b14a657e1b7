"""The paper-experiment scripts of ``benchmarks/`` run end to end on tiny trees.

Each dataset is a small fixture tree with the real layout (the shipped GTZAN
split lists and Extended Ballroom metadata, an UrbanSound8K CSV) holding short
synthetic clips whose classes differ in pitch, so the classifiers have signal.
The scripts run in-process through their ``main(argv)`` with tiny widths and
short inputs; the full runs need the real data.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from skaudio_random.datasets._base import _data_path
from skaudio_random.datasets.ballroom import _read_metadata

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SR = 8000
#: Pitch of each fixture class (Hz); a clip is a noisy harmonic tone.
PITCHES = (220.0, 660.0, 1500.0)

pytestmark = pytest.mark.filterwarnings(
    "ignore::skaudio_random.datasets.DatasetLayoutWarning"
)


def _script(name: str):
    """Import ``benchmarks/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        f"_bench_{name}", BENCHMARKS / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_clip(path: Path, cls: int, k: int, seconds: float = 1.1) -> None:
    rng = np.random.default_rng(100 * cls + k)
    t = np.arange(int(seconds * SR)) / SR
    f0 = PITCHES[cls] * (1 + 0.02 * rng.standard_normal())
    y = sum(np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6)) / h for h in (1, 2, 3))
    y = 0.3 * y / 3 + 0.05 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR)


def _gtzan_ids(list_name: str, genre: str, n: int) -> list[str]:
    text = _data_path("gtzan_fault_filtered", list_name).read_text(encoding="utf-8")
    ids = [Path(line.strip()).with_suffix("").as_posix() for line in text.splitlines()]
    return [i for i in ids if i.startswith(f"{genre}/")][:n]


GENRES = ("blues", "classical", "metal")


@pytest.fixture(scope="module")
def gtzan_home(tmp_path_factory):
    """Fault-filtered clips of three genres: 4 train, 3 valid, 3 test each."""
    home = tmp_path_factory.mktemp("gtzan")
    for c, genre in enumerate(GENRES):
        ids = (
            _gtzan_ids("train_filtered.txt", genre, 4)
            + _gtzan_ids("valid_filtered.txt", genre, 3)
            + _gtzan_ids("test_filtered.txt", genre, 3)
        )
        for k, clip in enumerate(ids):
            _write_clip(home / "gtzan" / f"{clip}.wav", c, k)
    return home


@pytest.fixture(scope="module")
def gtzan_all_home(tmp_path_factory):
    """Six clips of each of three genres (ids 00000-00005), for split='all'."""
    home = tmp_path_factory.mktemp("gtzan_all")
    for c, genre in enumerate(GENRES):
        for k in range(6):
            _write_clip(home / "gtzan" / genre / f"{genre}.{k:05d}.wav", c, k)
    return home


@pytest.fixture(scope="module")
def ballroom_home(tmp_path_factory):
    """Ten listed tracks of each of three styles."""
    home = tmp_path_factory.mktemp("ballroom")
    styles = ("Chacha", "Jive", "Waltz")
    rows = _read_metadata()
    for c, style in enumerate(styles):
        tids = [tid for tid, label, _ in rows if label == style][:10]
        for k, tid in enumerate(tids):
            _write_clip(home / "extended_ballroom" / style / f"{tid}.wav", c, k)
    return home


@pytest.fixture(scope="module")
def us8k_home(tmp_path_factory):
    """Three folds x three classes x three clips, with a matching metadata CSV."""
    home = tmp_path_factory.mktemp("us8k")
    root = home / "urbansound8k" / "UrbanSound8K"
    classes = ((0, "air_conditioner"), (3, "dog_bark"), (8, "siren"))
    rows = []
    for fold in (1, 2, 3):
        for c, (cid, cname) in enumerate(classes):
            for k in range(3):
                name = f"{1000 * fold + 10 * cid + k}-{cid}-0-0.wav"
                rows.append(
                    [name, 1000 * fold + 10 * cid + k, 0.0, 1.0, 1, fold, cid, cname]
                )
                _write_clip(
                    root / "audio" / f"fold{fold}" / name, c, 10 * fold + k, 0.8
                )
    (root / "metadata").mkdir(parents=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "slice_file_name",
                "fsID",
                "start",
                "end",
                "salience",
                "fold",
                "classID",
                "class",
            ]
        )
        w.writerows(rows)
    return home


# --threads 1: tiny networks, one clip per pass and small solves gain nothing
# from a second thread, and on a busy machine it spin-waits (many times slower).
COMMON = (
    "--widths 8 --runs 2 --n-frames 40 --n-samples 9000 --device cpu --threads 1 "
    "--no-progress"
).split()

#: Per script: fixture, extra flags (cheap models, 1 s inputs; the ELM and the
#: nested CV only where the folds are few), models, classifiers, MFCC paper number.
CASES = {
    "table_gtzan": (
        "gtzan_home",
        ["--models", "vertical_7x96", "sample_level", "mfcc"],
        ("svm", "elm"),
        "53.4",
    ),
    "table_ballroom": (
        "ballroom_home",
        ["--models", "temporal", "mfcc", "--classifiers", "svm", "--no-nested"],
        ("svm",),
        "63.3",
    ),
    "table_urbansound8k": (
        "us8k_home",
        ["--models", "vertical_7x96", "mfcc"],
        ("svm", "elm"),
        "65.6",
    ),
}


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("script", list(CASES))
def test_table_scripts_end_to_end(script, request, tmp_path, capsys):
    home, extra, classifiers, mfcc_paper = CASES[script]
    data_home = request.getfixturevalue(home)
    models = extra[1 : extra.index("mfcc") + 1]
    out = tmp_path / "out"
    result = _script(script).main(
        ["--data-home", str(data_home), "--out", str(out), *COMMON, *extra]
    )
    printed = capsys.readouterr().out

    rows = _read_csv(out / "results.csv")
    # every model x classifier x run, at the one width
    assert len(rows) == len(models) * len(classifiers) * 2 == len(result.rows)
    assert {r["model"] for r in rows} == set(models)
    assert {r["classifier"] for r in rows} == set(classifiers)
    assert {r["width"] for r in rows if r["model"] != "mfcc"} == {"8"}
    scores = np.array([float(r["score"]) for r in rows])
    assert np.all((scores >= 0) & (scores <= 1))
    # the pitch classes are easy: the MFCC + SVM baseline finds them
    mfcc_svm = [
        float(r["score"])
        for r in rows
        if r["model"] == "mfcc" and r["classifier"] == "svm"
    ]
    assert min(mfcc_svm) > 0.6
    # short inputs reached the transformers
    cnn = next(r for r in rows if r["model"] == models[0])
    assert '"n_frames": 40' in cnn["transformer_params"]
    # the frame-level back end of the published numbers, by default
    study = json.loads((out / "study.json").read_text(encoding="utf-8"))
    assert study["transformer_params"]["backend_averaging"] == "collapsed"
    nested = [r["nested_score"] not in ("", "nan") for r in rows]
    # nested CV only on the CV protocol, and not with --no-nested
    assert all(nested) == (script == "table_urbansound8k") and (
        any(nested) == all(nested)
    )
    for name in ("results.md", "summary.csv", "ttests.csv", "figure_width8.png"):
        assert (out / name).is_file(), name
    # the table is printed with the paper's MFCC + SVM number beside it
    report = (out / "results.md").read_text(encoding="utf-8")
    assert mfcc_paper in report and mfcc_paper in printed
    assert "results in" in printed


def test_table_script_resumes_and_validates(gtzan_home, tmp_path, capsys):
    gtzan = _script("table_gtzan")
    out = tmp_path / "out"
    args = ["--data-home", str(gtzan_home), "--out", str(out)] + (
        "--widths 8 --runs 1 --models vertical_7x96 mfcc --classifiers svm "
        "--n-frames 40 --device cpu --threads 1 --no-progress"
    ).split()
    first = gtzan.main(args)
    assert first.n_computed == 2
    again = gtzan.main(args)  # same folder: the finished rows are reused
    assert again.n_computed == 0 and again.n_reused == 2
    with pytest.raises(SystemExit):
        gtzan.main([*args, "--runs", "0"])
    assert "--runs must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gtzan.main([*args, "--threads", "0"])
    assert "--threads must be at least 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown models"):
        gtzan.main([*args, "--models", "vgg19"])
    with pytest.raises(OSError, match="GTZAN"):
        gtzan.main(["--data-home", str(tmp_path / "nowhere"), "--out", str(out)])


def test_table_scripts_backend_averaging_option():
    common = _script("_common")
    parser = common.study_parser(description="", experiment="table_x")
    assert parser.parse_args([]).backend_averaging == "collapsed"
    args = parser.parse_args(["--backend-averaging", "per_filter"])
    assert args.backend_averaging == "per_filter"
    assert "published frame-level numbers" in " ".join(parser.format_help().split())
    assert (
        parser.parse_args(["--restart"]).fresh is parser.parse_args(["--fresh"]).fresh
    )


def test_figure5_end_to_end(gtzan_all_home, tmp_path, capsys):
    fig5 = _script("figure5_batchnorm")
    out = tmp_path / "fig5"
    res = fig5.main(
        ["--data-home", str(gtzan_all_home), "--out", str(out)]
        + (
            "--width 10 --n-frames 40 --batch-sizes 1 6 --runs 2 --n-folds 3 "
            "--device cpu --threads 1"
        ).split()
    )
    printed = capsys.readouterr().out
    rows = _read_csv(out / "results.csv")
    # 2 runs x 3 conditions x 2 batch sizes
    assert len(rows) == 12
    assert {(r["normalisation"], r["order"]) for r in rows} == {
        ("none", "-"),
        ("batch", "sorted"),
        ("batch", "shuffled"),
    }
    assert {r["n_features"] for r in rows} == {"10"}
    acc = {
        (int(r["run"]), r["normalisation"], r["order"], int(r["batch_size"])): float(
            r["accuracy"]
        )
        for r in rows
    }
    for run in (0, 1):
        # without normalisation the features, hence the scores, ignore the batch size
        assert acc[(run, "none", "-", 1)] == acc[(run, "none", "-", 6)]
        # a batch of one clip sees only itself: sorted and shuffled give the same
        # features once put back in the loader's order, hence the same score
        assert acc[(run, "batch", "sorted", 1)] == acc[(run, "batch", "shuffled", 1)]
    anova = {a["condition"]: a for a in res["anova"]}
    assert anova["no normalisation"]["p"] == pytest.approx(1.0)
    assert (out / "figure5.png").stat().st_size > 1000
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "0.491" in md and "ANOVA" in md and "batch norm, genre-sorted" in md
    assert "ANOVA" in printed


def test_figure5_features_follow_the_batch(gtzan_all_home, tmp_path):
    """Batch-norm features of a clip change with its batch (what Figure 5 measures)."""
    from skaudio_random import VGG, load_gtzan

    with _script("_common").limit_threads(1):  # see COMMON
        data = load_gtzan(gtzan_all_home, split="all")
        files = list(data.filenames)
        kw = dict(
            width=10, n_frames=40, batchnorm="batch", device="cpu", random_state=0
        )
        sorted_feats = VGG(batch_size=6, **kw).transform(files)
        perm = np.random.default_rng(0).permutation(len(files))
        shuffled = np.empty_like(sorted_feats)
        shuffled[perm] = VGG(batch_size=6, **kw).transform([files[i] for i in perm])
        assert not np.allclose(sorted_feats, shuffled)
        one = np.empty_like(sorted_feats)
        one[perm] = VGG(batch_size=1, **kw).transform([files[i] for i in perm])
        np.testing.assert_allclose(
            one, VGG(batch_size=1, **kw).transform(files), rtol=1e-5
        )


def test_figure5_bad_arguments(gtzan_all_home, tmp_path, capsys):
    fig5 = _script("figure5_batchnorm")
    base = ["--data-home", str(gtzan_all_home), "--out", str(tmp_path)]
    for bad, msg in (
        (["--batch-sizes", "0"], "--batch-sizes must be positive"),
        (["--runs", "0"], "--runs must be at least 1"),
        (["--n-folds", "1"], "--n-folds must be at least 2"),
        (["--threads", "0"], "--threads must be at least 1"),
    ):
        with pytest.raises(SystemExit):
            fig5.main([*base, *bad])
        assert msg in capsys.readouterr().err
    with pytest.raises(OSError, match="GTZAN"):
        fig5.main(["--data-home", str(tmp_path / "nowhere")])


def test_quick_defaults():
    fig5 = _script("figure5_batchnorm")
    args = fig5.parse_args(["--quick"])
    assert (args.width, args.n_frames, args.runs) == (40, 344, 2)
    args = fig5.parse_args([])
    assert (args.width, args.n_frames, args.runs, args.batch_sizes) == (
        160,
        1360,
        3,
        [1, 10, 100],
    )
    assert fig5.parse_args(["--quick", "--runs", "5"]).runs == 5
