"""GTZAN genre collection: the fault-filtered split and the full 1000 clips."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.model_selection import PredefinedSplit, StratifiedKFold
from sklearn.utils._param_validation import StrOptions, validate_params

from ._base import (
    AUDIO_EXTENSIONS,
    FOLD_SEED,
    _data_path,
    _find_root,
    _find_unreadable,
    _is_readable,
    _list_audio,
    _load_descr,
    _make_bunch,
    _not_found_error,
    _report_layout,
    get_data_home,
)

__all__ = ["load_gtzan", "GTZAN_GENRES"]

#: Label order of the paper's code (blues 0 ... rock 9).
GTZAN_GENRES = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)

#: Folders (relative to ``data_home``) searched, in this order, for the genre folders.
_CANDIDATES = (
    "gtzan",
    "gtzan/genres",
    "gtzan/genres_original",
    "gtzan/Data/genres_original",
    "",
    "genres",
    "genres_original",
    "Data/genres_original",
)

#: Clips known to be unreadable in some copies; always header-checked (cheap).
_KNOWN_BAD = ("jazz/jazz.00054",)

# Preferred extension first when a clip exists in several formats.
_EXT_ORDER = (".wav", ".au") + tuple(
    e for e in AUDIO_EXTENSIONS if e not in (".wav", ".au")
)

_LAYOUT = """\
  <data_home>/gtzan/<genre>/<genre>.<5-digit id>.wav  (or the original .au)
  with <genre> in blues, classical, country, disco, hiphop, jazz, metal, pop,
  reggae, rock (100 clips each, ids 00000-00099). Also searched, in order:
  <data_home>/gtzan/genres/, <data_home>/gtzan/genres_original/,
  <data_home>/gtzan/Data/genres_original/, and the same four places without the
  gtzan/ part (data_home may be the folder that holds the genre folders)."""

_NO_DOWNLOAD = (
    "GTZAN cannot be downloaded automatically: its original address "
    "(http://opihi.cs.uvic.ca/sound/genres.tar.gz, linked from marsyas.info) is dead "
    "and there is no official mirror. Obtain a copy yourself (for example the Kaggle "
    "mirror 'GTZAN Dataset - Music Genre Classification', whose Data/genres_original "
    "folder is accepted as is) and put it in one of the places above."
)


def _read_list(name: str) -> list[str]:
    """Clip ids (``genre/genre.000NN``, no extension) of a shipped split list."""
    text = _data_path("gtzan_fault_filtered", name).read_text(encoding="utf-8")
    return [
        os.path.splitext(line.strip())[0] for line in text.splitlines() if line.strip()
    ]


def _index_files(root: Path) -> tuple[dict[str, str], list[str]]:
    """Map clip id -> relative path of its audio file, plus unexpected files."""
    known = {f"{g}/{g}.{i:05d}" for g in GTZAN_GENRES for i in range(100)}
    found: dict[str, str] = {}
    extra: list[str] = []
    for genre in GTZAN_GENRES:
        names = _list_audio(root / genre)
        by_stem: dict[str, list[str]] = {}
        for name in names:
            stem, ext = os.path.splitext(name)
            by_stem.setdefault(f"{genre}/{stem}", []).append(name)
        for clip, files in by_stem.items():
            if clip not in known:
                extra.extend(f"{genre}/{f}" for f in files)
                continue
            files.sort(key=lambda f: _EXT_ORDER.index(os.path.splitext(f)[1].lower()))
            found[clip] = f"{genre}/{files[0]}"
    return found, extra


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "split": [StrOptions({"fault_filtered", "all"})],
        "download": ["boolean"],
        "return_X_y": ["boolean"],
        "check_audio": ["boolean"],
        "strict": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_gtzan(
    data_home=None,
    *,
    split="fault_filtered",
    download=False,
    return_X_y=False,
    check_audio=False,
    strict=False,
):
    """Load the GTZAN genre collection with the paper's evaluation protocol.

    With ``split="fault_filtered"`` (the paper's main experiment, SPEC §6.1) the
    bunch holds the 640 training and validation clips, in that order, and ``cv``
    is the :class:`~sklearn.model_selection.PredefinedSplit` used for model
    selection: the 443 training clips are never tested on (fold ``-1``), the
    197 validation clips form the single test fold ``0``. The 290 test clips
    are in ``test_filenames``/``test_target`` and never in ``cv``: fit the
    selected model on the training clips and report its accuracy there.

    With ``split="all"`` the bunch holds all 1000 clips (genre by genre) with
    ten shuffled stratified folds (``StratifiedKFold(10, shuffle=True,
    random_state=0)``), the protocol of the batch-normalisation experiment
    (paper §3.4).

    Labels come from the genre folder. Both ``.wav`` conversions and the
    original ``.au`` files are accepted (``.wav`` is preferred when both are
    there). The split lists ship with the package (MIT licence, see
    ``DESCR``).

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Folder holding ``gtzan/`` (see Notes for all accepted layouts). ``None``
        uses :func:`get_data_home`.
    split : {"fault_filtered", "all"}, default="fault_filtered"
        Which partition to return.
    download : bool, default=False
        Accepted for the same signature as the other loaders, but GTZAN has no
        working public download (its original link is dead): when the data is
        missing, the error says how to obtain it, whatever this says.
    return_X_y : bool, default=False
        Return ``(filenames, target)`` instead of a bunch.
    check_audio : bool, default=False
        Open the header of every file with :func:`soundfile.info` and drop the
        ones that cannot be opened (warning; listed in ``unreadable``). The
        known-bad clip ``jazz.00054`` is always checked, whatever this says.
    strict : bool, default=False
        Raise instead of warning when expected files are missing or unexpected
        audio files are present.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``filenames`` : ndarray of str (absolute paths);
        ``target`` : int ndarray; ``target_names`` : list of the ten genres;
        ``cv`` : ``PredefinedSplit`` (fault_filtered) or ``StratifiedKFold``
        (all); ``test_filenames``, ``test_target`` : the 290 test clips
        (fault_filtered only); ``fix_length`` : ``"crop"``; ``protocol`` :
        ``"validation"`` (fault_filtered) or ``"cv"`` (all); ``name`` :
        ``"gtzan"``; ``split``; ``root`` : the folder the clips were found in;
        ``missing`` : expected clips that are absent (list paths);
        ``extra`` : unexpected audio files; ``unreadable`` : dropped files
        (relative paths); ``DESCR``.
    (filenames, target) : tuple
        If ``return_X_y=True``.

    Raises
    ------
    OSError
        If no GTZAN folder is found (the message lists where it looked and the
        expected layout), if no listed clip is present, if a whole part of the
        split is absent, or with ``strict=True`` if files are missing or extra.

    Notes
    -----
    Folders searched for the genre folders, in order (the first one holding at
    least one genre folder wins): ``<data_home>/gtzan``,
    ``<data_home>/gtzan/genres``, ``<data_home>/gtzan/genres_original``,
    ``<data_home>/gtzan/Data/genres_original``, then the same four without
    ``gtzan/``.

    Examples
    --------
    >>> from skaudio_random.datasets import load_gtzan
    >>> gtzan = load_gtzan("~/data")  # doctest: +SKIP
    >>> len(gtzan.filenames), len(gtzan.test_filenames)  # doctest: +SKIP
    (640, 290)
    >>> search = GridSearchCV(pipe, grid, cv=gtzan.cv)  # doctest: +SKIP
    """
    home = get_data_home(data_home)
    root, looked = _find_root(
        home, _CANDIDATES, lambda p: any((p / g).is_dir() for g in GTZAN_GENRES)
    )
    if root is None:
        raise _not_found_error("GTZAN", looked, _LAYOUT, _NO_DOWNLOAD)

    found, extra = _index_files(root)
    if split == "fault_filtered":
        parts = {
            "train": _read_list("train_filtered.txt"),
            "valid": _read_list("valid_filtered.txt"),
            "test": _read_list("test_filtered.txt"),
        }
    else:
        parts = {"all": [f"{g}/{g}.{i:05d}" for g in GTZAN_GENRES for i in range(100)]}
    expected = [c for clips in parts.values() for c in clips]
    missing = [f"{c}.wav" for c in expected if c not in found]
    if len(missing) == len(expected):
        raise OSError(
            f"load_gtzan: found the genre folders in {root} but none of the "
            f"{len(expected)} expected clips (named <genre>/<genre>.000NN.wav or "
            f".au). Expected layout:\n{_LAYOUT}"
        )
    _report_layout(
        "load_gtzan",
        root,
        n_expected=len(expected),
        missing=missing,
        extra=extra,
        strict=strict,
    )

    paths = {c: str(root / found[c]) for c in expected if c in found}
    if check_audio:
        unreadable = _find_unreadable("load_gtzan", root, list(paths.values()))
    else:
        bad = [
            paths[c] for c in _KNOWN_BAD if c in paths and not _is_readable(paths[c])
        ]
        unreadable = _find_unreadable("load_gtzan", root, bad) if bad else []
    drop = {str(root / u) for u in unreadable}

    genre_id = {g: i for i, g in enumerate(GTZAN_GENRES)}

    def _files(clips):
        kept = [c for c in clips if c in paths and paths[c] not in drop]
        return [paths[c] for c in kept], [genre_id[c.split("/")[0]] for c in kept]

    common = dict(
        target_names=list(GTZAN_GENRES),
        descr=_load_descr("gtzan"),
        fix_length="crop",
        name="gtzan",
        split=split,
        root=str(root),
        missing=missing,
        extra=extra,
        unreadable=unreadable,
    )
    if split == "fault_filtered":
        train_f, train_y = _files(parts["train"])
        valid_f, valid_y = _files(parts["valid"])
        test_f, test_y = _files(parts["test"])
        empty = [k for k, v in (("train", train_f), ("valid", valid_f)) if not v]
        if empty:
            raise OSError(
                f"load_gtzan: no clip of the {' and '.join(empty)} list is present in "
                f"{root}; the fault-filtered protocol needs both."
            )
        test_fold = np.r_[np.full(len(train_f), -1), np.zeros(len(valid_f), dtype=int)]
        bunch = _make_bunch(
            filenames=train_f + valid_f,
            target=train_y + valid_y,
            cv=PredefinedSplit(test_fold),
            protocol="validation",
            test_filenames=np.asarray(test_f, dtype=str),
            test_target=np.asarray(test_y, dtype=np.int64),
            **common,
        )
    else:
        files, y = _files(parts["all"])
        bunch = _make_bunch(
            filenames=files,
            target=y,
            cv=StratifiedKFold(n_splits=10, shuffle=True, random_state=FOLD_SEED),
            protocol="cv",
            **common,
        )
    if return_X_y:
        return bunch.filenames, bunch.target
    return bunch
