"""Audio input validation and streamed, parallel decoding.

Every feature transformer accepts what users have:

- a sequence of file paths (``str`` or ``os.PathLike``), decoded on demand;
- a sequence of 1-D float arrays of different lengths, already at the target rate;
- a 2-D float array of equal-length waveforms ``(n_clips, n_times)``, already at
  the target rate.

Files are decoded in batches by a thread pool while the previous batch computes,
so a dataset is never held in memory whole.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from joblib import effective_n_jobs

from .audio import (
    INT_SCALE_PEAK,
    check_waveform,
    load_audio,
    peak_amplitude,
    stream_bytes,
    warn_integer_scale,
)

__all__ = ["AudioInput", "iter_decoded_batches"]

_HASH_CHUNK = 1 << 20
# File hashes by file identity (path, device, inode, size, mtime, ctime): a grid
# search re-reads no file to find its cached features. The ctime is set by the
# kernel on every write and cannot be restored (cp -p and rsync -t restore the
# mtime only), so new content under a restored mtime gets a new key.
_FILE_HASHES: dict[tuple, str] = {}
# A file changed less than this long ago is hashed again rather than memoised:
# the kernel's timestamps are coarse (milliseconds), so a second write within the
# same tick could otherwise keep the ctime of the first ("racy" entries, as git
# calls them).
_RACY_NS = 2_000_000_000


def _file_identity(path: str) -> tuple[tuple, bool]:
    """The memo key of ``path`` and whether it may be memoised yet."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"audio file {path!r} does not exist.") from None
    key = (
        os.path.abspath(path),
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
    )
    settled = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS
    return key, settled


def _is_path(item) -> bool:
    return isinstance(item, (str, os.PathLike))


