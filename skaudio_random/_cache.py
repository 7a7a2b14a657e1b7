"""A per-clip feature cache on disk.

Each clip's feature vector is stored as one file named after the hash of the
clip's content, inside a folder named after the hash of every parameter that
changes the features. Transformers with an int ``random_state`` therefore share
their entries across clones: a :class:`~sklearn.model_selection.GridSearchCV`
over classifier parameters computes each clip's features once, and an
interrupted run resumes where it stopped (finished clips are on disk, written
atomically).

Every entry carries a checksum over its vector *and* its key (the clip's
fingerprint and the parameter folder's hash), so a damaged entry, or another
clip's valid entry copied in its place, is detected, recomputed and overwritten
with a warning. A cache folder that cannot be written (read-only disk, no
permission, full disk) is still read: stored entries are served and the rest is
computed without being stored, with one warning per transform.

Trust: a cache folder is trusted like the code. Whoever can write it can
choose the features it returns: a forged entry with a valid checksum is served
(the checksum detects damage, not forgery). So the cache warns, once per folder
and process, when a folder it reads (the ``memory`` location unless it is
sticky like ``/tmp``, ``skaudio_random_features``, the parameter folder and its
subfolders) is owned by another user or writable by group (other than its
owner's private group) or others. It never writes through a symbolic link
(a linked folder makes it read-only, a linked ``params.txt`` is left alone,
with a warning), writes every file to a temporary file in its folder and
renames it into place, and reads only regular files (an entry that is a pipe
is recomputed rather than waited on).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import warnings
from pathlib import Path

import joblib
import numpy as np

__all__ = ["FeatureCache", "resolve_memory_location"]

#: Start of every entry file, then the 32-byte checksum, then the float32 vector.
_MAGIC = b"SKARFEAT1\n"
_DIGEST_SIZE = 32
# Parameter folders warned about in this process: one warning each.
_TRUST_WARNED: set[str] = set()


def _private_group(st: os.stat_result) -> bool:
    """Whether ``st``'s group is its owner's own (a user private group, as made
    by Debian or Ubuntu for each user, whose umask then leaves group write on)."""
    try:
        import grp
        import pwd

        group = grp.getgrgid(st.st_gid)
        return not group.gr_mem and group.gr_name == pwd.getpwuid(st.st_uid).pw_name
    except (ImportError, KeyError):
        return False


def _other_writers(st: os.stat_result, *, sticky_ok: bool) -> str | None:
    """Who besides the current user (and root) can write a folder, or ``None``.

    ``sticky_ok``: a sticky folder (``/tmp``) lets others add files but not
    move ours, which is enough for the ``memory`` location, not for the
    folders that hold the entries.
    """
    if st.st_uid not in (os.geteuid(), 0):
        return f"is owned by user id {st.st_uid}"
    if sticky_ok and st.st_mode & stat.S_ISVTX:
        return None
    mode = stat.filemode(st.st_mode)
    if st.st_mode & stat.S_IWOTH:
        return f"is writable by all users ({mode})"
    if st.st_mode & stat.S_IWGRP and not _private_group(st):
        return f"is writable by group id {st.st_gid} ({mode})"
    return None


def resolve_memory_location(memory) -> Path | None:
    """The cache folder for a ``memory`` parameter, or ``None`` when caching is off.

    ``memory`` is ``None``, a folder path, or a :class:`joblib.Memory` (its
    ``location`` is used; ``Memory(None)`` disables caching).
    """
    if memory is None:
        return None
    if isinstance(memory, joblib.Memory):
        return None if memory.location is None else Path(memory.location)
    if isinstance(memory, (str, os.PathLike)):
        return Path(os.path.expanduser(os.fspath(memory)))
    raise ValueError(
        "memory must be None, a folder path or a joblib.Memory; got "
        f"{type(memory).__name__}."
    )


class FeatureCache:
    """Features of single clips, keyed by content and by the feature parameters.

    Parameters
    ----------
    location : path-like
        Root folder; features go under ``location/skaudio_random_features/``.
    key : dict
        Everything that changes the features (estimator class, parameters, seed,
        feature-format version). Hashed with :func:`joblib.hash`.
    n_features : int
        Expected vector length; a stored entry of another length is recomputed.

    Notes
    -----
    An entry is ``_MAGIC``, then a BLAKE2b checksum of (parameter hash, clip
    fingerprint, vector bytes), then the little-endian float32 vector. An entry
    that is truncated, fails its checksum, or holds non-finite values is
    reported with a :class:`UserWarning` naming the file and is recomputed.
    """

    def __init__(self, location, key: dict, n_features: int) -> None:
        self.key_hash = joblib.hash(key)
        self.folder = Path(location) / "skaudio_random_features" / self.key_hash
        self.n_features = n_features
        self.writable = True
        self._write_error: OSError | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self._no_links(self.folder.parent, self.folder):
                self._write_readme(key)
        except OSError as exc:
            self._read_only(f"{type(exc).__name__}: {exc}", exc)
        self._warn_other_writers(Path(location))

    def _write_readme(self, key: dict) -> None:
        """``params.txt``: what the parameter folder's hash stands for."""
        readme = self.folder / "params.txt"
        if readme.is_symlink():
            warnings.warn(
                f"{readme} is a symbolic link; the feature cache does not write "
                "through links (was it planted by someone who can write the folder?) "
                "and leaves it alone.",
                UserWarning,
                stacklevel=4,
            )
        elif not readme.exists():
            text = "\n".join(f"{k} = {v!r}" for k, v in sorted(key.items()))
            self._write_file(readme, text.encode())

    def _no_links(self, *folders: Path) -> bool:
        """False, with the cache made read-only, if a folder is a symbolic link."""
        for folder in folders:
            if folder.is_symlink():
                self._read_only(
                    f"{folder} is a symbolic link, which the cache does not write "
                    "through"
                )
                return False
        return True

    def _warn_other_writers(self, location: Path) -> None:
        """Warn, once per parameter folder, if someone else can write the cache."""
        if os.name != "posix" or str(self.folder) in _TRUST_WARNED:
            return
        folders = [(location, True), (self.folder.parent, False), (self.folder, False)]
        try:
            folders += [
                (Path(e.path), False)
                for e in os.scandir(self.folder)
                if e.is_dir(follow_symlinks=False)
            ]
            for folder, sticky_ok in folders:
                who = _other_writers(os.stat(folder), sticky_ok=sticky_ok)
                if who is not None:
                    break
            else:
                return
        except OSError:  # unreadable: the reads report it
            return
        _TRUST_WARNED.add(str(self.folder))
        warnings.warn(
            f"the feature cache folder {folder} {who}: anyone who can write it can "
            "choose the features this cache returns (its checksums detect damage, "
            "not forgery). Use a cache folder that only you can write "
            f"(chmod go-w {folder}), or one whose writers you trust.",
            UserWarning,
            stacklevel=4,
        )

    def _path(self, fingerprint: str) -> Path:
        return self.folder / fingerprint[:2] / f"{fingerprint}.f32"

    def _checksum(self, fingerprint: str, payload: bytes) -> bytes:
        h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
        h.update(self.key_hash.encode())
        h.update(b"\0" + fingerprint.encode() + b"\0")
        h.update(payload)
        return h.digest()

    def get(self, fingerprint: str) -> np.ndarray | None:
        """The stored vector, or ``None`` if absent or damaged (with a warning)."""
        path = self._path(fingerprint)
        head = len(_MAGIC) + _DIGEST_SIZE
        try:
            data = _read_regular(path, head + 4 * self.n_features)
        except FileNotFoundError:
            return None
        except OSError as exc:
            warnings.warn(
                f"feature cache entry {path} cannot be read ({exc}); recomputing it.",
                UserWarning,
                stacklevel=3,
            )
            return None
        payload = b"" if data is None else data[head:]
        problem = None
        if data is None:
            problem = "is not a regular file"
        elif not data.startswith(_MAGIC) or len(payload) != 4 * self.n_features:
            problem = "is truncated or not a feature entry"
        elif data[len(_MAGIC) : head] != self._checksum(fingerprint, payload):
            problem = "fails its checksum (damaged, or another clip's entry)"
        else:
            vec = np.frombuffer(payload, dtype="<f4").astype(np.float32)
            if np.isfinite(vec).all():
                return vec
            problem = "holds non-finite values"
        warnings.warn(
            f"feature cache entry {path} {problem}; recomputing and overwriting it.",
            UserWarning,
            stacklevel=3,
        )
        return None

    def put(self, fingerprint: str, vec: np.ndarray) -> None:
        """Store ``vec`` atomically (write to a temporary file, then rename).

        If the folder cannot be written, the cache turns read-only: it warns
        once and stores nothing more.
        """
        if not self.writable:
            return
        path = self._path(fingerprint)
        payload = np.ascontiguousarray(vec, dtype="<f4").tobytes()
        data = _MAGIC + self._checksum(fingerprint, payload) + payload
        try:
            if self._no_links(path.parent):
                path.parent.mkdir(exist_ok=True)
                self._write_file(path, data)
        except OSError as exc:
            self._read_only(f"{type(exc).__name__}: {exc}", exc)

    @staticmethod
    def _write_file(path: Path, data: bytes) -> None:
        """Write ``data`` to a new temporary file beside ``path``, then rename it
        over ``path`` (a link there is replaced, never followed)."""
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            if tmp is not None and os.path.lexists(tmp):
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            raise

    def _read_only(self, reason: str, exc: OSError | None = None) -> None:
        self.writable = False
        self._write_error = exc
        warnings.warn(
            f"the feature cache folder {self.folder} cannot be written "
            f"({reason}); stored entries are used and the other "
            "clips are computed without being stored.",
            UserWarning,
            stacklevel=4,
        )


def _read_regular(path: Path, size: int) -> bytes | None:
    """Up to ``size + 1`` bytes of ``path``; ``None`` if it is not a regular file.

    Opened without blocking, so an entry replaced by a pipe is not waited on,
    and read no further than an entry's size, so a huge file is not loaded.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(size + 1)
