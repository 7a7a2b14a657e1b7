"""UrbanSound8K: 8732 urban sound excerpts, 10 classes, 10 predefined folds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.model_selection import PredefinedSplit
from sklearn.utils._param_validation import validate_params

from . import _download
from ._base import (
    _check_fold_metadata,
    _check_folds_present,
    _find_root,
    _find_unreadable,
    _int_column,
    _list_audio,
    _load_descr,
    _make_bunch,
    _not_found_error,
    _read_csv,
    _report_layout,
    get_data_home,
)

__all__ = ["load_urbansound8k", "URBANSOUND8K_CLASSES"]

#: classID order of the official metadata (air_conditioner 0 ... street_music 9).
URBANSOUND8K_CLASSES = (
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
)

_CSV = os.path.join("metadata", "UrbanSound8K.csv")
_COLUMNS = ("slice_file_name", "fsID", "fold", "classID", "class")

#: Folders (relative to ``data_home``) searched, in order, for the dataset root.
_CANDIDATES = ("urbansound8k/UrbanSound8K", "urbansound8k", "UrbanSound8K", "")

_LAYOUT = """\
  <data_home>/urbansound8k/UrbanSound8K/metadata/UrbanSound8K.csv
  <data_home>/urbansound8k/UrbanSound8K/audio/fold1/ ... audio/fold10/<slice_file_name>
  (the official archive UrbanSound8K.tar.gz unpacked in <data_home>/urbansound8k).
  Also searched, in order: <data_home>/urbansound8k, <data_home>/UrbanSound8K and
  <data_home> itself as the folder holding metadata/ and audio/."""


def _is_root(path: Path) -> bool:
    return (path / _CSV).is_file() or (path / "audio" / "fold1").is_dir()


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "download": ["boolean"],
        "return_X_y": ["boolean"],
        "check_audio": ["boolean"],
        "strict": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_urbansound8k(
    data_home=None,
    *,
    download=False,
    return_X_y=False,
    check_audio=False,
    strict=False,
):
    """Load UrbanSound8K with its ten predefined folds.

    Every clip, its label (``classID``) and its fold come from the dataset's
    own ``metadata/UrbanSound8K.csv`` (SPEC §6.3); the clip is expected in
    ``audio/fold<fold>/``. ``cv`` is the
    :class:`~sklearn.model_selection.PredefinedSplit` over the official folds
    (test fold ids 1 ... 10): never reshuffle them, slices of one recording
    share a fold (except five recordings of the official metadata, fsID
    77751, 106905, 132016, 176638 and 180937, whose slices span two folds; the
    folds are kept as published). The clips are at most 4 s long; the paper
    repeats them to ≈29 s, hence ``fix_length="repeat"``.

    The metadata is read from the dataset folder, not shipped with this
    package: UrbanSound8K (metadata included) is licensed CC BY-NC 3.0, which
    does not fit the package's BSD licence, and the official archive always
    contains it.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Folder holding ``urbansound8k/`` (see Notes). ``None`` uses
        :func:`get_data_home`.
    download : bool, default=False
        If the dataset is not found, download the official archive from Zenodo
        (about 6 GB, md5-verified, resumable) into ``<data_home>/urbansound8k``
        and unpack it there.
    return_X_y : bool, default=False
        Return ``(filenames, target)`` instead of a bunch.
    check_audio : bool, default=False
        Open every file's header with :func:`soundfile.info` and drop the ones
        that cannot be opened (warning; listed in ``unreadable``).
    strict : bool, default=False
        Raise instead of warning when clips are missing or unexpected audio
        files are present.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``filenames`` (absolute paths, metadata order), ``target``
        (``classID``), ``target_names`` (10 classes), ``fold`` (1 ... 10),
        ``groups`` (Freesound recording id ``fsID``), ``cv``
        (``PredefinedSplit(fold)``), ``fix_length="repeat"``,
        ``protocol="cv"``, ``name="urbansound8k"``, ``root``, ``missing``,
        ``extra``, ``unreadable``, ``DESCR``.
    (filenames, target) : tuple
        If ``return_X_y=True``.

    Raises
    ------
    OSError
        If the dataset or its metadata CSV is not found, if no listed clip is
        present, if the clips present and readable all lie in one fold, or with
        ``strict=True`` if clips are missing or extra.
    ValueError
        If the metadata CSV lacks a column, holds an unknown class, a fold
        outside 1 ... 10, a single fold, or a ``slice_file_name`` listed more
        than once (the error names the CSV rows).

    Notes
    -----
    Folders searched for ``metadata/UrbanSound8K.csv`` and ``audio/``, in
    order: ``<data_home>/urbansound8k/UrbanSound8K``,
    ``<data_home>/urbansound8k``, ``<data_home>/UrbanSound8K``,
    ``<data_home>``.

    Examples
    --------
    >>> from skaudio_random.datasets import load_urbansound8k
    >>> us8k = load_urbansound8k("~/data")  # doctest: +SKIP
    >>> us8k.cv.get_n_splits()  # doctest: +SKIP
    10
    """
    func = "load_urbansound8k"
    home = get_data_home(data_home)
    root, looked = _find_root(home, _CANDIDATES, _is_root)
    if root is None and download:
        _download.fetch_archive(
            _download.REMOTES["urbansound8k"], Path(home, "urbansound8k")
        )
        root, looked = _find_root(home, _CANDIDATES, _is_root)
    if root is None:
        raise _not_found_error(
            "UrbanSound8K",
            looked,
            _LAYOUT,
            "Pass download=True to fetch the official archive (about 6 GB).",
        )
    csv_path = root / _CSV
    if not csv_path.is_file():
        raise OSError(
            f"{func}: found {root / 'audio'} but not the metadata file {csv_path}. "
            "It is part of the official archive (UrbanSound8K/metadata/"
            "UrbanSound8K.csv); put it back there."
        )
    rows = _read_csv(csv_path, _COLUMNS, func)
    folds = _int_column(rows, "fold", csv_path, func)
    class_ids = _int_column(rows, "classID", csv_path, func)
    fs_ids = _int_column(rows, "fsID", csv_path, func)
    for i, (cid, row) in enumerate(zip(class_ids, rows, strict=True)):
        if (
            not 0 <= cid < len(URBANSOUND8K_CLASSES)
            or URBANSOUND8K_CLASSES[cid] != row["class"]
        ):
            raise ValueError(
                f"{func}: row {i + 2} of {csv_path} has classID={cid}, "
                f"class={row['class']!r}; the official classes are "
                f"{dict(enumerate(URBANSOUND8K_CLASSES))}."
            )
    _check_fold_metadata(
        folds,
        [r["slice_file_name"] for r in rows],
        n_folds=10,
        name_column="slice_file_name",
        path=csv_path,
        func=func,
    )

    listing = {
        f: set(_list_audio(root / "audio" / f"fold{f}")) for f in sorted(set(folds))
    }
    expected = {(f, row["slice_file_name"]) for f, row in zip(folds, rows, strict=True)}
    present_idx = [
        i
        for i, (f, row) in enumerate(zip(folds, rows, strict=True))
        if row["slice_file_name"] in listing[f]
    ]
    missing = [
        f"audio/fold{f}/{row['slice_file_name']}"
        for f, row in zip(folds, rows, strict=True)
        if row["slice_file_name"] not in listing[f]
    ]
    extra = []
    for fold_dir in sorted((root / "audio").glob("fold*")):
        try:
            f = int(fold_dir.name[4:])
        except ValueError:
            continue
        extra.extend(
            f"audio/{fold_dir.name}/{name}"
            for name in _list_audio(fold_dir)
            if (f, name) not in expected
        )
    if not present_idx:
        raise OSError(
            f"{func}: none of the {len(rows)} clips listed in {csv_path} is under "
            f"{root / 'audio'}. Expected layout:\n{_LAYOUT}"
        )
    _report_layout(
        func, root, n_expected=len(rows), missing=missing, extra=extra, strict=strict
    )
    paths = [
        str(root / "audio" / f"fold{folds[i]}" / rows[i]["slice_file_name"])
        for i in present_idx
    ]
    unreadable = _find_unreadable(func, root, paths) if check_audio else []
    drop = {str(root / u) for u in unreadable}
    keep = [i for i, p in zip(present_idx, paths, strict=True) if p not in drop]
    fold = np.asarray([folds[i] for i in keep], dtype=np.int64)
    _check_folds_present(fold, n_listed=len(rows), root=root, func=func)
    bunch = _make_bunch(
        filenames=[
            str(root / "audio" / f"fold{folds[i]}" / rows[i]["slice_file_name"])
            for i in keep
        ],
        target=[class_ids[i] for i in keep],
        target_names=list(URBANSOUND8K_CLASSES),
        cv=PredefinedSplit(fold),
        descr=_load_descr("urbansound8k"),
        fix_length="repeat",
        protocol="cv",
        name="urbansound8k",
        fold=fold,
        groups=np.asarray([fs_ids[i] for i in keep], dtype=np.int64),
        root=str(root),
        missing=missing,
        extra=extra,
        unreadable=unreadable,
    )
    if return_X_y:
        return bunch.filenames, bunch.target
    return bunch
