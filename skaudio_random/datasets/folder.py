"""Any class-per-subfolder audio tree, and the ESC-50 layout."""

from __future__ import annotations

import heapq
import os
import warnings
from collections import Counter
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.model_selection import PredefinedSplit, StratifiedKFold
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ..audio import FIX_LENGTH_MODES
from . import _download
from ._base import (
    AUDIO_EXTENSIONS,
    FOLD_SEED,
    DatasetLayoutWarning,
    _check_fold_metadata,
    _check_folds_present,
    _find_root,
    _find_unreadable,
    _int_column,
    _label_names,
    _list_audio,
    _load_descr,
    _make_bunch,
    _not_found_error,
    _quote,
    _read_csv,
    _report_layout,
    get_data_home,
)

__all__ = ["load_audio_folder", "load_esc50"]


def _normalise_extensions(extensions) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = (extensions,)
    out = []
    for ext in extensions:
        if not isinstance(ext, str) or not ext.strip("."):
            raise ValueError(
                "extensions must be a sequence of file extensions such as "
                f"('.wav', '.flac'); got {extensions!r}."
            )
        out.append("." + ext.lower().lstrip("."))
    return tuple(out)


def _is_within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _scan_class_folders(
    root: Path, extensions: tuple[str, ...]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Audio files below each class folder of ``root``, each real file once.

    Symbolic links are followed, but every real folder is walked once: the
    folders reached without a link first, then the folder links in sorted
    order. A link to a folder already walked, or to a folder above it (a
    loop), is skipped. A real file reached under several paths is kept under
    its link-free path when it has one, else under the first path in sorted
    order. Hidden files and folders are skipped; files directly in ``root`` are
    not collected (they belong to no class).

    Returns
    -------
    files : dict
        Class folder name -> sorted absolute paths of its audio files.
    duplicates : dict
        Each skipped path -> the path used instead, both relative to ``root``
        with ``/`` separators (for a loop, the folder it links back to).
    """
    real_root = str(root)  # ``root`` is resolved
    st = os.stat(real_root)
    walked = {(st.st_dev, st.st_ino): "."}  # real folder -> path walked as
    duplicates: dict[str, str] = {}
    found: list[tuple[str, str]] = []  # (relative path, real path) of audio files
    links: list[str] = []  # heap of folder links still to walk

    def rel_of(real: str) -> str:
        return os.path.relpath(real, real_root).replace(os.sep, "/")

    def walk(rel: str, real: str) -> None:
        """Walk the folder ``rel`` (real path ``real``) without following links."""
        stack = [(rel, real)]
        while stack:
            rel, real = stack.pop()
            with os.scandir(os.path.join(real_root, rel)) as it:
                entries = sorted(it, key=lambda e: e.name)
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                child = entry.name if rel == "." else f"{rel}/{entry.name}"
                child_real = os.path.join(real, entry.name)
                if entry.is_dir():
                    if entry.is_symlink():
                        heapq.heappush(links, child)
                        continue
                    info = entry.stat(follow_symlinks=False)
                    key = (info.st_dev, info.st_ino)
                    if key in walked:  # a bind mount seen twice
                        duplicates[child] = walked[key]
                    else:
                        walked[key] = child
                        stack.append((child, child_real))
                elif (
                    rel != "." and os.path.splitext(entry.name)[1].lower() in extensions
                ):
                    if entry.is_symlink():
                        child_real = os.path.realpath(entry.path)
                    found.append((child, child_real))

    walk(".", real_root)
    while links:
        link = heapq.heappop(links)
        target = os.path.realpath(os.path.join(real_root, link))
        info = os.stat(target)
        key = (info.st_dev, info.st_ino)
        holder = os.path.realpath(os.path.join(real_root, os.path.dirname(link)))
        if key in walked:
            duplicates[link] = walked[key]
        elif _is_within(holder, target) or _is_within(real_root, target):
            duplicates[link] = rel_of(target)  # a loop through a folder above
        else:
            walked[key] = link
            walk(link, target)

    by_real: dict[str, list[str]] = {}
    for rel, real in found:
        by_real.setdefault(real, []).append(rel)
    files: dict[str, list[str]] = {}
    for real, rels in by_real.items():
        link_free = [r for r in rels if os.path.join(real_root, r) == real]
        kept = link_free[0] if link_free else min(rels)
        duplicates.update((r, kept) for r in rels if r != kept)
        files.setdefault(kept.split("/")[0], []).append(
            os.path.join(real_root, *kept.split("/"))
        )
    return {c: sorted(p) for c, p in files.items()}, dict(sorted(duplicates.items()))


def _report_duplicates(
    func: str, root: Path, duplicates: dict[str, str], *, strict: bool
) -> None:
    """Warn (or raise with ``strict=True``) about paths skipped by the walk."""
    if not duplicates:
        return
    pairs = [f"{skipped} -> {kept}" for skipped, kept in duplicates.items()]
    msg = (
        f"{func}: in {root}, {len(pairs)} path(s) lead through symbolic links to a "
        "file or folder already listed under another path, or back to a folder "
        "above them (a loop), and were skipped so that no file is loaded twice "
        f"(skipped -> used: {_quote(pairs)})."
    )
    if strict:
        raise OSError(
            msg + " strict=True turns this into an error; remove the links, or pass "
            "strict=False to load each file once (the skipped paths are then "
            "listed in bunch.duplicates)."
        )
    warnings.warn(
        msg + " They are listed in bunch.duplicates.",
        DatasetLayoutWarning,
        stacklevel=3,
    )


@validate_params(
    {
        "root": [str, os.PathLike],
        "extensions": ["array-like", str],
        "n_splits": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
        "fix_length": [StrOptions(set(FIX_LENGTH_MODES))],
        "check_audio": ["boolean"],
        "strict": ["boolean"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_audio_folder(
    root,
    *,
    extensions=AUDIO_EXTENSIONS,
    n_splits=10,
    random_state=FOLD_SEED,
    fix_length="repeat",
    check_audio=False,
    strict=False,
    return_X_y=False,
):
    """Load a class-per-subfolder audio tree with stratified folds.

    Each subfolder of ``root`` is a class, named after the folder; the classes
    are the sorted folder names (label id = position). Every audio file below a
    class folder (at any depth) belongs to that class. Hidden files and
    folders (names starting with ``.``) are skipped; audio files directly in
    ``root`` have no class and are reported as ``extra``.

    Symbolic links are followed, but each real folder is walked once and each
    real file loaded once: a link to a folder already walked or to a folder
    above it (a loop) is skipped, and a file reached under several paths is
    kept under its link-free path, else under the first path in sorted order.
    What is skipped is reported (warning, ``duplicates``), so that no file sits
    in two folds.

    Parameters
    ----------
    root : str or os.PathLike
        The folder that holds the class folders.
    extensions : sequence of str, default=AUDIO_EXTENSIONS
        File extensions to collect (case-insensitive), by default
        ``.wav .flac .ogg .mp3 .au .aiff .aif``.
    n_splits : int, default=10
        Number of folds of ``cv``.
    random_state : int, RandomState instance or None, default=0
        Seed of the shuffled ``StratifiedKFold``. Pass an int for reproducible
        output across multiple function calls.
    fix_length : {"repeat", "crop", "zero", "none"}, default="repeat"
        The length rule stored in ``bunch.fix_length`` for the transformers.
        ``"repeat"`` tiles short clips and crops long ones, so it suits clips
        of any length.
    check_audio : bool, default=False
        Open every file's header with :func:`soundfile.info` and drop the ones
        that cannot be opened (warning; listed in ``unreadable``).
    strict : bool, default=False
        Raise instead of warning when audio files lie directly in ``root``
        (outside any class folder), or when symbolic links lead to a file or
        folder already listed or loop back to a folder above them.
    return_X_y : bool, default=False
        Return ``(filenames, target)`` instead of a bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``filenames`` (absolute paths, class by class, sorted), ``target``,
        ``target_names`` (sorted class folder names), ``cv``
        (``StratifiedKFold(n_splits, shuffle=True, random_state)``),
        ``fix_length``, ``protocol="cv"``, ``name="audio_folder"``, ``root``,
        ``missing`` (always empty), ``extra``, ``unreadable``,
        ``duplicates`` (dict: each path skipped by the walk -> the path used
        instead, relative to ``root``), ``DESCR``.
    (filenames, target) : tuple
        If ``return_X_y=True``.

    Raises
    ------
    OSError
        If ``root`` is not a folder or holds no class folder with audio, or with
        ``strict=True`` if audio files lie outside the class folders or paths
        were skipped as duplicates.
    ValueError
        If fewer than two classes hold audio files.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from skaudio_random.datasets import load_audio_folder
    >>> root = tempfile.mkdtemp()
    >>> for label in ("dog", "cat"):
    ...     os.makedirs(os.path.join(root, label))
    ...     for i in range(4):
    ...         sf.write(os.path.join(root, label, f"{i}.wav"), np.zeros(800), 8000)
    >>> data = load_audio_folder(root, n_splits=2)
    >>> data.target_names, data.target.tolist()
    (['cat', 'dog'], [0, 0, 0, 0, 1, 1, 1, 1])
    """
    func = "load_audio_folder"
    exts = _normalise_extensions(extensions)
    root = Path(os.path.expanduser(os.fspath(root))).resolve()
    layout = (
        f"  {root}/<class>/<file>  (one folder per class; audio files with an "
        f"extension among {', '.join(exts)}, at any depth below the class folder)"
    )
    if not root.is_dir():
        raise OSError(
            f"{func}: root={str(root)!r} is not a folder. Expected layout:\n{layout}"
        )
    subdirs = sorted(
        d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
    )
    per_class, duplicates = _scan_class_folders(root, exts)
    empty = [d for d in subdirs if d not in per_class and d not in duplicates]
    classes = [d for d in subdirs if d in per_class]
    if not classes:
        raise OSError(
            f"{func}: found no class folder holding audio files in {root}. "
            f"Expected layout:\n{layout}"
        )
    if empty:
        warnings.warn(
            f"{func}: the folder(s) {_quote(empty)} in {root} hold no audio file with "
            f"an extension among {exts} and are not used as classes.",
            DatasetLayoutWarning,
            stacklevel=2,
        )
    if len(classes) < 2:
        raise ValueError(
            f"{func}: found a single class folder with audio in {root} "
            f"({classes[0]!r}); classification needs at least two."
        )
    extra = _list_audio(root, exts)
    _report_layout(func, root, n_expected=0, missing=[], extra=extra, strict=strict)
    _report_duplicates(func, root, duplicates, strict=strict)
    filenames = [p for c in classes for p in per_class[c]]
    target = [i for i, c in enumerate(classes) for _ in per_class[c]]
    unreadable = _find_unreadable(func, root, filenames) if check_audio else []
    if unreadable:
        drop = {str(root / u) for u in unreadable}
        keep = [i for i, p in enumerate(filenames) if p not in drop]
        filenames = [filenames[i] for i in keep]
        target = [target[i] for i in keep]
    counts = Counter(target)
    small = [f"{classes[k]} ({n})" for k, n in sorted(counts.items()) if n < n_splits]
    if small:
        warnings.warn(
            f"{func}: n_splits={n_splits} is more than the number of files of the "
            f"class(es) {_quote(small)}; StratifiedKFold cannot put one of each in "
            "every fold.",
            DatasetLayoutWarning,
            stacklevel=2,
        )
    bunch = _make_bunch(
        filenames=filenames,
        target=target,
        target_names=classes,
        cv=StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state),
        descr=_load_descr("audio_folder"),
        fix_length=fix_length,
        protocol="cv",
        name="audio_folder",
        root=str(root),
        missing=[],
        extra=extra,
        unreadable=unreadable,
        duplicates=duplicates,
    )
    if return_X_y:
        return bunch.filenames, bunch.target
    return bunch


# ---------------------------------------------------------------------------
# ESC-50
# ---------------------------------------------------------------------------

_ESC50_CSV = os.path.join("meta", "esc50.csv")
_ESC50_COLUMNS = ("filename", "fold", "target", "category", "src_file")
_ESC50_CANDIDATES = ("esc50/ESC-50-master", "esc50", "ESC-50-master", "ESC-50", "")
_ESC50_LAYOUT = """\
  <data_home>/esc50/ESC-50-master/meta/esc50.csv
  <data_home>/esc50/ESC-50-master/audio/<filename>.wav
  (the GitHub archive of karolpiczak/ESC-50 unpacked in <data_home>/esc50).
  Also searched, in order: <data_home>/esc50, <data_home>/ESC-50-master,
  <data_home>/ESC-50 and <data_home> itself as the folder holding meta/ and audio/."""


def _esc50_is_root(path: Path) -> bool:
    return (path / _ESC50_CSV).is_file()


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
def load_esc50(
    data_home=None,
    *,
    download=False,
    return_X_y=False,
    check_audio=False,
    strict=False,
):
    """Load ESC-50 (2000 environmental sounds, 50 classes) with its 5 folds.

    Clips, labels (``target``, named by ``category``) and folds come from the
    dataset's ``meta/esc50.csv``; the clips are in ``audio/``. ``cv`` is the
    :class:`~sklearn.model_selection.PredefinedSplit` over the official folds
    1 ... 5 (clips cut from one recording share a fold). The clips last 5 s;
    ``fix_length="repeat"`` as for UrbanSound8K.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Folder holding ``esc50/`` (see Notes). ``None`` uses
        :func:`get_data_home`.
    download : bool, default=False
        If the dataset is not found, download the GitHub archive of the
        repository (under 1 GB, resumable) into ``<data_home>/esc50`` and
        unpack it. No checksum is pinned (GitHub builds the archive on the fly);
        the first download prints its sha256.
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
        ``filenames``, ``target``, ``target_names`` (50 categories),
        ``fold`` (1 ... 5), ``groups`` (source recording ``src_file``),
        ``cv`` (``PredefinedSplit(fold)``), ``fix_length="repeat"``,
        ``protocol="cv"``, ``name="esc50"``, ``root``, ``missing``,
        ``extra``, ``unreadable``, ``DESCR``.
    (filenames, target) : tuple
        If ``return_X_y=True``.

    Raises
    ------
    OSError
        If the dataset is not found, if no listed clip is present, if the clips
        present and readable all lie in one fold, or with ``strict=True`` if
        clips are missing or extra.
    ValueError
        If the metadata lacks a column, its labels are inconsistent, a fold is
        outside 1 ... 5, all rows are in one fold, or a file name is listed
        more than once (the error names the CSV rows).

    Notes
    -----
    Folders searched for ``meta/esc50.csv``, in order:
    ``<data_home>/esc50/ESC-50-master``, ``<data_home>/esc50``,
    ``<data_home>/ESC-50-master``, ``<data_home>/ESC-50``, ``<data_home>``.

    Examples
    --------
    >>> from skaudio_random.datasets import load_esc50
    >>> esc = load_esc50("~/data", download=True)  # doctest: +SKIP
    >>> esc.cv.get_n_splits()  # doctest: +SKIP
    5
    """
    func = "load_esc50"
    home = get_data_home(data_home)
    root, looked = _find_root(home, _ESC50_CANDIDATES, _esc50_is_root)
    if root is None and download:
        _download.fetch_archive(_download.REMOTES["esc50"], Path(home, "esc50"))
        root, looked = _find_root(home, _ESC50_CANDIDATES, _esc50_is_root)
    if root is None:
        raise _not_found_error(
            "ESC-50",
            looked,
            _ESC50_LAYOUT,
            "Pass download=True to fetch the GitHub archive (under 1 GB).",
        )
    csv_path = root / _ESC50_CSV
    rows = _read_csv(csv_path, _ESC50_COLUMNS, func)
    folds = _int_column(rows, "fold", csv_path, func)
    targets = _int_column(rows, "target", csv_path, func)
    _check_fold_metadata(
        folds,
        [r["filename"] for r in rows],
        n_folds=5,
        name_column="filename",
        path=csv_path,
        func=func,
    )
    names = _label_names(targets, [r["category"] for r in rows], csv_path, func)
    listed = {r["filename"] for r in rows}
    on_disk = set(_list_audio(root / "audio"))
    missing = [f"audio/{r['filename']}" for r in rows if r["filename"] not in on_disk]
    extra = [f"audio/{n}" for n in sorted(on_disk - listed)]
    keep = [i for i, r in enumerate(rows) if r["filename"] in on_disk]
    if not keep:
        raise OSError(
            f"{func}: none of the {len(rows)} clips listed in {csv_path} is in "
            f"{root / 'audio'}. Expected layout:\n{_ESC50_LAYOUT}"
        )
    _report_layout(
        func, root, n_expected=len(rows), missing=missing, extra=extra, strict=strict
    )
    paths = [str(root / "audio" / rows[i]["filename"]) for i in keep]
    unreadable = _find_unreadable(func, root, paths) if check_audio else []
    drop = {str(root / u) for u in unreadable}
    keep = [i for i, p in zip(keep, paths, strict=True) if p not in drop]
    fold = np.asarray([folds[i] for i in keep], dtype=np.int64)
    _check_folds_present(fold, n_listed=len(rows), root=root, func=func)
    bunch = _make_bunch(
        filenames=[str(root / "audio" / rows[i]["filename"]) for i in keep],
        target=[targets[i] for i in keep],
        target_names=names,
        cv=PredefinedSplit(fold),
        descr=_load_descr("esc50"),
        fix_length="repeat",
        protocol="cv",
        name="esc50",
        fold=fold,
        groups=np.asarray([rows[i]["src_file"] for i in keep], dtype=str),
        root=str(root),
        missing=missing,
        extra=extra,
        unreadable=unreadable,
    )
    if return_X_y:
        return bunch.filenames, bunch.target
    return bunch
