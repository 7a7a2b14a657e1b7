"""Model files of ``train``/``predict`` and HEAR that are damaged, from the future,
trained with a network that is not importable here, or writable by others."""

from __future__ import annotations

import os
import stat
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from skaudio_random import MFCC, RandomNetworkFeatures
from skaudio_random._cli_model import (
    MODEL_FORMAT_VERSION,
    InsecureModelFileWarning,
    load_model_file,
    save_model_file,
)
from skaudio_random.cli import main
from skaudio_random.hear import load_model

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


def _content(features=None):
    X = np.random.default_rng(0).standard_normal((6, 3))
    classifier = SVC(probability=True, random_state=0).fit(X, [0, 1] * 3)
    pipeline = Pipeline([("features", features or MFCC()), ("classifier", classifier)])
    return {"pipeline": pipeline, "classes": ["a", "b"]}


@pytest.fixture
def model_file(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir(mode=0o700)
    path = folder / "m.joblib"
    save_model_file(path, _content())
    os.chmod(path, 0o600)
    return path


def _edit(path, **changes):
    content = joblib.load(path)
    for key, value in changes.items():
        if value is None:
            del content[key]
        else:
            content[key] = value
    joblib.dump(content, path)
    os.chmod(path, 0o600)


def test_a_good_file_loads_quietly(model_file):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        content = load_model_file(model_file)
    assert content["format_version"] == MODEL_FORMAT_VERSION


@pytest.mark.parametrize("entry", ["pipeline", "classes"])
def test_a_missing_entry_is_named(model_file, entry, capsys):
    _edit(model_file, **{entry: None})
    with pytest.raises(ValueError, match=f"{entry}") as info:
        load_model_file(model_file)
    assert str(model_file) in str(info.value) and "missing" in str(info.value)
    # the command line: one line, no traceback
    assert main(["predict", str(model_file), str(model_file)]) == 1
    err = capsys.readouterr().err
    assert f"'{entry}'" in err and "Traceback" not in err
    if entry == "pipeline":  # HEAR needs only the features
        with pytest.raises(ValueError, match="'pipeline' entry is missing"):
            load_model(str(model_file))


@pytest.mark.parametrize(
    "pipeline", [{"not": "a pipeline"}, Pipeline([("only", MFCC())])]
)
def test_a_pipeline_that_is_not_one_is_named(model_file, pipeline):
    _edit(model_file, pipeline=pipeline)
    with pytest.raises(ValueError, match="pipeline") as info:
        load_model_file(model_file)
    assert str(model_file) in str(info.value)


def test_hear_needs_only_the_features(model_file):
    _edit(model_file, classes=None)
    assert load_model(str(model_file)).scene_embedding_size == 120
    _edit(model_file, pipeline=Pipeline([("svm", SVC())]))
    with pytest.raises(ValueError, match="feature transformer"):
        load_model(str(model_file))


def test_classes_that_do_not_match_the_classifier(model_file):
    _edit(model_file, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="3 class names.*2 classes"):
        load_model_file(model_file)


@pytest.mark.parametrize("version", [MODEL_FORMAT_VERSION + 1, 99])
def test_a_future_format_version_asks_for_an_upgrade(model_file, version):
    _edit(model_file, format_version=version, pipeline=None)  # a new layout
    with pytest.raises(ValueError, match="Upgrade skaudio-random") as info:
        load_model_file(model_file)
    message = str(info.value)
    assert f"format_version {version}" in message
    assert f"format_version {MODEL_FORMAT_VERSION}" in message
    assert str(model_file) in message


@pytest.mark.parametrize("version", ["2", 0, None, 1.5, True])
def test_an_unknown_format_version_is_refused(model_file, version):
    if version is None:
        content = joblib.load(model_file)
        del content["format_version"]
        joblib.dump(content, model_file)
    else:
        _edit(model_file, format_version=version)
    with pytest.raises(ValueError, match="format_version") as info:
        load_model_file(model_file)
    assert "unknown" in str(info.value)


@posix_only
@pytest.mark.parametrize("mode", [0o620, 0o602])
def test_a_file_others_can_write_warns(model_file, mode):
    os.chmod(model_file, mode)
    with pytest.warns(InsecureModelFileWarning, match="writable by") as record:
        load_model_file(model_file)
    assert str(model_file) in str(record[0].message)
    assert "trust" in str(record[0].message)
    assert issubclass(InsecureModelFileWarning, UserWarning)
    with pytest.warns(InsecureModelFileWarning):
        load_model(str(model_file))


@posix_only
def test_a_folder_others_can_write_warns(model_file):
    os.chmod(model_file.parent, 0o777)
    try:
        with pytest.warns(InsecureModelFileWarning, match="folder") as record:
            load_model_file(model_file)
        assert str(model_file.parent) in str(record[0].message)
        # the sticky bit (as on /tmp) stops others replacing the file
        os.chmod(model_file.parent, 0o777 | stat.S_ISVTX)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_model_file(model_file)
    finally:
        os.chmod(model_file.parent, 0o700)


def test_a_network_module_that_is_not_importable_is_named(tmp_path, capsys):
    source = tmp_path / "src"
    source.mkdir()
    (source / "my_nets_19.py").write_text(
        "from torch import nn\n\n"
        "def tiny(nf=4):\n"
        "    return nn.Sequential(nn.Conv1d(96, nf, 3), nn.ReLU())\n"
    )
    sys.path.insert(0, str(source))
    try:
        import my_nets_19

        features = RandomNetworkFeatures(network=my_nets_19.tiny, width=8)
        path = tmp_path / "mine.joblib"
        save_model_file(path, _content(features))
        os.chmod(path, 0o600)
    finally:
        sys.path.remove(str(source))
        sys.modules.pop("my_nets_19", None)
    with pytest.raises(ValueError) as info:
        load_model_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "my_nets_19" in message and "my_nets_19.tiny" in message
    assert "PYTHONPATH" in message and "install" in message
    assert main(["predict", str(path), str(path)]) == 1
    err = capsys.readouterr().err
    assert "my_nets_19" in err and "Traceback" not in err
