"""Shared machinery of the dataset loaders.

Where datasets live (:func:`get_data_home`), how a loader finds a dataset's root
folder among the layouts it accepts, how missing, extra and unreadable files are
reported, and the :class:`~sklearn.utils.Bunch` every loader returns.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = [
    "get_data_home",
    "DatasetLayoutWarning",
    "AUDIO_EXTENSIONS",
    "FOLD_SEED",
]

#: Environment variable that sets the default data folder.
DATA_HOME_ENV = "SKAUDIO_RANDOM_DATA"

#: Audio file extensions the loaders recognise (lower case, with the dot).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".aif")

#: ``random_state`` of the shuffled ``StratifiedKFold`` of the cross-validation
#: datasets (Extended Ballroom, GTZAN ``split="all"``, audio folders, spoken digits).
FOLD_SEED = 0

#: How many paths a warning or an error quotes before it says "and N more".
_N_QUOTED = 5


class DatasetLayoutWarning(UserWarning):
    """A dataset folder lacks expected files, holds unexpected ones, or holds
    files that cannot be decoded."""


def get_data_home(data_home: str | os.PathLike | None = None) -> str:
    """Return the folder where skaudio_random looks for (and downloads) datasets.

    The folder is, in order of precedence: ``data_home`` when given, the
    environment variable ``SKAUDIO_RANDOM_DATA`` when set and not empty, else
    ``~/skaudio_random_data``, as :func:`sklearn.datasets.get_data_home` does
    with ``SCIKIT_LEARN_DATA``. ``~`` is expanded. The folder is not created
    here: a loader creates it only when it downloads.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        An explicit folder; ``None`` uses the environment variable or the default.

    Returns
    -------
    data_home : str
        Absolute path of the folder.

    Examples
    --------
    >>> import os
    >>> from skaudio_random.datasets import get_data_home
    >>> os.path.basename(get_data_home("/tmp/my_audio_data"))
    'my_audio_data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or os.path.join(
            "~", "skaudio_random_data"
        )
    return os.path.abspath(os.path.expanduser(os.fspath(data_home)))


# ---------------------------------------------------------------------------
# package resources
# ---------------------------------------------------------------------------


def _data_path(*parts: str) -> Path:
    """Path of a file shipped in ``skaudio_random/datasets/data``."""
    return Path(
        str(resources.files("skaudio_random.datasets").joinpath("data", *parts))
    )


def _load_descr(name: str) -> str:
    """Text of ``skaudio_random/datasets/descr/<name>.rst``."""
    ref = resources.files("skaudio_random.datasets").joinpath("descr", f"{name}.rst")
    return ref.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# finding a dataset
# ---------------------------------------------------------------------------


def _find_root(
    data_home: str,
    candidates: Sequence[str],
    is_root: Callable[[Path], bool],
) -> tuple[Path | None, list[Path]]:
    """First ``data_home / candidate`` accepted by ``is_root``.

    Returns the root (or ``None``) and the list of folders looked at, for the
    error message.
    """
    looked = []
    for rel in candidates:
        path = Path(data_home, rel) if rel else Path(data_home)
        if path in looked:
            continue
        looked.append(path)
        if path.is_dir() and is_root(path):
            return path, looked
    return None, looked


def _not_found_error(
    dataset: str, looked: Iterable[Path], layout: str, how_to_get: str
) -> OSError:
    """The error a loader raises when no accepted layout was found."""
    where = "\n".join(f"  - {p}" for p in looked)
    return OSError(
        f"{dataset} was not found. Looked in:\n{where}\n"
        f"Expected layout:\n{layout}\n"
        f"{how_to_get}\n"
        f"Pass data_home=<folder>, or set the {DATA_HOME_ENV} environment variable."
    )


def _list_audio(
    folder: Path, extensions: Sequence[str] = AUDIO_EXTENSIONS
) -> list[str]:
    """Names of the audio files directly in ``folder`` (hidden files skipped)."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(
        e.name
        for e in entries
        if not e.name.startswith(".")
        and os.path.splitext(e.name)[1].lower() in extensions
        and e.is_file()
    )


def _quote(items: Sequence[str], n: int = _N_QUOTED) -> str:
    shown = ", ".join(str(i) for i in items[:n])
    if len(items) > n:
        shown += f", ... and {len(items) - n} more"
    return shown


def _report_layout(
    func: str,
    root: Path,
    *,
    n_expected: int,
    missing: Sequence[str],
    extra: Sequence[str],
    strict: bool,
) -> None:
    """Warn (or raise with ``strict=True``) about missing and extra files."""
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(
            f"{len(missing)} of {n_expected} expected files are missing "
            f"({_quote(missing)})"
        )
    if extra:
        parts.append(
            f"{len(extra)} unexpected audio files were found and ignored "
            f"({_quote(extra)})"
        )
    msg = f"{func}: in {root}, " + "; ".join(parts) + "."
    if strict:
        raise OSError(
            msg + " strict=True turns this into an error; pass strict=False to load "
            "the files that are there (they are listed in bunch.missing and "
            "bunch.extra)."
        )
    warnings.warn(
        msg + " They are listed in bunch.missing and bunch.extra.",
        DatasetLayoutWarning,
        stacklevel=3,
    )


def _is_readable(path: str) -> bool:
    """Whether libsndfile can parse the file's header (cheap: no decoding)."""
    import soundfile as sf

    try:
        info = sf.info(path)
    except Exception:  # noqa: BLE001 - any failure means "cannot be opened"
        return False
    return info.frames > 0 and info.samplerate > 0


