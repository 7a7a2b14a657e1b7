"""A per-clip feature cache on disk.

Each clip's feature vector is stored as one ``.npy`` file named after the hash of
the clip's content, inside a folder named after the hash of every parameter that
changes the features. A :class:`~sklearn.model_selection.GridSearchCV` over
classifier parameters therefore computes each clip's features once, and an
interrupted run resumes where it stopped: finished clips are on disk, written
atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import joblib
import numpy as np

__all__ = ["FeatureCache", "resolve_memory_location"]


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
        f"memory must be None, a folder path or a joblib.Memory; got {type(memory).__name__}."
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
        Expected vector length; a stored file of another length is recomputed.
    """

    def __init__(self, location, key: dict, n_features: int) -> None:
        self.folder = Path(location) / "skaudio_random_features" / joblib.hash(key)
        self.n_features = n_features
        self.folder.mkdir(parents=True, exist_ok=True)
        readme = self.folder / "params.txt"
        if not readme.exists():
            readme.write_text("\n".join(f"{k} = {v!r}" for k, v in sorted(key.items())))

    def _path(self, fingerprint: str) -> Path:
        return self.folder / fingerprint[:2] / f"{fingerprint}.npy"

    def get(self, fingerprint: str) -> np.ndarray | None:
        """The stored vector, or ``None`` if absent or unreadable."""
        path = self._path(fingerprint)
        try:
            vec = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if vec.shape != (self.n_features,) or not np.isfinite(vec).all():
            return None
        return vec

    def put(self, fingerprint: str, vec: np.ndarray) -> None:
        """Store ``vec`` atomically (write to a temporary file, then rename)."""
        path = self._path(fingerprint)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.asarray(vec, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
