"""``skaudio-random extract`` (skaudio_random._cli_extract), run in-process."""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from skaudio_random import MFCC, Vertical7x86, load_spoken_digits
from skaudio_random.cli import main

FAST = ["--width", "40", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Four shipped digits in two subfolders, a stereo 44.1 kHz copy, a broken file."""
    root = tmp_path_factory.mktemp("audio")
    digits = load_spoken_digits()
    files = [digits.filenames[i] for i in (0, 1, 30, 31)]
    for k, f in enumerate(files):
        sub = root / "a" if k < 2 else root / "b" / "deep"
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, sub)
    y, sr = sf.read(files[0])
    stereo = np.stack([y, y], axis=1)
    import soxr

    sf.write(root / "a" / "stereo44k.wav", soxr.resample(stereo, sr, 44100), 44100)
    (root / "broken.wav").write_bytes(b"RIFF but not really audio")
    return root


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_stacked_layout_errors_and_resume(tree, tmp_path):
    out = tmp_path / "out"
    argv = [
        "extract",
        str(tree),
        "--out",
        str(out),
        "--models",
        "vertical_7x86",
        "mfcc",
    ]
    assert main(argv + FAST) == 3  # the broken file failed, the others are written
    errors = _read_csv(out / "errors.csv")
    assert [e["path"].endswith("broken.wav") for e in errors] == [True]
    assert "could not decode" in errors[0]["reason"]
    index = _read_csv(out / "index.csv")
    assert len(index) == 2 * 5 and {r["model"] for r in index} == {
        "vertical_7x86",
        "mfcc",
    }
    X = np.load(out / "vertical_7x86.npy")
    assert X.dtype == np.float32 and X.shape == (5, 40)
    names = (out / "vertical_7x86_features.txt").read_text().split()
    assert len(names) == 40
    # rows are the files' features, computed as the transformer does
    rows = [r for r in index if r["model"] == "vertical_7x86"]
    first = rows[0]["path"]
    expected = Vertical7x86(width=40, random_state=0, fix_length="none").transform(
        [first]
    )
    np.testing.assert_allclose(X[int(rows[0]["row"])], expected[0], rtol=1e-5)
    assert float(rows[0]["duration"]) == pytest.approx(sf.info(first).duration)
    mfcc = np.load(out / "mfcc.npy")
    np.testing.assert_allclose(mfcc[0], MFCC().transform([first])[0], rtol=1e-5)
    # a rerun reads the per-clip cache: same numbers, cache files reused
    cached = sorted(p.name for p in (out / "cache").rglob("*") if p.is_file())
    assert cached
    assert main(argv + FAST) == 3
    np.testing.assert_array_equal(np.load(out / "vertical_7x86.npy"), X)
    assert sorted(p.name for p in (out / "cache").rglob("*") if p.is_file()) == cached


def test_mirror_layout(tree, tmp_path):
    out = tmp_path / "mirror"
    argv = [
        "extract",
        str(tree / "a"),
        str(tree / "b"),
        "--out",
        str(out),
        "--models",
        "vertical_7x86",
        "--layout",
        "mirror",
        "--no-cache",
    ]
    assert main(argv + FAST) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npz"))
    assert len(written) == 5
    # the tree is mirrored from the folder holding both inputs
    assert any(w.startswith("b/deep/") for w in written)
    assert all(w.startswith(("a/", "b/")) for w in written)
    with np.load(out / written[0]) as z:
        assert z["vertical_7x86"].shape == (40,)
    assert not (out / "cache").exists()


def test_list_file_and_too_short_files(tree, tmp_path):
    listing = tmp_path / "files.txt"
    first = sorted((tree / "a").glob("*.wav"))[0]
    listing.write_text(f"# two files\n{first}\n\n{first.relative_to(tree)}\n")
    shutil.copy(listing, tree / "files.txt")
    out = tmp_path / "crop"
    # crop to 400 frames (3.4 s): the 0.3 s digit is too short for that model only
    argv = [
        "extract",
        str(tree / "files.txt"),
        "--out",
        str(out),
        "--models",
        "vertical_7x86",
        "mfcc",
        "--fix-length",
        "crop",
        "--n-frames",
        "400",
    ]
    assert main(argv + FAST) == 1  # MFCC's crop needs n_samples: a clear error
    argv = [
        "extract",
        str(tree / "files.txt"),
        "--out",
        str(out),
        "--models",
        "vertical_7x86",
        "--fix-length",
        "crop",
        "--n-frames",
        "400",
    ]
    assert main(argv + FAST) == 3
    errors = _read_csv(out / "errors.csv")
    assert len(errors) == 1 and errors[0]["model"] == "vertical_7x86"
    assert "cannot be cropped" in errors[0]["reason"]
    assert np.load(out / "vertical_7x86.npy").shape == (0, 40)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.wav", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no audio file"),
        (
            lambda p: (p / "l.txt").write_text("nowhere.wav\n") and p / "l.txt",
            "l.txt:1: listed audio file",
        ),
    ],
)
def test_bad_inputs_are_clear_errors(tmp_path, capsys, make, message):
    assert main(["extract", str(make(tmp_path)), "--out", str(tmp_path / "o")]) == 1
    assert message in capsys.readouterr().err


def test_help_is_clear(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["extract", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ("index.csv", "errors.csv", "--layout", "mirror", "--memory", "exit"):
        assert word in text


def test_frame_level_extraction(tree, tmp_path):
    files = sorted(str(p) for p in (tree / "a").glob("*.wav"))
    out = tmp_path / "frames"
    argv = ["extract", *files, "--out", str(out), "--models", "vertical_7x86"]
    assert main(argv + ["--window", "0.2", "--hop", "0.1", *FAST]) == 0
    X = np.load(out / "vertical_7x86.npy")
    index = _read_csv(out / "index.csv")
    assert len(index) == len(X) > len(files)
    est = Vertical7x86(width=40, random_state=0, fix_length="none")
    expected = est.transform_frames([files[0]], window=0.2, hop=0.1)
    first = [r for r in index if r["path"] == files[0]]
    assert len(first) == expected.features.shape[1]
    np.testing.assert_allclose(X[: len(first)], expected.features[0], rtol=1e-5)
    np.testing.assert_allclose([float(r["time"]) for r in first], expected.times)
    # mirror layout: one (n_windows, n_features) array and its times per file
    argv = ["extract", str(tree / "a"), "--out", str(tmp_path / "m"), "--layout"]
    assert (
        main(argv + ["mirror", "--models", "vertical_7x86", "--window", "0.2", *FAST])
        == 0
    )
    with np.load(tmp_path / "m" / (os.path.basename(files[0]) + ".npz")) as z:
        assert z["vertical_7x86"].shape[0] == len(z["vertical_7x86_times"])


def test_bad_models_fail_before_anything_is_written(tree, tmp_path, capsys):
    out = tmp_path / "never"
    argv = ["extract", str(tree / "a"), "--out", str(out), "--models", "vgg", "mfcc"]
    assert main(argv + ["--fix-length", "crop", "--width", "40"]) == 1
    assert "n_samples" in capsys.readouterr().err
    assert not out.exists()
    assert main(["extract", str(tree / "a"), "--out", str(out), "--hop", "0.1"]) == 1
    assert "--hop needs --window" in capsys.readouterr().err


def test_a_user_network_by_import_path(tree, tmp_path, monkeypatch):
    from pathlib import Path

    from skaudio_random import RandomNetworkFeatures
    from tests._user_nets import small_net

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    out = tmp_path / "out"
    listed = tmp_path / "files.txt"  # a list file: two of the tree's clips
    listed.write_text("\n".join(str(p) for p in sorted((tree / "a").glob("*.wav"))[:2]))
    argv = ["extract", str(listed), "--out", str(out), "--window", "0.5"]
    argv += ["--models", "tests._user_nets:small_net", "--width", "8", "--quiet"]
    assert main(argv) == 0
    index = _read_csv(out / "index.csv")
    assert {r["model"] for r in index} == {"small_net"}
    X = np.load(out / "small_net.npy", allow_pickle=True)
    first = index[0]["path"]
    est = RandomNetworkFeatures(small_net, width=8, random_state=0, fix_length="none")
    frames = est.transform_frames([first], window=0.5, hop=0.25)
    rows = [int(r["row"]) for r in index if r["path"] == first]
    np.testing.assert_allclose(X[rows], frames.features[0], rtol=1e-5)
    clash = ["--models", "tests._user_nets:small_net", "small_net"]
    assert main(["extract", str(listed), *clash, "--out", str(tmp_path / "c")]) == 1