def _find_unreadable(func: str, root: Path, paths: Sequence[str]) -> list[str]:
    """Relative paths (to ``root``) among absolute ``paths`` that cannot be opened.

    Warns once, listing them.
    """
    bad = [p for p in paths if not _is_readable(p)]
    rel = [os.path.relpath(p, root).replace(os.sep, "/") for p in bad]
    if rel:
        warnings.warn(
            f"{func}: {len(rel)} file(s) under {root} cannot be opened as audio and "
            f"were dropped: {_quote(rel)}. They are listed in bunch.unreadable.",
            DatasetLayoutWarning,
            stacklevel=3,
        )
    return rel


def _make_bunch(
    *,
    filenames: Sequence[str],
    target: Sequence[int],
    target_names: Sequence[str],
    cv,
    descr: str,
    fix_length: str,
    protocol: str,
    name: str,
    **extra,
) -> Bunch:
    """The :class:`~sklearn.utils.Bunch` every loader returns."""
    return Bunch(
        filenames=np.asarray(list(filenames), dtype=str),
        target=np.asarray(target, dtype=np.int64),
        target_names=list(target_names),
        DESCR=descr,
        cv=cv,
        fix_length=fix_length,
        protocol=protocol,
        name=name,
        **extra,
    )


def _read_csv(path: Path, required: Sequence[str], func: str) -> list[dict[str, str]]:
    """Rows of a metadata CSV, checking that the ``required`` columns are there."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        absent = [c for c in required if c not in columns]
        if absent:
            raise ValueError(
                f"{func}: the metadata file {path} lacks the column(s) {absent}; "
                f"expected at least {list(required)}, found {columns}."
            )
        return [
            {k.strip(): (v or "").strip() for k, v in row.items() if k}
            for row in reader
        ]


def _int_column(rows: Sequence[dict[str, str]], column: str, path: Path, func: str):
    """Column ``column`` of ``rows`` as ints, with an error naming the bad row."""
    values = []
    for i, row in enumerate(rows):
        try:
            values.append(int(row[column]))
        except ValueError:
            raise ValueError(
                f"{func}: row {i + 2} of {path} has {column}={row[column]!r}; "
                "expected an integer."
            ) from None
    return values


def _label_names(
    ids: Sequence[int], names: Sequence[str], path: Path, func: str
) -> list[str]:
    """``target_names`` from a (label id, label name) pair of CSV columns.

    The ids must be 0 ... K-1 and each id must always carry the same name.
    """
    mapping: dict[int, str] = {}
    for i, name in zip(ids, names, strict=True):
        if mapping.setdefault(i, name) != name:
            raise ValueError(
                f"{func}: in {path} label id {i} is named both {mapping[i]!r} and "
                f"{name!r}."
            )
    if sorted(mapping) != list(range(len(mapping))):
        raise ValueError(
            f"{func}: the label ids of {path} must be 0 ... K-1; got {sorted(mapping)}."
        )
    return [mapping[i] for i in range(len(mapping))]


def _check_fold_metadata(
    folds: Sequence[int],
    names: Sequence[str],
    *,
    n_folds: int,
    name_column: str,
    path: Path,
    func: str,
) -> None:
    """Validate the fold column and the file names of a fold-metadata CSV.

    Every fold must be one of ``1 ... n_folds``, the rows must span at least two
    folds (a single fold leaves nothing to train on), and each file must be
    listed once (one clip in two rows would be counted twice, or sit in two
    folds and be tested on data it was trained on). Row numbers in the errors
    are the CSV's line numbers (the header is line 1).
    """
    bad = [
        f"row {i + 2} (fold={f})" for i, f in enumerate(folds) if not 1 <= f <= n_folds
    ]
    if bad:
        raise ValueError(
            f"{func}: the metadata file {path} has {len(bad)} fold value(s) outside "
            f"1 ... {n_folds}: {_quote(bad)}. The dataset's official folds are "
            f"1 ... {n_folds}."
        )
    used = sorted(set(folds))
    if len(used) == 1:
        raise ValueError(
            f"{func}: every row of the metadata file {path} is in fold {used[0]}; "
            f"cross-validation needs at least two of the folds 1 ... {n_folds}."
        )
    rows_of: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        rows_of.setdefault(name, []).append(i + 2)
    dup = [
        f"{n!r} (rows {', '.join(map(str, r))})"
        for n, r in rows_of.items()
        if len(r) > 1
    ]
    if dup:
        raise ValueError(
            f"{func}: the metadata file {path} lists {len(dup)} {name_column} value(s) "
            f"more than once: {_quote(dup)}. Each clip must be listed once."
        )


def _check_folds_present(
    fold: Sequence[int], *, n_listed: int, root: Path, func: str
) -> None:
    """Raise if the clips left after dropping missing or unreadable files span
    fewer than two folds (nothing to train on)."""
    used = sorted({int(f) for f in fold})
    if len(used) == 1:
        raise OSError(
            f"{func}: in {root}, the {len(fold)} clips present and readable (of "
            f"{n_listed} listed) are all in fold {used[0]}; cross-validation needs "
            "clips of at least two folds. The missing and unreadable files are "
            "listed in the warnings above."
        )
