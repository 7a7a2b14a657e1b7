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
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import joblib
import numpy as np

__all__ = ["FeatureCache", "resolve_memory_location"]

#: Start of every entry file, then the 32-byte checksum, then the float32 vector.
_MAGIC = b"SKARFEAT1\n"
_DIGEST_SIZE = 32


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
            readme = self.folder / "params.txt"
            if not readme.exists():
                readme.write_text(
                    "\n".join(f"{k} = {v!r}" for k, v in sorted(key.items()))
                )
        except OSError as exc:
            self._read_only(exc)

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
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            warnings.warn(
                f"feature cache entry {path} cannot be read ({exc}); recomputing it.",
                UserWarning,
                stacklevel=3,
            )
            return None
        head = len(_MAGIC) + _DIGEST_SIZE
        payload = data[head:]
        problem = None
        if not data.startswith(_MAGIC) or len(payload) != 4 * self.n_features:
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
        tmp = None
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None and os.path.exists(tmp):
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            self._read_only(exc)
        except BaseException:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _read_only(self, exc: OSError) -> None:
        self.writable = False
        self._write_error = exc
        warnings.warn(
            f"the feature cache folder {self.folder} cannot be written "
            f"({type(exc).__name__}: {exc}); stored entries are used and the other "
            "clips are computed without being stored.",
            UserWarning,
            stacklevel=4,
        )
