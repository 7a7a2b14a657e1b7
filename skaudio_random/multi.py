"""Several feature transformers over the same clips, each file decoded once.

``transformer.transform(files)`` decodes and resamples every file for every
transformer; with the paper's eleven CNNs and the MFCC baseline a GTZAN-sized
set is decoded twelve times. :func:`featurize` decodes each clip once per
sample rate and hands the decoded batch to every transformer that still needs
it, so the features (and the per-clip cache entries) are exactly those of each
transformer's own ``transform``: every transformer sees its clips in the same
batches, in the same order.

Spectrogram models whose log-mel front ends agree exactly (same
:class:`~skaudio_random.LogMelSpectrogram` parameters, sample rate and device,
and a frame rule that leaves the audio alone, or ``zero`` padding to the same
length) also share each clip's whole-clip log-mel: it is computed once, in
parallel over the clips on the CNNs' CPU workers (one thread per clip, as each
model would), and each model applies its own frame rule to it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import validate_params

from ._base import AudioFeatureTransformer
from ._cache import FeatureCache, resolve_memory_location
from ._cnn_base import map_single_threaded
from ._input import AudioInput, iter_decoded_batches, n_decode_workers
from .spectrogram import whole_clip_log_mel

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
        whole_mel_key = getattr(transformer, "_whole_mel_key", lambda: None)
        self.mel_key = whole_mel_key()  # models with equal keys share log-mels
        self.buffer: list[tuple[int, np.ndarray, object]] = []
        self.seconds = 0.0

    def add(self, i, clip, audio, fingerprints, *, mel=None, flush=False):
        if i is not None and i in self.wanted:
            self.buffer.append((i, clip, mel))
        while len(self.buffer) >= self.batch_size or (flush and self.buffer):
            batch, self.buffer = (
                self.buffer[: self.batch_size],
                self.buffer[self.batch_size :],
            )
            self.run(batch, audio, fingerprints)

    def run(self, batch, audio, fingerprints):
        """The transformer's own batch step, as ``transform`` runs it."""
        idx = [i for i, _, _ in batch]
        clips = [c for _, c, _ in batch]
        names = [audio.describe(i) for i in idx]
        mels = [m for _, _, m in batch]
        t0 = time.perf_counter()
        if any(m is not None for m in mels):
            feats = self.transformer._transform_clips(clips, names, mels=mels)
        else:
            feats = self.transformer._transform_clips(clips, names)
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


def _shared_mels(group, idx, clips, audio) -> tuple[dict, float]:
    """Whole-clip log-mels of a decoded batch, once per front-end key.

    Computed for the clips that at least two models of a key still need and
    that are at least one STFT window long or zero-padded (the audio-side rule
    for a shorter clip differs between ``crop`` and ``repeat``, which share a
    key: each model handles it itself).
    Returns ``{(key, position in batch): mel}`` and the CPU seconds spent.
    """
    by_key = defaultdict(list)
    for job in group:
        if job.mel_key is not None:
            by_key[job.mel_key].append(job)
    tasks = []
    for key, members in by_key.items():
        t = members[0].transformer  # any member: equal keys, equal log-mels
        for pos, (i, y) in enumerate(zip(idx, clips, strict=True)):
            users = sum(i in job.wanted for job in members)
            whole = y.shape[-1] >= t._frontend.n_fft or t.fix_length == "zero"
            if users >= 2 and whole:
                tasks.append((key, pos, t))

    def one(k: int):
        key, pos, t = tasks[k]
        c = time.thread_time()
        mel = whole_clip_log_mel(
            clips[pos],
            t._frontend,
            t.n_frames,
            t.fix_length,
            audio.describe(idx[pos]),
            t._device,
        )
        return mel, time.thread_time() - c

    results = map_single_threaded(one, len(tasks))
    mels = {task[:2]: mel for task, (mel, _) in zip(tasks, results, strict=True)}
    return mels, sum(cpu for _, cpu in results)


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
    transformer, and its log-mel is computed once for all the spectrogram
    models on the CPU whose front ends agree (the paper's eight and CNN14 with
    their defaults share one; see the module's notes).

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
        Also return the seconds spent in each transformer's computation, in
        decoding (waiting for decoded clips), and in the shared log-mel
        (wall seconds, and CPU seconds of its threads).

    Returns
    -------
    features : list of ndarray of shape (n_clips, n_features_out), dtype float32
        One matrix per transformer, in order.
    seconds : dict
        Only with ``return_seconds``: ``{"transformers": [...], "decode": s,
        "log_mel": s, "log_mel_cpu": s}``.

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
    decode = log_mel = log_mel_cpu = 0.0
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
            t1 = time.perf_counter()
            decode += t1 - t0
            mels, cpu = _shared_mels(group, idx, clips, audio)
            log_mel += time.perf_counter() - t1
            log_mel_cpu += cpu
            for pos, (i, clip) in enumerate(zip(idx, clips, strict=True)):
                for k, job in enumerate(group):  # a copy each: none sees another's
                    last = k == len(group) - 1
                    mel = mels.get((job.mel_key, pos))
                    if mel is not None and i in job.wanted:
                        mel = mel.clone()
                    job.add(
                        i, clip if last else clip.copy(), audio, fingerprints, mel=mel
                    )
            t0 = time.perf_counter()
        for job in group:
            job.add(None, None, audio, fingerprints, flush=True)
    features = [job.out for job in jobs]
    if return_seconds:
        return features, {
            "transformers": [job.seconds for job in jobs],
            "decode": decode,
            "log_mel": log_mel,
            "log_mel_cpu": log_mel_cpu,
        }
    return features
