"""What the command line writes, where, and how it fails: output names that never
collide or leave ``--out``, stale outputs, argument checks, one-line errors with
documented exit statuses, the user's import paths, a full disk."""

from __future__ import annotations

import csv
import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from skaudio_random import load_spoken_digits
from skaudio_random.cli import main

REPO = Path(__file__).resolve().parents[1]
FAST = ["--width", "8", "--quiet", "--threads", "1", "--no-cache"]


@pytest.fixture(scope="module")
def clips():
    """Two different shipped digits."""
    digits = load_spoken_digits()
    return digits.filenames[0], digits.filenames[30]


def _same_name_tree(root: Path, clips) -> Path:
    for sub, clip in zip(("a", "b"), clips, strict=True):
        (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / sub / "x.wav")
    return root


def _written(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npz"))


@pytest.mark.parametrize("as_files", [False, True], ids=["folders", "files"])
def test_mirror_inputs_of_one_basename_do_not_collide(
    tmp_path, clips, capsys, as_files
):
    root = _same_name_tree(tmp_path / "in", clips)
    inputs = (
        [root / "a" / "x.wav", root / "b" / "x.wav"]
        if as_files
        else [
            root / "a",
            root / "b",
        ]
    )
    out = tmp_path / "out"
    argv = ["extract", *map(str, inputs), "--out", str(out), "--layout", "mirror"]
    assert main([*argv, "--models", "mfcc", *FAST]) == 0
    assert _written(out) == ["a/x.wav.npz", "b/x.wav.npz"]
    with np.load(out / "a/x.wav.npz") as a, np.load(out / "b/x.wav.npz") as b:
        assert not np.allclose(a["mfcc"], b["mfcc"])  # each clip its own file
    assert "2 of 2 files written" in capsys.readouterr().err


def test_mirror_names_that_differ_only_by_case_are_refused(tmp_path, clips, capsys):
    for sub, clip in zip(("A", "a"), clips, strict=True):
        (tmp_path / sub).mkdir()
        shutil.copy(clip, tmp_path / sub / "x.wav")
    if (tmp_path / "A" / "x.wav").samefile(tmp_path / "a" / "x.wav"):
        pytest.skip("a case-insensitive file system")
    out = tmp_path / "out"
    argv = ["extract", str(tmp_path / "A"), str(tmp_path / "a"), "--out", str(out)]
    assert main([*argv, "--layout", "mirror", "--models", "mfcc", *FAST]) == 1
    err = capsys.readouterr().err
    assert "differ only by case" in err and "A/x.wav" in err and "a/x.wav" in err
    assert not out.exists()


def test_mirror_list_cannot_write_outside_out(tmp_path, clips):
    (tmp_path / "escape").mkdir()
    shutil.copy(clips[0], tmp_path / "escape" / "x.wav")
    lists = tmp_path / "work" / "lists"
    lists.mkdir(parents=True)
    (lists / "files.txt").write_text("../../escape/x.wav\n")
    out = tmp_path / "work" / "out"
    argv = ["extract", str(lists / "files.txt"), "--out", str(out), "--layout"]
    assert main([*argv, "mirror", "--models", "mfcc", *FAST]) == 0
    assert sorted(p.name for p in (tmp_path / "escape").iterdir()) == ["x.wav"]
    assert not list((tmp_path / "work").glob("*.npz"))
    assert _written(out) == ["escape/x.wav.npz"]  # named from the common folder
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(out.resolve()), path


def test_a_list_with_a_bom_and_crlf_lines(tmp_path, clips):
    shutil.copy(clips[0], tmp_path / "one.wav")
    shutil.copy(clips[1], tmp_path / "two.wav")
    listing = tmp_path / "files.txt"
    listing.write_bytes("\ufeffone.wav\r\n# a comment\r\ntwo.wav\r\n".encode())
    out = tmp_path / "out"
    assert main(["extract", str(listing), "--out", str(out), "--models", "mfcc"]) == 0
    with open(out / "index.csv", newline="", encoding="utf-8") as f:
        paths = [row["path"] for row in csv.DictReader(f)]
    assert paths == [str(tmp_path / "one.wav"), str(tmp_path / "two.wav")]


@pytest.mark.parametrize(
    "option",
    [
        ["--window", "inf"],
        ["--window", "nan"],
        ["--window", "0"],
        ["--window", "1", "--hop", "-0.5"],
        ["--window", "1", "--hop", "inf"],
    ],
)
def test_window_and_hop_are_checked_when_parsed(tmp_path, clips, capsys, option):
    with pytest.raises(SystemExit) as exc:
        main(["extract", clips[0], "--out", str(tmp_path / "o"), *option])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option[-2]}" in err and "positive, finite" in err
    assert not (tmp_path / "o").exists()


def test_a_model_named_twice_is_computed_once(tmp_path, clips, capsys, monkeypatch):
    from skaudio_random import _cli_extract

    calls = []
    original = _cli_extract.features_or_errors

    def counted(transformer, paths, **kw):
        calls.append(type(transformer).__name__)
        return original(transformer, paths, **kw)

    monkeypatch.setattr(_cli_extract, "features_or_errors", counted)
    out = tmp_path / "out"
    argv = ["extract", clips[0], "--out", str(out), "--width", "8", "--quiet"]
    assert main([*argv, "--models", "vgg", "VGG", "vgg"]) == 0
    assert calls == ["VGG"]
    assert sorted(p.name for p in out.glob("*.npy")) == ["vgg.npy"]
    assert "--models names vgg 3 times (vgg, VGG, vgg)" in capsys.readouterr().err


