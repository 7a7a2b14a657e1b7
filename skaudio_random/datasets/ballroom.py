"""Extended Ballroom: 4180 dance-music excerpts in 13 styles."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import validate_params

from . import _download
from ._base import (
    AUDIO_EXTENSIONS,
    FOLD_SEED,
    _data_path,
    _find_root,
    _find_unreadable,
    _list_audio,
    _load_descr,
    _make_bunch,
    _not_found_error,
    _quote,
    _report_layout,
    get_data_home,
)

__all__ = ["load_extended_ballroom", "BALLROOM_STYLES"]

#: Label order of the paper's code (Chacha 0 ... Wcswing 12).
BALLROOM_STYLES = (
    "Chacha",
    "Foxtrot",
    "Jive",
    "Pasodoble",
    "Quickstep",
    "Rumba",
    "Salsa",
    "Samba",
    "Slowwaltz",
    "Tango",
    "Viennesewaltz",
    "Waltz",
    "Wcswing",
)

#: Folders (relative to ``data_home``) searched, in order, for the style folders.
_CANDIDATES = (
    "extended_ballroom",
    "extended_ballroom/extendedballroom_v1.1",
    "extended_ballroom/ballroom_extended_2016",
    "extendedballroom_v1.1",
    "ballroom_extended_2016",
    "",
)

_EXT_ORDER = (".mp3",) + tuple(e for e in AUDIO_EXTENSIONS if e != ".mp3")

_LAYOUT = """\
  <data_home>/extended_ballroom/<Style>/<id>.mp3
  with <Style> in Chacha, Foxtrot, Jive, Pasodoble, Quickstep, Rumba, Salsa,
  Samba, Slowwaltz, Tango, Viennesewaltz, Waltz, Wcswing and <id> the track id
  of the metadata (e.g. Waltz/100601.mp3). The official download script's names
  (<Style>/<Style>.<id>.mp3) and .wav conversions are accepted too. Also
  searched, in order: <data_home>/extended_ballroom/extendedballroom_v1.1/,
  <data_home>/extended_ballroom/ballroom_extended_2016/,
  <data_home>/extendedballroom_v1.1/, <data_home>/ballroom_extended_2016/ and
  <data_home> itself."""


def _read_metadata() -> list[tuple[str, str, str]]:
    """``(id, style, md5)`` for the 4180 tracks of the shipped v1.1 metadata."""
    path = _data_path("extended_ballroom", "extendedballroom_v1.1.csv")
    with open(path, newline="", encoding="utf-8") as f:
        return [(row["id"], row["label"], row["md5"]) for row in csv.DictReader(f)]


def _index_files(root: Path, rows) -> tuple[dict[str, str], list[str]]:
    """Map track id -> relative path of its audio file, plus unexpected files."""
    expected = {(label, tid) for tid, label, _ in rows}
    found: dict[str, str] = {}
    extra: list[str] = []
    for style in BALLROOM_STYLES:
        by_id: dict[str, list[str]] = {}
        for name in _list_audio(root / style):
            stem = os.path.splitext(name)[0]
            tid = stem[len(style) + 1 :] if stem.startswith(style + ".") else stem
            by_id.setdefault(tid, []).append(name)
        for tid, files in by_id.items():
            if (style, tid) not in expected:
                extra.extend(f"{style}/{f}" for f in files)
                continue
            files.sort(
                key=lambda f: (
                    _EXT_ORDER.index(os.path.splitext(f)[1].lower()),
                    f.startswith(style + "."),
                )
            )
            found[tid] = f"{style}/{files[0]}"
    return found, extra


def _download_tracks(root: Path, rows, *, progress: bool) -> None:
    """Fetch every listed track that is not there yet, verifying its md5."""
    from tqdm.auto import tqdm

    template = _download.REMOTES["extended_ballroom"].url
    failed = []
    for tid, style, md5 in tqdm(
        rows, desc="Extended Ballroom", unit="track", disable=not progress
    ):
        try:
            _download.download_file(
                template.format(id=tid),
                root / style / f"{tid}.mp3",
                checksum=f"md5:{md5}",
                progress=False,
                n_retries=2,
            )
        except OSError as exc:
            failed.append(f"{style}/{tid}.mp3 ({exc})")
    if failed:
        raise OSError(
            f"load_extended_ballroom: {len(failed)} of {len(rows)} tracks could not be "
            f"downloaded: {_quote(failed, 3)}. The others are in {root}; call again "
            "to retry the failed ones."
        )


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
def load_extended_ballroom(
    data_home=None,
    *,
    download=False,
    return_X_y=False,
    check_audio=False,
    strict=False,
):
    """Load the Extended Ballroom dataset with ten stratified folds.

    The expected tracks and their labels come from the official v1.1 metadata,
    shipped with the package (4180 tracks, 13 styles, SPEC §6.2); the label of
    a track is its style, mapped in the paper's order Chacha 0, Foxtrot 1, ...
    Wcswing 12. ``cv`` is ``StratifiedKFold(n_splits=10, shuffle=True,
    random_state=0)`` over all clips: the paper reports the best mean accuracy
    over these folds (SPEC §5.3; see ``DESCR`` for how this differs from the
    paper's code).

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Folder holding ``extended_ballroom/`` (see the accepted layouts in
        Notes). ``None`` uses :func:`get_data_home`.
    download : bool, default=False
        Fetch the tracks that are not there yet, one mp3 at a time, from the
        address the official download script uses (there is no audio archive),
        each verified against the md5 in the metadata, into
        ``<data_home>/extended_ballroom/<Style>/<id>.mp3``. Finished tracks are
        never fetched again.
    return_X_y : bool, default=False
        Return ``(filenames, target)`` instead of a bunch.
    check_audio : bool, default=False
        Open every file's header with :func:`soundfile.info` and drop the ones
        that cannot be opened (warning; listed in ``unreadable``).
    strict : bool, default=False
        Raise instead of warning when tracks are missing or unexpected audio
        files are present.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``filenames`` (absolute paths, metadata order), ``target``,
        ``target_names`` (the 13 styles), ``ids`` (track ids),
        ``cv`` (``StratifiedKFold``), ``fix_length="crop"``,
        ``protocol="cv"``, ``name="extended_ballroom"``, ``root``,
        ``missing``, ``extra``, ``unreadable``, ``DESCR``.
    (filenames, target) : tuple
        If ``return_X_y=True``.

    Raises
    ------
    OSError
        If no style folder is found (and ``download=False``), if no listed
        track is present, if downloads fail, or with ``strict=True`` if tracks
        are missing or extra.

    Notes
    -----
    Folders searched for the style folders, in order:
    ``<data_home>/extended_ballroom``,
    ``<data_home>/extended_ballroom/extendedballroom_v1.1``,
    ``<data_home>/extended_ballroom/ballroom_extended_2016``,
    ``<data_home>/extendedballroom_v1.1``,
    ``<data_home>/ballroom_extended_2016`` and ``<data_home>``. In each style
    folder a track is ``<id>.mp3`` or ``<Style>.<id>.mp3`` (or ``.wav``).

    Examples
    --------
    >>> from skaudio_random.datasets import load_extended_ballroom
    >>> ballroom = load_extended_ballroom("~/data")  # doctest: +SKIP
    >>> cross_val_score(pipe, ballroom.filenames, ballroom.target,
    ...                 cv=ballroom.cv)  # doctest: +SKIP
    """
    home = get_data_home(data_home)
    rows = _read_metadata()
    unknown = sorted({label for _, label, _ in rows} - set(BALLROOM_STYLES))
    if unknown:  # pragma: no cover - guards the shipped metadata
        raise ValueError(f"unknown Extended Ballroom styles in the metadata: {unknown}")

    def is_root(p):
        return any((p / s).is_dir() for s in BALLROOM_STYLES)

    root, looked = _find_root(home, _CANDIDATES, is_root)
    if root is None and not download:
        raise _not_found_error(
            "Extended Ballroom",
            looked,
            _LAYOUT,
            "Pass download=True to fetch the 4180 tracks, one by one.",
        )
    if download:
        root = root if root is not None else Path(home, "extended_ballroom")
        found, _ = _index_files(root, rows)
        todo = [r for r in rows if r[0] not in found]
        if todo:
            _download_tracks(root, todo, progress=True)

    found, extra = _index_files(root, rows)
    missing = [f"{label}/{tid}.mp3" for tid, label, _ in rows if tid not in found]
    if len(missing) == len(rows):
        raise OSError(
            f"load_extended_ballroom: found style folders in {root} but none of the "
            f"{len(rows)} tracks of the metadata. Expected layout:\n{_LAYOUT}"
        )
    _report_layout(
        "load_extended_ballroom",
        root,
        n_expected=len(rows),
        missing=missing,
        extra=extra,
        strict=strict,
    )
    present = [
        (tid, label, str(root / found[tid])) for tid, label, _ in rows if tid in found
    ]
    unreadable = (
        _find_unreadable("load_extended_ballroom", root, [p for _, _, p in present])
        if check_audio
        else []
    )
    drop = {str(root / u) for u in unreadable}
    present = [r for r in present if r[2] not in drop]
    style_id = {s: i for i, s in enumerate(BALLROOM_STYLES)}
    bunch = _make_bunch(
        filenames=[p for _, _, p in present],
        target=[style_id[label] for _, label, _ in present],
        target_names=list(BALLROOM_STYLES),
        cv=StratifiedKFold(n_splits=10, shuffle=True, random_state=FOLD_SEED),
        descr=_load_descr("extended_ballroom"),
        fix_length="crop",
        protocol="cv",
        name="extended_ballroom",
        ids=np.asarray([int(tid) for tid, _, _ in present], dtype=np.int64),
        root=str(root),
        missing=missing,
        extra=extra,
        unreadable=unreadable,
    )
    if return_X_y:
        return bunch.filenames, bunch.target
    return bunch
