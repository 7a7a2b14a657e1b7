"""``skaudio-random train`` and ``predict`` (skaudio_random._cli_model), in-process."""

from __future__ import annotations

import csv
import io
import shutil
import time

import joblib
import numpy as np
import pytest
import soundfile as sf
import soxr

from skaudio_random import load_spoken_digits
from skaudio_random._cli_model import load_model_file, predict_files
from skaudio_random.cli import main

FAST = [
    "--model",
    "vertical_7x86",
    "--width",
    "40",
    "--n-frames",
    "40",
    "--n-splits",
    "3",
    "--quiet",
    "--threads",
    "1",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three digits, six shipped clips each, in class subfolders."""
    root = tmp_path_factory.mktemp("classes")
    digits = load_spoken_digits()
    for digit, name in ((0, "zero"), (1, "one"), (7, "seven")):
        (root / name).mkdir()
        for f in np.asarray(digits.filenames)[digits.target == digit][:6]:
            shutil.copy(f, root / name)
    return root


@pytest.fixture(scope="module")
def svm_model(folder, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "svm.joblib"
    assert (
        main(["train", str(folder), "--classifier", "svm", "--out", str(path), *FAST])
        == 0
    )
    return path


def _predict_csv(model, inputs, capsys):
    status = main(["predict", str(model), *map(str, inputs), "--quiet"])
    captured = capsys.readouterr()
    return status, list(csv.DictReader(io.StringIO(captured.out))), captured.err


def _check_probabilities(rows, classes):
    for row in rows:
        p = np.array([float(row[f"p_{c}"]) for c in classes])
        assert p.sum() == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == classes[int(np.argmax(p))]


def test_train_prints_accuracy_confusion_and_saves_everything(folder, tmp_path, capsys):
    path = tmp_path / "m.joblib"
    assert (
        main(["train", str(folder), "--classifier", "svm", "--out", str(path), *FAST])
        == 0
    )
    out = capsys.readouterr().out
    assert "CV accuracy (best grid point, mean over folds):" in out
    assert "confusion matrix" in out and "seven" in out
    content = load_model_file(path)
    assert content["classes"] == ["one", "seven", "zero"]
    assert content["params"]["width"] == 40 and content["params"]["classifier"] == "svm"
    assert content["command"].startswith("skaudio-random train")
    assert 0 <= content["cv_accuracy"] <= 1
    assert "kernel__kernel" in content["best_params"]
    features = content["pipeline"][0]
    assert features.memory is None and features.n_frames == 40


def test_predict_svm_probabilities_agree_with_labels(svm_model, folder, capsys):
    status, rows, _ = _predict_csv(svm_model, [folder / "seven"], capsys)
    assert status == 0 and len(rows) == 6
    classes = load_model_file(svm_model)["classes"]
    _check_probabilities(rows, classes)
    assert list(rows[0]) == ["path", "label", "p_one", "p_seven", "p_zero"]
    # the pipeline's own predict gives the same labels
    content = load_model_file(svm_model)
    paths = [r["path"] for r in rows]
    ids = content["pipeline"].predict(paths)
    assert [classes[i] for i in ids] == [r["label"] for r in rows]


@pytest.mark.parametrize("calibrate", [False, True])
def test_elm_probabilities(folder, tmp_path, calibrate):
    path = tmp_path / "elm.joblib"
    argv = ["train", str(folder), "--classifier", "elm", "--out", str(path), *FAST]
    assert main(argv + (["--calibrate"] if calibrate else [])) == 0
    content = load_model_file(path)
    paths = sorted(str(p) for p in folder.rglob("*.wav"))
    labels, proba, ok, errors = predict_files(content, paths)
    assert not errors and len(ok) == len(paths)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    classes = content["classes"]
    assert labels == [classes[i] for i in proba.argmax(axis=1)]
    classifier = content["pipeline"][-1]
    X = content["pipeline"][0].transform(paths)
    assert labels == [classes[i] for i in classifier.predict(X)]
    assert ("Platt" in content["probabilities"]) == calibrate


def test_predict_any_rate_and_channels_and_errors(svm_model, folder, tmp_path, capsys):
    y, sr = sf.read(sorted((folder / "one").glob("*.wav"))[0])
    stereo = soxr.resample(np.stack([y, 0.5 * y], axis=1), sr, 48000)
    sf.write(tmp_path / "stereo48k.flac", stereo, 48000)
    (tmp_path / "broken.wav").write_bytes(b"nothing")
    out = tmp_path / "pred.csv"
    status = main(
        [
            "predict",
            str(svm_model),
            str(tmp_path / "stereo48k.flac"),
            str(tmp_path / "broken.wav"),
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert status == 3
    assert "cannot read" in capsys.readouterr().err
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"].endswith("stereo48k.flac") for r in rows] == [True]
    _check_probabilities(rows, load_model_file(svm_model)["classes"])


def test_model_from_another_version_warns(svm_model, tmp_path):
    content = joblib.load(svm_model)
    content["version"] = "0.0.1"
    old = tmp_path / "old.joblib"
    joblib.dump(content, old)
    with pytest.warns(UserWarning, match="written by skaudio-random 0.0.1"):
        load_model_file(old)


@pytest.mark.parametrize(
    "write",
    [
        lambda p: p.write_text("hello"),
        lambda p: joblib.dump({"some": "dict"}, p),
        lambda p: joblib.dump([1, 2, 3], p),
    ],
)
def test_not_a_model_file_is_a_clear_error(tmp_path, folder, capsys, write):
    path = tmp_path / "not_a_model.joblib"
    write(path)
    wav = sorted((folder / "one").glob("*.wav"))[0]
    status = main(["predict", str(path), str(wav)])
    err = capsys.readouterr().err
    assert status == 1
    assert "is not a skaudio-random model file" in err and "Traceback" not in err


def test_missing_model_file(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "none.joblib"), str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_train_with_an_unreadable_file_stops_clearly(folder, tmp_path, capsys):
    root = tmp_path / "classes"
    shutil.copytree(folder, root)
    (root / "one" / "broken.wav").write_bytes(b"nothing")
    assert main(["train", str(root), "--out", str(tmp_path / "m.joblib"), *FAST]) == 1
    err = capsys.readouterr().err
    assert "broken.wav" in err and "could not be read" in err
    assert not (tmp_path / "m.joblib").exists()


def test_too_few_files_per_class(tmp_path, folder, capsys):
    root = tmp_path / "small"
    for name in ("one", "zero"):
        (root / name).mkdir(parents=True)
        for f in sorted((folder / name).glob("*.wav"))[:2]:
            shutil.copy(f, root / name)
    with pytest.warns(UserWarning):  # the folder loader warns as well
        status = main(["train", str(root), "--out", str(tmp_path / "m.joblib"), *FAST])
    assert status == 1
    assert "--n-splits=3 needs at least 3 files per class" in capsys.readouterr().err


def test_help_texts(capsys):
    for command, words in (
        ("train", ("class subfolders", "--classifier", "Platt", "--calibrate")),
        ("predict", ("CSV", "probability", "--output", "exit status is 3")),
    ):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert all(w in text for w in words), command


def test_train_and_predict_a_user_network(folder, tmp_path, capsys, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # tests._user_nets
    path = tmp_path / "mine.joblib"
    options = [*FAST[2:], "--model", "tests._user_nets:small_net", "--width", "8"]
    assert main(["train", str(folder), "--out", str(path), *options]) == 0
    pipeline = load_model_file(str(path))["pipeline"]
    assert pipeline[0].network.__name__ == "small_net" and pipeline[0].width == 8
    capsys.readouterr()
    status, rows, _ = _predict_csv(path, [folder], capsys)
    assert status == 0 and len(rows) == 18
    bad = ["train", str(folder), "--out", str(tmp_path / "x.joblib"), *FAST[2:]]
    assert main([*bad, "--model", "resnet"]) == 1
    assert "unknown model 'resnet'; expected one of" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_train_out_onto_a_folder_stops_before_any_work(folder, tmp_path, where, capsys):
    if where == "folder":
        out = tmp_path / "models"
        out.mkdir()
    else:
        (tmp_path / "plain").write_text("a file")
        out = tmp_path / "plain" / "m.joblib"
    started = time.perf_counter()
    assert main(["train", str(folder), "--out", str(out), *FAST]) == 1
    err = capsys.readouterr().err
    assert str(out if where == "folder" else out.parent) in err
    assert "--out" in err and "Traceback" not in err and "Errno" not in err
    assert time.perf_counter() - started < 5  # no features, no grid search
    assert not list(tmp_path.rglob("*.part"))


def test_save_model_file_leaves_no_part_file(tmp_path, monkeypatch):
    from skaudio_random._cli_model import save_model_file

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(joblib, "dump", fail)
    with pytest.raises(OSError, match="No space"):
        save_model_file(tmp_path / "m.joblib", {"pipeline": None, "classes": []})
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="folder"):
        save_model_file(tmp_path / "d", {"pipeline": None, "classes": []})