def test_model_files_never_differ_only_by_case(tmp_path, clips, capsys, monkeypatch):
    (tmp_path / "casenets.py").write_text(
        "from tests._user_nets import small_net as net\n\n\n"
        "def NET(nf=4):\n    return net(nf)\n"
    )
    (tmp_path / "casenets2.py").write_text("from tests._user_nets import small_net\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    argv = ["extract", clips[0], "--out", str(out), "--width", "8", "--quiet"]
    assert main([*argv, "--models", "casenets:net", "casenets2:small_net"]) == 0
    assert main([*argv, "--models", "casenets:net", "casenets:NET"]) == 1
    err = capsys.readouterr().err
    assert "'net' and 'NET'" in err and "case" in err


def test_stale_outputs_of_an_earlier_run_are_refused(tmp_path, clips, capsys):
    out = tmp_path / "out"
    (out / "mine").mkdir(parents=True)
    (out / "mine" / "notes.npy").write_bytes(b"not ours")  # never touched
    base = ["extract", clips[0], "--out", str(out), *FAST]
    assert main([*base, "--models", "vgg", "mfcc"]) == 0
    assert main([*base, "--models", "vgg", "mfcc"]) == 0  # the same run again
    assert main([*base, "--models", "mfcc"]) == 1
    err = capsys.readouterr().err
    assert "vgg.npy" in err and "--overwrite" in err
    assert (out / "vgg.npy").exists()  # nothing removed without --overwrite
    assert main([*base, "--models", "mfcc", "--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("*.npy")) == ["mfcc.npy"]
    assert not (out / "vgg_features.txt").exists()
    assert (out / "mine" / "notes.npy").read_bytes() == b"not ours"
    # another layout: the stacked files would be left beside the .npz files
    mirror = [*base, "--models", "mfcc", "--layout", "mirror"]
    assert main(mirror) == 1
    assert "index.csv" in capsys.readouterr().err
    assert main([*mirror, "--overwrite"]) == 0
    assert not (out / "index.csv").exists() and not (out / "mfcc.npy").exists()
    assert [p.name for p in out.glob("*.npz")] == [Path(clips[0]).name + ".npz"]


def test_a_forged_record_cannot_remove_files_outside_out(tmp_path, clips):
    out = tmp_path / "out"
    victim = tmp_path / "victim.npy"
    victim.write_bytes(b"keep")
    base = ["extract", clips[0], "--out", str(out), *FAST]
    assert main([*base, "--models", "mfcc"]) == 0
    record = out / "extract.json"
    text = record.read_text().replace('"mfcc.npy"', '"../victim.npy"')
    record.write_text(text.replace('"mfcc"', '"other"'))
    assert main([*base, "--models", "mfcc", "--overwrite"]) == 0
    assert victim.read_bytes() == b"keep"


@pytest.mark.parametrize(
    "width, says",
    [
        ("50000000", "VGG(width=50000000) needs about"),  # past the memory
        ("100000000", "VGG cannot give width=100000000 features: at most"),
    ],
)
def test_too_wide_is_one_line_exit_2(tmp_path, clips, capsys, width, says):
    argv = ["extract", clips[0], "--out", str(tmp_path / "o"), "--models", "vgg"]
    assert main([*argv, "--width", width, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"skaudio-random: error: {says}")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # checked before anything is written


def test_errors_of_bad_input_have_no_traceback(tmp_path, clips):
    """A factory raising TypeError (a bad spec), in a fresh process."""
    (tmp_path / "badnets.py").write_text(
        "def bad(nf):\n    raise TypeError('bad() builds nothing')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    argv = ["extract", clips[0], "--out", str(tmp_path / "o"), "--models"]
    proc = subprocess.run(
        [sys.executable, "-m", "skaudio_random", *argv, "badnets:bad", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "bad() builds nothing" in proc.stderr


def test_the_working_folder_does_not_shadow_libraries(tmp_path, clips):
    """Modules of the working folder are found for ``--models module:factory``
    only, after the installed packages: a ``filelock.py`` there is not run."""
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "planted_ran"
    for name in ("filelock", "psutil"):
        (work / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r})\nraise ImportError\n"
        )
    (work / "mynets.py").write_text(
        "import psutil\nfrom tests._user_nets import small_net as net\n"
    )
    launcher = tmp_path / "bin" / "launch.py"  # as the skaudio-random script is
    launcher.parent.mkdir()
    launcher.write_text(
        textwrap.dedent(
            """\
            import sys
            from skaudio_random.cli import main
            sys.exit(main())
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(*argv):
        return subprocess.run(
            [sys.executable, str(launcher), *argv],
            cwd=work,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    proc = run("study", "folder", "--data-home", str(tmp_path / "none"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    out = tmp_path / "out"
    proc = run("extract", clips[0], "--models", "mynets:net", "--out", str(out), *FAST)
    assert proc.returncode == 0, proc.stderr
    assert (out / "net.npy").exists()
    assert not marker.exists(), marker.read_text()


def test_a_full_disk_stops_the_study_with_one_clear_line(tmp_path, capsys, monkeypatch):
    from skaudio_random.study import _store

    from .test_study import write_tree

    tree = write_tree(tmp_path / "tones", n_per_class=4)
    out = tmp_path / "out"
    original, written = _store.append_row, []

    def fills_up(path, row):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        original(path, row)
        written.append(row)

    monkeypatch.setattr(_store, "append_row", fills_up)
    argv = ["study", "folder", "--data-home", str(tree), "--out", str(out)]
    argv += "--n-splits 2 --models mfcc --widths 8 --runs 3 --no-nested".split()
    argv += "--no-figures --quiet --search-jobs 1 --svm-max-iter 10000".split()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"no space left on the device of {out}" in err
    assert "run the same command again" in err
    assert len(_store.read_rows(out / "results.csv")) == 2  # the rows so far
