"""Dataset loaders on small trees written in tmp_path with the real layouts.

The audio files are tiny synthetic WAVs (0.05 s at 8 kHz), hard-linked to keep
the 1000/4180/8732-file trees cheap; the metadata and split files are the real
ones (shipped with the package, or ../shared when a test needs it).
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import (
    GridSearchCV,
    PredefinedSplit,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.utils._param_validation import InvalidParameterError

import skaudio_random
from skaudio_random.datasets import (
    BALLROOM_STYLES,
    GTZAN_GENRES,
    URBANSOUND8K_CLASSES,
    DatasetLayoutWarning,
    get_data_home,
    load_audio_folder,
    load_esc50,
    load_extended_ballroom,
    load_gtzan,
    load_spoken_digits,
    load_urbansound8k,
)
from skaudio_random.datasets import ballroom as ballroom_module
from skaudio_random.datasets import gtzan as gtzan_module
from skaudio_random.datasets._base import _data_path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FSDD = SHARED_DATA / "fsdd"
US8K_META = SHARED_DATA / "metadata" / "urbansound8k" / "UrbanSound8K.csv"

# Any layout warning a test does not expect with pytest.warns is a failure.
pytestmark = pytest.mark.filterwarnings(
    "error::skaudio_random.datasets.DatasetLayoutWarning"
)

BUNCH_KEYS = {
    "filenames",
    "target",
    "target_names",
    "DESCR",
    "cv",
    "fix_length",
    "protocol",
    "name",
}


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """One tiny WAV and one tiny AU file to hard-link everywhere."""
    folder = tmp_path_factory.mktemp("clips")
    y = 0.1 * np.random.default_rng(0).standard_normal(400)
    sf.write(folder / "clip.wav", y, 8000)
    sf.write(folder / "clip.au", y, 8000, format="AU")
    return {".wav": folder / "clip.wav", ".au": folder / "clip.au"}


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:  # file systems without hard links
        shutil.copyfile(src, dst)


def _check_bunch(b, *, name, fix_length, protocol):
    assert BUNCH_KEYS <= set(b)
    assert b.name == name and b.fix_length == fix_length and b.protocol == protocol
    assert b.filenames.dtype.kind == "U" and b.target.dtype.kind == "i"
    assert len(b.filenames) == len(b.target)
    assert all(os.path.isabs(f) for f in b.filenames)
    assert isinstance(b.target_names, list) and all(
        isinstance(n, str) for n in b.target_names
    )
    assert b.target.min() >= 0 and b.target.max() < len(b.target_names)
    assert isinstance(b.DESCR, str) and len(b.DESCR) > 200
    # the splitter works as GridSearchCV's cv
    X = np.zeros((len(b.target), 1))
    GridSearchCV(DummyClassifier(), {"strategy": ["prior"]}, cv=b.cv).fit(X, b.target)


def _gtzan_tree(root: Path, clip, ext=".wav", skip=()):
    for g in GTZAN_GENRES:
        for i in range(100):
            name = f"{g}/{g}.{i:05d}"
            if name not in skip:
                e = ext if isinstance(ext, str) else ext(g)
                _link(clip[e], root / f"{name}{e}")


@pytest.fixture(scope="module")
def gtzan_home(tmp_path_factory, clip):
    home = tmp_path_factory.mktemp("gtzan_home")
    _gtzan_tree(home / "gtzan", clip)
    return home


# ---------------------------------------------------------------------------
# get_data_home
# ---------------------------------------------------------------------------


def test_get_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SKAUDIO_RANDOM_DATA", str(tmp_path / "from_env"))
    assert get_data_home() == str(tmp_path / "from_env")
    assert get_data_home(tmp_path / "explicit") == str(tmp_path / "explicit")
    monkeypatch.delenv("SKAUDIO_RANDOM_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == str(tmp_path / "skaudio_random_data")
    assert not (tmp_path / "skaudio_random_data").exists()  # not created


def test_loader_uses_env_var(gtzan_home, monkeypatch):
    monkeypatch.setenv("SKAUDIO_RANDOM_DATA", str(gtzan_home))
    assert len(load_gtzan().filenames) == 640


def test_public_names():
    for name in (
        "load_gtzan",
        "load_extended_ballroom",
        "load_urbansound8k",
        "load_esc50",
        "load_audio_folder",
        "load_spoken_digits",
        "get_data_home",
    ):
        assert name in skaudio_random.__all__
        assert getattr(skaudio_random, name) is getattr(skaudio_random.datasets, name)


# ---------------------------------------------------------------------------
# GTZAN
# ---------------------------------------------------------------------------

# SPEC §6.1, blues ... rock
TRAIN_COUNTS = [46, 48, 45, 42, 47, 43, 44, 41, 43, 44]
VALID_COUNTS = [23, 20, 23, 22, 18, 17, 20, 13, 17, 24]
TEST_COUNTS = [31, 31, 30, 29, 27, 27, 27, 30, 26, 32]


def test_shipped_gtzan_lists():
    md5 = {
        "train_filtered.txt": "d55795dd4bc006e94d1c1b092bfe9da3",
        "valid_filtered.txt": "bf8b8540ab13630c984d6331b3102191",
        "test_filtered.txt": "6dbab6aabd0c49a20bc3b6df10986454",
    }
    folder = _data_path("gtzan_fault_filtered")
    for name, digest in md5.items():
        assert hashlib.md5((folder / name).read_bytes()).hexdigest() == digest
    # each clip in one list once: no clip is both trained and tested on
    clips = [c for name in md5 for c in gtzan_module._read_list(name)]
    assert len(clips) == len(set(clips)) == 443 + 197 + 290
    licence = (folder / "LICENSE").read_text()
    assert "MIT License" in licence and "Copyright (c) 2017 Jongpil Lee" in licence


def test_gtzan_fault_filtered(gtzan_home):
    b = load_gtzan(gtzan_home)
    _check_bunch(b, name="gtzan", fix_length="crop", protocol="validation")
    assert (len(b.filenames), len(b.test_filenames), len(b.test_target)) == (
        640,
        290,
        290,
    )
    assert b.target_names == list(GTZAN_GENRES)
    assert isinstance(b.cv, PredefinedSplit) and b.cv.get_n_splits() == 1
    ((train, valid),) = b.cv.split(b.filenames, b.target)
    assert (len(train), len(valid)) == (443, 197)
    np.testing.assert_array_equal(train, np.arange(443))  # train first, then valid
    assert np.bincount(b.target[train], minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(b.target[valid], minlength=10).tolist() == VALID_COUNTS
    assert np.bincount(b.test_target, minlength=10).tolist() == TEST_COUNTS
    # labels come from the genre folder; the test clips never enter cv
    for f, y in zip(
        np.r_[b.filenames, b.test_filenames],
        np.r_[b.target, b.test_target],
        strict=True,
    ):
        assert Path(f).parent.name == GTZAN_GENRES[y] and Path(f).is_file()
    assert not set(b.filenames) & set(b.test_filenames)
    assert b.filenames[0].endswith("blues/blues.00029.wav")  # first line of train list
    assert b.missing == [] and b.extra == [] and b.unreadable == []
    assert "jazz.00054" in b.DESCR and "MIT" in b.DESCR
    X, y = load_gtzan(gtzan_home, return_X_y=True)
    np.testing.assert_array_equal(X, b.filenames)
    np.testing.assert_array_equal(y, b.target)


def test_gtzan_all(gtzan_home):
    b = load_gtzan(gtzan_home, split="all")
    _check_bunch(b, name="gtzan", fix_length="crop", protocol="cv")
    assert len(b.filenames) == 1000 and "test_filenames" not in b
    assert np.bincount(b.target).tolist() == [100] * 10
    assert isinstance(b.cv, StratifiedKFold)
    assert (b.cv.n_splits, b.cv.shuffle, b.cv.random_state) == (10, True, 0)
    for _, test in b.cv.split(b.filenames, b.target):
        assert np.bincount(b.target[test], minlength=10).tolist() == [10] * 10


@pytest.mark.parametrize(
    "where", ["gtzan/genres", "gtzan/Data/genres_original", "", "genres_original"]
)
def test_gtzan_au_files_and_layouts(tmp_path, clip, where):
    # .au originals for half the genres, .wav for the others
    _gtzan_tree(
        tmp_path / where,
        clip,
        ext=lambda g: ".au" if GTZAN_GENRES.index(g) % 2 else ".wav",
    )
    b = load_gtzan(tmp_path)
    assert len(b.filenames) == 640 and len(b.test_filenames) == 290
    exts = Counter(Path(f).suffix for f in np.r_[b.filenames, b.test_filenames])
    assert set(exts) == {".wav", ".au"}
    assert all(
        Path(f).suffix == (".au" if y % 2 else ".wav")
        for f, y in zip(b.filenames, b.target, strict=True)
    )


def test_gtzan_prefers_wav_when_both(tmp_path, clip):
    _gtzan_tree(tmp_path / "gtzan", clip)
    _link(clip[".au"], tmp_path / "gtzan/blues/blues.00029.au")
    b = load_gtzan(tmp_path)
    assert b.filenames[0].endswith("blues.00029.wav") and b.extra == []


def test_gtzan_missing_and_extra_files(tmp_path, clip):
    gone = ("blues/blues.00029", "rock/rock.00099", "jazz/jazz.00001")
    _gtzan_tree(tmp_path / "gtzan", clip, skip=gone)
    _link(clip[".wav"], tmp_path / "gtzan/pop/pop.00100.wav")
    _link(clip[".wav"], tmp_path / "gtzan/pop/._pop.00000.wav")  # hidden: ignored
    (tmp_path / "gtzan/pop/notes.txt").write_text("not audio")  # not audio: ignored
    with pytest.warns(
        DatasetLayoutWarning, match=r"3 of 930 expected files are missing"
    ):
        b = load_gtzan(tmp_path)
    assert sorted(b.missing) == sorted(f"{g}.wav" for g in gone)  # all three are listed
    assert b.extra == ["pop/pop.00100.wav"]
    n = len(b.filenames) + len(b.test_filenames)
    assert n == 930 - len(b.missing)
    with pytest.raises(OSError, match=r"strict=True.*missing"):
        load_gtzan(tmp_path, strict=True)
    with pytest.warns(
        DatasetLayoutWarning, match=r"of 1000 expected files are missing"
    ):
        assert len(load_gtzan(tmp_path, split="all").filenames) == 997


def test_gtzan_unreadable_clips(tmp_path, clip):
    _gtzan_tree(tmp_path / "gtzan", clip, skip=("jazz/jazz.00054", "blues/blues.00030"))
    (tmp_path / "gtzan/jazz/jazz.00054.wav").write_bytes(b"\x00" * 1000)
    (tmp_path / "gtzan/blues/blues.00030.wav").write_bytes(b"RIFF garbage")
    # jazz.00054 is always checked (it is in the training list); not fatal
    with pytest.warns(DatasetLayoutWarning, match=r"jazz/jazz\.00054\.wav"):
        b = load_gtzan(tmp_path)
    assert b.unreadable == ["jazz/jazz.00054.wav"]
    assert len(b.filenames) == 639 and not any("jazz.00054" in f for f in b.filenames)
    assert (b.cv.test_fold == -1).sum() == 442
    # check_audio=True checks every header
    with pytest.warns(DatasetLayoutWarning, match="2 file"):
        b = load_gtzan(tmp_path, check_audio=True)
    assert sorted(b.unreadable) == ["blues/blues.00030.wav", "jazz/jazz.00054.wav"]
    assert len(b.filenames) == 638


def test_gtzan_not_found(tmp_path):
    with pytest.raises(OSError) as exc:
        load_gtzan(tmp_path / "nowhere")
    msg = str(exc.value)
    assert str(tmp_path / "nowhere" / "gtzan") in msg and "Expected layout" in msg
    assert "<genre>/<genre>.<5-digit id>.wav" in msg
    with pytest.raises(OSError, match=r"cannot be downloaded.*dead"):
        load_gtzan(tmp_path / "nowhere", download=True)
    for g in GTZAN_GENRES:  # genre folders but no clips
        (tmp_path / "gtzan" / g).mkdir(parents=True)
    with pytest.raises(OSError, match="none of the 930 expected clips"):
        load_gtzan(tmp_path)


def test_gtzan_bad_parameters(gtzan_home):
    with pytest.raises(InvalidParameterError, match="'split' parameter of load_gtzan"):
        load_gtzan(gtzan_home, split="train")
    with pytest.raises(InvalidParameterError, match="'data_home' parameter"):
        load_gtzan(3)


# ---------------------------------------------------------------------------
# Extended Ballroom
# ---------------------------------------------------------------------------

# SPEC §6.2
BALLROOM_COUNTS = [455, 507, 350, 53, 497, 470, 47, 468, 65, 464, 252, 529, 23]


@pytest.fixture(scope="module")
def ballroom_home(tmp_path_factory, clip):
    home = tmp_path_factory.mktemp("ballroom_home")
    for tid, label, _ in ballroom_module._read_metadata():
        _link(clip[".wav"], home / "extended_ballroom" / label / f"{tid}.mp3")
    return home


def test_shipped_ballroom_metadata():
    rows = ballroom_module._read_metadata()
    assert len(rows) == 4180 and len({r[0] for r in rows}) == 4180
    counts = Counter(label for _, label, _ in rows)
    assert [counts[s] for s in BALLROOM_STYLES] == BALLROOM_COUNTS
    assert all(len(md5) == 32 for _, _, md5 in rows)
    shared = SHARED_DATA / "metadata/extended_ballroom/extendedballroom_v1.1.csv"
    if shared.is_file():
        shipped = _data_path("extended_ballroom", "extendedballroom_v1.1.csv")
        assert shipped.read_bytes() == shared.read_bytes()


def test_extended_ballroom(ballroom_home):
    b = load_extended_ballroom(ballroom_home)
    _check_bunch(b, name="extended_ballroom", fix_length="crop", protocol="cv")
    assert len(b.filenames) == 4180 and b.target_names == list(BALLROOM_STYLES)
    assert np.bincount(b.target).tolist() == BALLROOM_COUNTS
    assert isinstance(b.cv, StratifiedKFold)
    assert (b.cv.n_splits, b.cv.shuffle, b.cv.random_state) == (10, True, 0)
    sizes = [len(test) for _, test in b.cv.split(b.filenames, b.target)]
    assert sum(sizes) == 4180 and max(sizes) - min(sizes) <= 1
    for f, y, tid in zip(b.filenames, b.target, b.ids, strict=True):
        assert Path(f).parent.name == BALLROOM_STYLES[y] and Path(f).stem == str(tid)
    assert b.missing == [] and b.extra == []
    assert "randomly generated" in b.DESCR and "random_state=0" in b.DESCR
    # same folds on every call
    a = [t.tolist() for _, t in b.cv.split(b.filenames, b.target)]
    b2 = load_extended_ballroom(ballroom_home)
    assert a == [t.tolist() for _, t in b2.cv.split(b2.filenames, b2.target)]


def test_extended_ballroom_names_and_problems(tmp_path, clip):
    rows = ballroom_module._read_metadata()
    root = tmp_path / "extendedballroom_v1.1"  # searched too
    for k, (tid, label, _) in enumerate(rows):
        if k < 3:
            continue  # three missing tracks
        # the official script's names and .wav conversions are accepted
        name = (
            f"{label}.{tid}.mp3"
            if k % 3 == 0
            else f"{tid}.mp3"
            if k % 3 == 1
            else f"{tid}.wav"
        )
        _link(clip[".wav"], root / label / name)
    _link(clip[".wav"], root / "Waltz" / "999999.mp3")  # not in the metadata
    with pytest.warns(
        DatasetLayoutWarning,
        match=r"3 of 4180 expected files are missing.*"
        r"1 unexpected",
    ):
        b = load_extended_ballroom(tmp_path)
    assert len(b.filenames) == 4177
    assert b.missing == [f"{label}/{tid}.mp3" for tid, label, _ in rows[:3]]
    assert b.extra == ["Waltz/999999.mp3"]
    with pytest.raises(OSError, match="strict=True"):
        load_extended_ballroom(tmp_path, strict=True)


def test_extended_ballroom_not_found(tmp_path):
    with pytest.raises(
        OSError,
        match=r"(?s)Extended Ballroom was not found.*"
        r"extended_ballroom.*<Style>/<id>\.mp3.*download=True",
    ):
        load_extended_ballroom(tmp_path)
    (tmp_path / "extended_ballroom" / "Waltz").mkdir(parents=True)
    with pytest.raises(OSError, match="none of the 4180 tracks"):
        load_extended_ballroom(tmp_path)


# ---------------------------------------------------------------------------
# UrbanSound8K
# ---------------------------------------------------------------------------

US8K_HEADER = [
    "slice_file_name",
    "fsID",
    "start",
    "end",
    "salience",
    "fold",
    "classID",
    "class",
]


def _write_us8k(root: Path, rows, clip):
    meta = root / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    with open(meta / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(US8K_HEADER)
        w.writerows(rows)
    for r in rows:
        _link(clip[".wav"], root / "audio" / f"fold{r[5]}" / r[0])


def _us8k_rows(n_folds=3, per_class=2):
    rows = []
    for fold in range(1, n_folds + 1):
        for cid, cname in enumerate(URBANSOUND8K_CLASSES):
            for k in range(per_class):
                fs = 1000 * fold + 10 * cid + k // 2  # two slices per recording
                rows.append(
                    [f"{fs}-{cid}-0-{k}.wav", fs, 0.0, 4.0, 1, fold, cid, cname]
                )
    return rows


def test_urbansound8k_synthetic(tmp_path, clip):
    rows = _us8k_rows()
    _write_us8k(tmp_path / "urbansound8k" / "UrbanSound8K", rows, clip)
    b = load_urbansound8k(tmp_path)
    _check_bunch(b, name="urbansound8k", fix_length="repeat", protocol="cv")
    assert len(b.filenames) == len(rows) == 60
    assert b.target_names == list(URBANSOUND8K_CLASSES)
    assert isinstance(b.cv, PredefinedSplit) and b.cv.get_n_splits() == 3
    np.testing.assert_array_equal(b.cv.test_fold, b.fold)
    for f, fold, y, row in zip(b.filenames, b.fold, b.target, rows, strict=True):
        assert Path(f).parent.name == f"fold{fold}" and Path(f).name == row[0]
        assert y == row[6] and fold == row[5]
    np.testing.assert_array_equal(b.groups, [r[1] for r in rows])
    assert "CC BY-NC" in b.DESCR or "NonCommercial" in b.DESCR
    # the fold of a clip comes from the CSV: a clip in the wrong fold folder is
    # both missing (where the CSV says) and extra (where it is)
    src = tmp_path / "urbansound8k/UrbanSound8K/audio/fold1" / rows[0][0]
    src.rename(tmp_path / "urbansound8k/UrbanSound8K/audio/fold2" / rows[0][0])
    with pytest.warns(DatasetLayoutWarning, match=r"1 of 60 expected.*1 unexpected"):
        b = load_urbansound8k(tmp_path)
    assert b.missing == [f"audio/fold1/{rows[0][0]}"]
    assert b.extra == [f"audio/fold2/{rows[0][0]}"]
    with pytest.raises(OSError, match="strict=True"):
        load_urbansound8k(tmp_path, strict=True)


@pytest.mark.parametrize("where", ["UrbanSound8K", "urbansound8k", ""])
def test_urbansound8k_layouts(tmp_path, clip, where):
    _write_us8k(tmp_path / where, _us8k_rows(n_folds=2, per_class=1), clip)
    assert len(load_urbansound8k(tmp_path).filenames) == 20


def test_urbansound8k_errors(tmp_path, clip):
    with pytest.raises(
        OSError,
        match=r"(?s)UrbanSound8K was not found.*"
        r"urbansound8k/UrbanSound8K/metadata/UrbanSound8K\.csv.*download=True",
    ):
        load_urbansound8k(tmp_path)
    root = tmp_path / "UrbanSound8K"
    rows = _us8k_rows(n_folds=1, per_class=1)
    _write_us8k(root, rows, clip)
    os.remove(root / "metadata" / "UrbanSound8K.csv")
    with pytest.raises(OSError, match="not the metadata file"):
        load_urbansound8k(tmp_path)
    bad = [r[:6] + [r[6], "dog"] if i == 4 else r for i, r in enumerate(rows)]
    _write_us8k(root, bad, clip)
    with pytest.raises(ValueError, match=r"row 6 of .*classID=4, class='dog'"):
        load_urbansound8k(tmp_path)
    with open(root / "metadata" / "UrbanSound8K.csv", "w") as f:
        f.write("slice_file_name,fold\nx.wav,1\n")
    with pytest.raises(
        ValueError, match=r"lacks the column\(s\) \['fsID', 'classID', 'class'\]"
    ):
        load_urbansound8k(tmp_path)


def test_urbansound8k_fold_metadata_is_validated(tmp_path, clip):
    root = tmp_path / "UrbanSound8K"
    rows = _us8k_rows(n_folds=2, per_class=1)
    csv_name = r"metadata[/\\]UrbanSound8K\.csv"
    bad = [list(r) for r in rows]
    bad[0][5], bad[1][5] = 0, 11
    _write_us8k(root, bad, clip)
    with pytest.raises(
        ValueError,
        match=rf"{csv_name} has 2 fold value\(s\) outside 1 \.\.\. 10: "
        r"row 2 \(fold=0\), row 3 \(fold=11\)\. The dataset's official folds",
    ):
        load_urbansound8k(tmp_path)
    shutil.rmtree(root)
    _write_us8k(root, _us8k_rows(n_folds=1, per_class=2), clip)
    with pytest.raises(
        ValueError, match=rf"every row of the metadata file .*{csv_name} is in fold 1"
    ):
        load_urbansound8k(tmp_path)
    # the same slice twice, in one fold or in two (a train/test leak)
    shutil.rmtree(root)
    dup = [list(r) for r in rows]
    dup[12][0] = dup[1][0]  # fold 2 row reuses a fold 1 name
    dup.append(list(rows[3]))  # a repeated row
    _write_us8k(root, dup, clip)
    with pytest.raises(
        ValueError,
        match=rf"{csv_name} lists 2 slice_file_name value\(s\) more than once: "
        rf"'{dup[1][0]}' \(rows 3, 14\), '{rows[3][0]}' \(rows 5, 22\)",
    ):
        load_urbansound8k(tmp_path)
    # a tree with the clips of one fold only cannot be cross-validated
    shutil.rmtree(root)
    _write_us8k(root, rows, clip)
    shutil.rmtree(root / "audio" / "fold2")
    with (
        pytest.warns(DatasetLayoutWarning, match="10 of 20 expected files"),
        pytest.raises(OSError, match=r"10 clips present .* all in fold 1"),
    ):
        load_urbansound8k(tmp_path)


@pytest.mark.skipif(
    not US8K_META.is_file(), reason="../shared UrbanSound8K metadata absent"
)
def test_urbansound8k_real_metadata(tmp_path, clip):
    root = tmp_path / "urbansound8k" / "UrbanSound8K"
    (root / "metadata").mkdir(parents=True)
    shutil.copyfile(US8K_META, root / "metadata" / "UrbanSound8K.csv")
    with open(US8K_META, newline="") as f:
        for row in csv.DictReader(f):
            _link(
                clip[".wav"],
                root / "audio" / f"fold{row['fold']}" / row["slice_file_name"],
            )
    b = load_urbansound8k(tmp_path)
    assert len(b.filenames) == 8732
    assert np.bincount(b.fold)[1:].tolist() == [
        873,
        888,
        925,
        990,
        936,
        823,
        838,
        806,
        816,
        837,
    ]
    assert np.bincount(b.target).tolist() == [
        1000,
        429,
        1000,
        1000,
        1000,
        1000,
        374,
        1000,
        929,
        1000,
    ]
    assert b.cv.get_n_splits() == 10
    # slices of one recording never straddle two folds
    for g in np.unique(b.groups)[:200]:
        assert len(set(b.fold[b.groups == g])) == 1


# ---------------------------------------------------------------------------
# ESC-50
# ---------------------------------------------------------------------------


def _write_esc50(root: Path, clip, n_classes=50):
    rows = []
    for fold in range(1, 6):
        for t in range(n_classes):
            src = 10000 + 100 * t + fold
            rows.append(
                [
                    f"{fold}-{src}-A-{t}.wav",
                    fold,
                    t,
                    f"category_{t:02d}",
                    str(t < 10),
                    src,
                    "A",
                ]
            )
    (root / "meta").mkdir(parents=True, exist_ok=True)
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
        )
        w.writerows(rows)
    for r in rows:
        _link(clip[".wav"], root / "audio" / r[0])
    return rows


def _write_esc50_csv(root: Path, rows):
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
        )
        w.writerows(rows)


def test_esc50(tmp_path, clip):
    rows = _write_esc50(tmp_path / "esc50" / "ESC-50-master", clip)
    b = load_esc50(tmp_path)
    _check_bunch(b, name="esc50", fix_length="repeat", protocol="cv")
    assert len(b.filenames) == 250 and len(b.target_names) == 50
    assert b.target_names[7] == "category_07"
    assert isinstance(b.cv, PredefinedSplit) and b.cv.get_n_splits() == 5
    assert np.bincount(b.fold)[1:].tolist() == [50] * 5
    for f, y, fold in zip(b.filenames, b.target, b.fold, strict=True):
        assert Path(f).name.startswith(f"{fold}-") and Path(f).stem.endswith(f"-{y}")
    assert cross_val_score(
        DummyClassifier(), np.zeros((250, 1)), b.target, cv=b.cv
    ).shape == (5,)
    os.remove(tmp_path / "esc50/ESC-50-master/audio" / rows[0][0])
    _link(clip[".wav"], tmp_path / "esc50/ESC-50-master/audio/5-99999-A-1.wav")
    with pytest.warns(DatasetLayoutWarning, match=r"1 of 250.*1 unexpected"):
        b = load_esc50(tmp_path)
    assert b.missing == [f"audio/{rows[0][0]}"] and b.extra == ["audio/5-99999-A-1.wav"]
    with pytest.raises(OSError, match="strict=True"):
        load_esc50(tmp_path, strict=True)


def test_esc50_errors(tmp_path, clip):
    with pytest.raises(OSError, match=r"(?s)ESC-50 was not found.*meta/esc50\.csv"):
        load_esc50(tmp_path)
    root = tmp_path / "ESC-50-master"
    rows = _write_esc50(root, clip, n_classes=3)
    rows[1][3] = "other name"
    _write_esc50_csv(root, rows)
    with pytest.raises(ValueError, match="label id 1 is named both"):
        load_esc50(tmp_path)
    shutil.rmtree(root / "audio")
    (root / "audio").mkdir()
    rows[1][3] = "category_01"
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        csv.writer(f).writerows(
            [
                ["filename", "fold", "target", "category", "src_file"],
                *[[r[0], r[1], r[2], r[3], r[5]] for r in rows],
            ]
        )
    with pytest.raises(OSError, match="none of the 15 clips"):
        load_esc50(tmp_path)


def test_esc50_fold_metadata_is_validated(tmp_path, clip):
    root = tmp_path / "ESC-50-master"
    rows = _write_esc50(root, clip, n_classes=2)  # folds 1 ... 5, 2 clips each
    csv_name = r"meta[/\\]esc50\.csv"

    def edited(changes):  # {row index: (column index, new value)}
        out = [list(r) for r in rows]
        for i, (col, value) in changes.items():
            out[i][col] = value
        return out

    _write_esc50_csv(root, edited({0: (1, 0), 3: (1, 6), 9: (1, 7)}))
    with pytest.raises(
        ValueError,
        match=rf"{csv_name} has 3 fold value\(s\) outside 1 \.\.\. 5: "
        r"row 2 \(fold=0\), row 5 \(fold=6\), row 11 \(fold=7\)",
    ):
        load_esc50(tmp_path)
    _write_esc50_csv(root, [[r[0], 4, *r[2:]] for r in rows])
    with pytest.raises(ValueError, match=rf"{csv_name} is in fold 4; .* two of"):
        load_esc50(tmp_path)
    _write_esc50_csv(root, edited({8: (0, rows[0][0])}))
    with pytest.raises(
        ValueError,
        match=rf"lists 1 filename value\(s\) more than once: '{rows[0][0]}' "
        r"\(rows 2, 10\)\. Each clip must be listed once",
    ):
        load_esc50(tmp_path)
    # only the clips of one fold on disk
    _write_esc50_csv(root, rows)
    for r in rows[2:]:
        os.remove(root / "audio" / r[0])
    with (
        pytest.warns(DatasetLayoutWarning, match="8 of 10 expected files"),
        pytest.raises(OSError, match=r"the 2 clips present .* all in fold 1"),
    ):
        load_esc50(tmp_path)


# ---------------------------------------------------------------------------
# load_audio_folder
# ---------------------------------------------------------------------------


def test_audio_folder(tmp_path, clip):
    for label, n in (("dog", 12), ("cat", 10), ("bird", 11)):
        for i in range(n):
            sub = "deeper/" if i % 4 == 0 else ""  # files at any depth
            ext = ".WAV" if i == 1 else ".wav"
            _link(clip[".wav"], tmp_path / label / f"{sub}{label}{i}{ext}")
    (tmp_path / "cat" / "notes.txt").write_text("x")  # not audio
    _link(clip[".wav"], tmp_path / "cat" / ".hidden.wav")  # hidden
    _link(clip[".wav"], tmp_path / ".cache" / "a.wav")  # hidden folder
    b = load_audio_folder(tmp_path)
    _check_bunch(b, name="audio_folder", fix_length="repeat", protocol="cv")
    assert b.target_names == ["bird", "cat", "dog"]
    assert np.bincount(b.target).tolist() == [11, 10, 12]
    for f, y in zip(b.filenames, b.target, strict=True):
        assert b.target_names[y] in Path(f).relative_to(tmp_path).parts[0]
    assert (b.cv.n_splits, b.cv.shuffle, b.cv.random_state) == (10, True, 0)
    b = load_audio_folder(
        tmp_path, n_splits=5, random_state=3, fix_length="crop", extensions=["WAV"]
    )
    assert (b.cv.n_splits, b.cv.random_state, b.fix_length) == (5, 3, "crop")
    X, y = load_audio_folder(tmp_path, return_X_y=True)
    assert len(X) == len(y) == 33


def test_audio_folder_reports(tmp_path, clip):
    for label in ("a", "b"):
        for i in range(3):
            _link(clip[".wav"], tmp_path / label / f"{i}.wav")
    (tmp_path / "empty").mkdir()
    _link(clip[".wav"], tmp_path / "stray.wav")
    (tmp_path / "b" / "bad.wav").write_bytes(b"not audio at all")
    with pytest.warns(DatasetLayoutWarning) as record:
        b = load_audio_folder(tmp_path, n_splits=2, check_audio=True)
    text = " ".join(str(w.message) for w in record)
    assert "the folder(s) empty in" in text
    assert "stray.wav" in text and "b/bad.wav" in text
    assert b.extra == ["stray.wav"] and b.unreadable == ["b/bad.wav"]
    assert np.bincount(b.target).tolist() == [3, 3]
    (tmp_path / "empty").rmdir()
    (tmp_path / "b" / "bad.wav").unlink()
    with pytest.raises(OSError, match=r"stray\.wav.*strict=True"):
        load_audio_folder(tmp_path, n_splits=3, strict=True)
    (tmp_path / "stray.wav").unlink()
    with pytest.warns(
        DatasetLayoutWarning, match=r"n_splits=10 is more than .* a \(3\)"
    ):
        load_audio_folder(tmp_path)


def test_audio_folder_errors(tmp_path, clip):
    with pytest.raises(OSError, match="is not a folder"):
        load_audio_folder(tmp_path / "nope")
    with pytest.raises(
        OSError, match=r"(?s)no class folder holding audio.*<class>/<file>"
    ):
        load_audio_folder(tmp_path)
    _link(clip[".wav"], tmp_path / "only" / "x.wav")
    with pytest.raises(ValueError, match="single class folder"):
        load_audio_folder(tmp_path)
    with pytest.raises(InvalidParameterError, match="'n_splits' parameter"):
        load_audio_folder(tmp_path, n_splits=1)
    with pytest.raises(InvalidParameterError, match="'fix_length' parameter"):
        load_audio_folder(tmp_path, fix_length="pad")
    with pytest.raises(ValueError, match="extensions must be"):
        load_audio_folder(tmp_path, extensions=[".wav", 3])


class _TooSlow(Exception):  # not an OSError, which os.walk would swallow
    pass


def _load_within(seconds, *args, **kwargs):
    """``load_audio_folder`` that fails instead of hanging past ``seconds``."""

    def stop(signum, frame):
        raise _TooSlow(f"load_audio_folder ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return load_audio_folder(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


needs_links = pytest.mark.skipif(
    not hasattr(os, "symlink") or not hasattr(signal, "SIGALRM"),
    reason="needs symbolic links and SIGALRM",
)


@needs_links
def test_audio_folder_symlink_loops(tmp_path, clip):
    root = tmp_path / "root"
    for label in ("a", "b"):
        for i in range(3):
            _link(clip[".wav"], root / label / f"{i}.wav")
    os.symlink(".", root / "a" / "self")  # listed every file of a/ 41 times
    os.symlink("..", root / "a" / "up")  # never returned
    os.symlink("../..", root / "a" / "upup")  # the folder above root
    os.symlink(".", root / "all")  # a class folder that is root itself
    with pytest.warns(
        DatasetLayoutWarning,
        match=r"4 path\(s\) lead through symbolic links .*\(a loop\).*"
        r"skipped -> used: a/self -> a, a/up -> \., a/upup -> \.\., all -> \.\)",
    ):
        b = _load_within(20, root, n_splits=3)
    assert b.duplicates == {"a/self": "a", "a/up": ".", "a/upup": "..", "all": "."}
    assert b.target_names == ["a", "b"] and np.bincount(b.target).tolist() == [3, 3]
    assert len(set(b.filenames)) == 6
    assert all("self" not in f and "up" not in f for f in b.filenames)
    with pytest.raises(OSError, match=r"a/self -> a.*strict=True turns this"):
        _load_within(20, root, n_splits=3, strict=True)


@needs_links
def test_audio_folder_symlinked_duplicates(tmp_path, clip):
    root, outside = tmp_path / "root", tmp_path / "outside"
    for label in ("a", "b", "c"):
        for i in range(3):
            _link(clip[".wav"], root / label / f"{label}{i}.wav")
    for i in range(2):  # a class kept elsewhere, linked in twice
        _link(clip[".wav"], outside / "dogs" / f"dog{i}.wav")
    os.symlink(outside / "dogs", root / "d")
    os.symlink(outside / "dogs", root / "e")
    os.symlink(root, outside / "dogs" / "back")  # a loop through another folder
    os.symlink("../b", root / "a" / "b_again")  # a sibling folder
    os.symlink("../a/a0.wav", root / "c" / "copy_of_a0.wav")  # a file twice
    _link(clip[".wav"], outside / "z.wav")
    os.symlink(outside / "z.wav", root / "c" / "z.wav")  # one outside file,
    os.symlink(outside / "z.wav", root / "b" / "z.wav")  # linked in twice
    with pytest.warns(DatasetLayoutWarning, match="5 path\\(s\\) lead") as record:
        b = _load_within(20, root, n_splits=2)
    assert len(record) == 1  # e/ is reported as a duplicate, not as empty
    assert b.duplicates == {
        "a/b_again": "b",  # the sibling keeps its own files
        "c/copy_of_a0.wav": "a/a0.wav",  # the link-free path wins
        "c/z.wav": "b/z.wav",  # else the first path in sorted order
        "d/back": ".",
        "e": "d",
    }
    assert b.target_names == ["a", "b", "c", "d"]
    assert np.bincount(b.target).tolist() == [3, 4, 3, 2]
    assert len(set(b.filenames)) == len(b.filenames) == 12
    real = [os.path.realpath(f) for f in b.filenames]
    assert len(set(real)) == 12  # no real file twice, so never in two folds
    assert str(root / "d" / "dog0.wav") in b.filenames  # the path as linked in
    with pytest.raises(OSError, match=r"c/copy_of_a0\.wav -> a/a0\.wav"):
        load_audio_folder(root, n_splits=2, strict=True)


@pytest.mark.skipif(
    not (FSDD / "recordings").is_dir(), reason="../shared/data/fsdd absent"
)
def test_audio_folder_real_fsdd(tmp_path):
    # ../shared/data/fsdd is flat: give it the class-per-folder layout with
    # symbolic links, labels from its labels.csv
    with open(FSDD / "labels.csv", newline="") as f:
        labels = {r["filename"]: r["label"] for r in csv.DictReader(f)}
    for name, label in labels.items():
        (tmp_path / label).mkdir(exist_ok=True)
        os.symlink(FSDD / "recordings" / name, tmp_path / label / name)
    b = load_audio_folder(tmp_path)
    assert len(b.filenames) == 3000 and b.target_names == [str(d) for d in range(10)]
    assert np.bincount(b.target).tolist() == [300] * 10
    for f, y in zip(b.filenames[::97], b.target[::97], strict=True):
        assert Path(f).name.split("_")[0] == str(y)
        assert sf.info(f).samplerate == 8000
    folds = [
        np.bincount(b.target[t], minlength=10)
        for _, t in b.cv.split(b.filenames, b.target)
    ]
    assert len(folds) == 10 and all((c == 30).all() for c in folds)


# ---------------------------------------------------------------------------
# spoken digits (shipped)
# ---------------------------------------------------------------------------


def test_spoken_digits():
    b = load_spoken_digits()
    _check_bunch(b, name="spoken_digits", fix_length="repeat", protocol="cv")
    assert len(b.filenames) == 300 and b.target_names == [str(d) for d in range(10)]
    assert np.bincount(b.target).tolist() == [30] * 10
    assert Counter(b.groups) == {
        s: 50 for s in ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
    }
    assert isinstance(b.cv, StratifiedKFold)
    assert (b.cv.n_splits, b.cv.shuffle, b.cv.random_state) == (5, True, 0)
    for f, y, g in zip(b.filenames, b.target, b.groups, strict=True):
        digit, speaker, take = Path(f).stem.split("_")
        assert (int(digit), speaker) == (y, g) and int(take) < 5
        assert Path(f).is_file()
    info = sf.info(b.filenames[0])
    assert (info.samplerate, info.channels) == (8000, 1)
    attribution = (_data_path("spoken_digits") / "ATTRIBUTION.md").read_text()
    assert "CC BY-SA 4.0" in attribution and "10.5281/zenodo.1342401" in attribution
    assert "26eb9aaf" in attribution and "CC BY-SA 4.0" in b.DESCR
    X, y = load_spoken_digits(return_X_y=True)
    assert len(X) == len(y) == 300


@pytest.mark.skipif(
    not (FSDD / "recordings").is_dir(), reason="../shared/data/fsdd absent"
)
def test_spoken_digits_are_unchanged_fsdd_files():
    b = load_spoken_digits()
    for f in b.filenames:
        assert Path(f).read_bytes() == (FSDD / "recordings" / Path(f).name).read_bytes()