class AudioInput:
    """A validated, indexable view over the clips of ``X``.

    Parameters
    ----------
    X : sequence of path-like, sequence of 1-D float arrays, or 2-D float array
        The clips.
    name : str, default="X"
        How the input is named in error messages.

    Raises
    ------
    ValueError
        If ``X`` is a single path, empty, a 1-D or 3-D numeric array, a non-float
        array, or holds an item that is neither a path nor a 1-D float waveform.
    """

    def __init__(self, X, *, name: str = "X") -> None:
        self.name = name
        if _is_path(X):
            raise ValueError(
                f"{name} must be a list of audio file paths or waveforms; got the "
                f"single path {os.fspath(X)!r}. Wrap it in a list: [{os.fspath(X)!r}]."
            )
        if hasattr(X, "toarray") or hasattr(X, "tocsr"):
            raise ValueError(
                f"{name} must hold audio; sparse matrices are not supported."
            )
        if hasattr(X, "columns") and hasattr(X, "iloc"):  # a pandas-like DataFrame
            X = self._from_frame(X)
        if isinstance(X, np.ndarray):
            items = self._from_array(X)
        elif isinstance(X, Sequence) or hasattr(X, "__iter__"):
            items = list(X)
        else:
            raise ValueError(
                f"{name} must be a list of audio file paths, a list of 1-D waveforms "
                f"or a 2-D array (n_clips, n_times); got {type(X).__name__}."
            )
        if len(items) == 0:
            raise ValueError(
                f"{name} holds no clips (0 items); at least 1 is required."
            )
        self.items = [self._check_item(item, i) for i, item in enumerate(items)]
        self._warn_integer_scale()

    def _from_frame(self, X):
        """A DataFrame's clips: its one column, or its rows when all are numeric.

        Iterating a DataFrame yields its column names, never its values, so a
        frame is unpacked here: one column of paths or waveforms gives its
        values; several numeric columns are a 2-D array ``(n_clips, n_times)``.
        """
        columns = list(X.columns)
        if len(columns) == 1:
            return np.asarray(X.iloc[:, 0].to_numpy(), dtype=object)
        kinds = {getattr(dtype, "kind", "O") for dtype in X.dtypes}
        if kinds and kinds <= set("fiub"):
            return np.asarray(X.to_numpy())
        shown = ", ".join(repr(c) for c in columns[:5])
        more = f" and {len(columns) - 5} more" if len(columns) > 5 else ""
        raise ValueError(
            f"{self.name} is a DataFrame with {len(columns)} columns ({shown}{more}); "
            "pass the one column that holds the file paths or waveforms, e.g. "
            f"{self.name}[{columns[0]!r}] if it is that one."
            if columns
            else f"{self.name} is a DataFrame with no columns; it holds no clips."
        )

    def _warn_integer_scale(self) -> None:
        """One warning for every waveform that peaks far above full scale (1.0)."""
        loud = []
        for i, item in enumerate(self.items):
            if not isinstance(item, str):
                peak = peak_amplitude(item)
                if peak > INT_SCALE_PEAK:
                    loud.append((i, peak))
        if not loud:
            return
        i, peak = max(loud, key=lambda p: p[1])
        others = f" and {len(loud) - 1} more clip(s)" if len(loud) > 1 else ""
        warn_integer_scale(self.describe(i), peak, others, stacklevel=3)

    def _from_array(self, X: np.ndarray) -> list:
        if X.dtype.kind in "USO":
            if X.ndim != 1:
                raise ValueError(
                    f"{self.name} of file paths must be 1-D; got an array of shape "
                    f"{X.shape}."
                )
            return list(X)
        if np.iscomplexobj(X):
            raise ValueError(
                f"Complex data not supported: {self.name} must hold real audio samples."
            )
        if X.ndim == 2:
            if not np.issubdtype(X.dtype, np.floating):
                raise ValueError(
                    f"{self.name} must hold floating-point audio samples; got dtype "
                    f"{X.dtype}. Convert integer PCM with X / np.iinfo(X.dtype).max."
                )
            if X.shape[1] == 0:
                raise ValueError(
                    f"{self.name} has 0 feature(s) (shape={X.shape}) while a minimum "
                    "of 1 is required: each row must be a waveform of at least one "
                    "sample."
                )
            return list(X)
        if X.ndim == 1:
            raise ValueError(
                f"{self.name} must be a list of clips or a 2-D array (n_clips, "
                f"n_times); got a 1-D array of shape {X.shape}. Reshape your data: for "
                "one waveform y use [y] or y[None, :]."
            )
        raise ValueError(
            f"{self.name} must be a 2-D array (n_clips, n_times) or a list of clips; "
            f"got a {X.ndim}-D array of shape {X.shape}."
        )

    def _check_item(self, item, i: int):
        if _is_path(item):
            return os.fspath(item)
        arr = np.asarray(item)
        if arr.dtype.kind in "USO":
            raise ValueError(
                f"{self.name}[{i}] must be a file path (str or os.PathLike) or a 1-D "
                f"float waveform; got {type(item).__name__}."
            )
        return check_waveform(arr, name=f"{self.name}[{i}]")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_paths(self) -> bool:
        return any(isinstance(item, str) for item in self.items)

    def describe(self, i: int) -> str:
        """How clip ``i`` is named in messages: its path, or ``X[i]``."""
        item = self.items[i]
        return item if isinstance(item, str) else f"{self.name}[{i}]"

    def load(self, i: int, sr: int, max_samples: int | None = None) -> np.ndarray:
        """Clip ``i`` as float32 mono at ``sr`` (arrays are taken as already at ``sr``).

        A file is decoded only up to ``max_samples`` samples when that is given
        (arrays are returned whole: they are in memory already).
        """
        item = self.items[i]
        if isinstance(item, str):
            return load_audio(item, sr=sr, max_samples=max_samples)
        return item

    def fingerprint(self, i: int) -> str:
        """A hash of clip ``i``'s content (file bytes or samples), for caching.

        A path that is not a regular file is read once (see
        :func:`~skaudio_random.audio.stream_bytes`): its hash is that of a file
        holding the same bytes.
        """
        item = self.items[i]
        if isinstance(item, str):
            h = hashlib.blake2b(b"file:", digest_size=20)
            data = stream_bytes(item)  # a pipe or device: its bytes, read once
            if data is not None:
                h.update(data)
                return h.hexdigest()
            key, settled = _file_identity(item)
            if key in _FILE_HASHES:
                return _FILE_HASHES[key]
            with open(item, "rb") as f:
                while chunk := f.read(_HASH_CHUNK):
                    h.update(chunk)
            if settled:
                _FILE_HASHES[key] = h.hexdigest()
            return h.hexdigest()
        h = hashlib.blake2b(b"array:", digest_size=20)
        h.update(item.tobytes())
        return h.hexdigest()


def n_decode_workers(n_jobs: int | None) -> int:
    """Threads used to decode files: ``n_jobs`` as in joblib, at least one."""
    return max(1, effective_n_jobs(n_jobs) if n_jobs is not None else 1)


def iter_decoded_batches(
    load: Callable[[int], np.ndarray],
    indices: Sequence[int],
    batch_size: int,
    n_workers: int = 1,
    prefetch: int = 2,
) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """Yield ``(batch_indices, clips)`` while the next batches decode in threads.

    Parameters
    ----------
    load : callable
        ``load(i)`` returns clip ``i`` as a 1-D array.
    indices : sequence of int
        Clips to load, in order.
    batch_size : int
        Clips per yielded batch.
    n_workers : int, default=1
        Decoding threads. libsndfile and soxr release the GIL, so threads decode in
        parallel with each other and with torch.
    prefetch : int, default=2
        Batches decoded ahead of the one being consumed; memory holds at most
        ``prefetch + 1`` batches.
    """
    chunks = [
        list(indices[k : k + batch_size]) for k in range(0, len(indices), batch_size)
    ]
    if not chunks:
        return
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        pending: deque = deque()
        next_chunk = 0

        def submit() -> None:
            nonlocal next_chunk
            if next_chunk < len(chunks):
                chunk = chunks[next_chunk]
                pending.append((chunk, [pool.submit(load, i) for i in chunk]))
                next_chunk += 1

        for _ in range(prefetch + 1):
            submit()
        try:
            while pending:
                chunk, futures = pending.popleft()
                clips = [f.result() for f in futures]
                submit()
                yield chunk, clips
        finally:
            for _, futures in pending:
                for f in futures:
                    f.cancel()
