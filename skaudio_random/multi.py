"""Several feature transformers over the same clips, each file decoded once.

``transformer.transform(files)`` decodes and resamples every file for every
transformer; with the paper's eleven CNNs and the MFCC baseline a GTZAN-sized
set is decoded twelve times. :func:`featurize` decodes each clip once per
sample rate and hands the decoded batch to every transformer that still needs
it, so the features (and the per-clip cache entries) are exactly those of each
transformer's own ``transform``: every transformer sees its clips in the same
batches, in the same order.
"""

from __future__ import annotations

import time
from collections import defaultdict
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import validate_params

from ._base import AudioFeatureTransformer
from ._cache import FeatureCache, resolve_memory_location
from ._input import AudioInput, iter_decoded_batches, n_decode_workers

__all__ = ["featurize"]


class _Job:
    """One transformer's outputs, cache and pending clips during :func:`featurize`."""

    def __init__(self, transformer, audio, fingerprints):
        transformer._validate_params()
        transformer._prepare()
        self.transformer = transformer
        self.batch_size = transformer._batch_size()
        n_features = transformer._n_features()
        self.out = np.empty((len(audio), n_features), dtype=np.float32)
        location = resolve_memory_location(transformer.memory)
        self.cache = None
        self.todo = list(range(len(audio)))
        if location is not None:
            self.cache = FeatureCache(location, transformer._cache_key(), n_features)
            self.todo = []
            for i, fp in enumerate(fingerprints()):
                vec = self.cache.get(fp)
                if vec is None:
                    self.todo.append(i)
                else:
                    self.out[i] = vec
        self.wanted = set(self.todo)
        self.buffer: list[tuple[int, np.ndarray]] = []
        self.seconds = 0.0

    def add(self, i, clip, audio, fingerprints, *, flush=False):
        if i is not None and i in self.wanted:
            self.buffer.append((i, clip))
        while len(self.buffer) >= self.batch_size or (flush and self.buffer):
            batch, self.buffer = (
                self.buffer[: self.batch_size],
                self.buffer[self.batch_size :],
            )
            self.run(batch, audio, fingerprints)

    def run(self, batch, audio, fingerprints):
        """The transformer's own batch step, as ``transform`` runs it."""
        idx = [i for i, _ in batch]
        t0 = time.perf_counter()
        feats = self.transformer._transform_clips(
            [c for _, c in batch], [audio.describe(i) for i in idx]
        )
        self.seconds += time.perf_counter() - t0
        for row, i in zip(feats, idx, strict=True):
            if not np.isfinite(row).all():
                raise RuntimeError(
                    f"non-finite features for {audio.describe(i)}; please report "
                    "this as a bug."
                )
            self.out[i] = row
            if self.cache is not None:
                self.cache.put(fingerprints()[i], row)


@validate_params(
    {
        "transformers": [list, tuple],
        "X": ["array-like"],
        "n_jobs": [Integral, None],
        "return_seconds": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def featurize(transformers, X, *, n_jobs=None, return_seconds=False):
    """Features of the same clips from several transformers, decoding each file once.

    Equivalent to ``[t.transform(X) for t in transformers]`` (bitwise the same
    features, the same per-clip cache entries in each transformer's
    ``memory``), but each clip is decoded and resampled once per sample rate
    for all the transformers that have not cached it, instead of once per
    transformer.

    Parameters
    ----------
    transformers : list of AudioFeatureTransformer
        The package's transformers (:class:`~skaudio_random.MFCC`, the CNNs),
        with their own parameters (``memory``, ``device``, ...).
    X : sequence of path-like, sequence of 1-D arrays, or 2-D array
        Audio clips, as for their ``transform`` (a 2-D array is
        ``(n_clips, n_times)``).
    n_jobs : int, default=None
        Threads decoding files (as joblib counts them), shared by all the
        transformers; their own ``n_jobs`` is not used here.
    return_seconds : bool, default=False
        Also return the seconds spent in each transformer's computation, and
        in decoding (waiting for decoded clips).

    Returns
    -------
    features : list of ndarray of shape (n_clips, n_features_out), dtype float32
        One matrix per transformer, in order.
    seconds : dict
        Only with ``return_seconds``: ``{"transformers": [...], "decode": s}``.

    Raises
    ------
    TypeError
        If an element of ``transformers`` is not an audio feature transformer
        of this package.

    Examples
    --------
    >>> from skaudio_random import MFCC, VGG, featurize
    >>> from skaudio_random.datasets import load_spoken_digits
    >>> files = load_spoken_digits().filenames[:4]
    >>> vgg = VGG(width=8, n_frames=47, fix_length="repeat")
    >>> mfcc_X, vgg_X = featurize([MFCC(), vgg], files)
    >>> mfcc_X.shape, vgg_X.shape
    ((4, 120), (4, 10))
    """
    bad = [
        type(t).__name__
        for t in transformers
        if not isinstance(t, AudioFeatureTransformer)
    ]
    if bad:
        raise TypeError(
            "featurize takes the package's audio feature transformers; got "
            + ", ".join(bad)
            + "."
        )
    audio = AudioInput(X)
    prints: list[str] = []

    def fingerprints() -> list[str]:  # computed once, when a cache needs them
        if not prints:
            prints.extend(audio.fingerprint(i) for i in range(len(audio)))
        return prints

    jobs = [_Job(t, audio, fingerprints) for t in transformers]
    by_rate = defaultdict(list)
    for job in jobs:
        by_rate[job.transformer.sr].append(job)
    decode = 0.0
    for sr, group in by_rate.items():
        needed = sorted(set().union(*(job.wanted for job in group)))
        batch = max(job.batch_size for job in group)
        batches = iter_decoded_batches(
            lambda i, sr=sr: audio.load(i, sr),
            needed,
            batch,
            n_workers=n_decode_workers(n_jobs),
        )
        t0 = time.perf_counter()
        for idx, clips in batches:
            decode += time.perf_counter() - t0
            for i, clip in zip(idx, clips, strict=True):
                for k, job in enumerate(group):  # a copy each: none sees another's
                    last = k == len(group) - 1
                    job.add(i, clip if last else clip.copy(), audio, fingerprints)
            t0 = time.perf_counter()
        for job in group:
            job.add(None, None, audio, fingerprints, flush=True)
    features = [job.out for job in jobs]
    if return_seconds:
        return features, {
            "transformers": [job.seconds for job in jobs],
            "decode": decode,
        }
    return features
