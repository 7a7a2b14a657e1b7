"""FSDD's own train/test split: ``load_fsdd(split="official")`` (issue 20)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import PredefinedSplit, StratifiedKFold

from skaudio_random.cli import load_fsdd

from .conftest import FSDD, requires_fsdd
from .test_cli import write_fsdd


def _takes(filenames):
    return sorted({int(Path(f).stem.split("_")[2]) for f in filenames})


def test_official_split(tmp_path):
    write_fsdd(tmp_path, digits=(0, 1), speakers=("ann", "bob"), takes=12)
    data = load_fsdd(tmp_path, split="official")
    assert data.protocol == "validation" and data.split == "official"
    assert _takes(data.test_filenames) == [0, 1, 2, 3, 4]
    assert _takes(data.filenames) == list(range(5, 12))
    assert len(data.test_filenames) == 2 * 2 * 5 == len(data.test_target)
    assert np.bincount(data.test_target).tolist() == [10, 10]
    assert sorted(set(data.test_groups)) == ["ann", "bob"]
    assert len(data.groups) == len(data.target) == len(data.filenames) == 28
    assert isinstance(data.cv, PredefinedSplit) and data.cv.get_n_splits() == 1
    ((train, val),) = data.cv.split()
    assert _takes(data.filenames[val]) == [5, 6, 7, 8, 9]
    assert _takes(data.filenames[train]) == [10, 11]
    for f, y in zip(data.test_filenames, data.test_target, strict=True):
        assert int(Path(f).stem.split("_")[0]) == y
    # the default is the unchanged 5-fold CV over all clips
    cv = load_fsdd(tmp_path)
    assert cv.protocol == "cv" and len(cv.filenames) == 48
    assert isinstance(cv.cv, StratifiedKFold) and cv.cv.get_n_splits() == 5


def test_official_split_bad_input(tmp_path):
    with pytest.raises(ValueError, match="split must be 'cv' or 'official'; got 'x'"):
        load_fsdd(tmp_path, split="x")
    write_fsdd(tmp_path / "few", digits=(0,), speakers=("ann",), takes=5)
    with pytest.raises(OSError, match=r"no recording of the validation \(takes 5-9\)"):
        load_fsdd(tmp_path / "few", split="official")
    load_fsdd(tmp_path / "few")  # enough for the CV protocol
    (tmp_path / "few" / "recordings" / "0_ann_x.wav").write_bytes(b"")
    with pytest.raises(OSError, match=r"do not follow .* \(e\.g\. 0_ann_x\.wav\)"):
        load_fsdd(tmp_path / "few", split="official")


@requires_fsdd
def test_official_split_real():
    data = load_fsdd(FSDD.parent, split="official")
    assert len(data.filenames) == 2700 and len(data.test_filenames) == 300
    assert _takes(data.test_filenames) == [0, 1, 2, 3, 4]
    assert np.bincount(data.test_target).tolist() == [30] * 10
    assert (data.cv.test_fold == 0).sum() == 300
