"""The base class of the random-weight CNN transformers.

One class serves every architecture: it resolves ``width`` to the paper's filter
count, draws the network on the CPU from ``random_state`` (so an int seed gives
the same weights on every machine and device), prepares the input the paper's
way (waveform length, or log-mel then frame length) and runs the network without
autograd on ``device``.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from typing import NamedTuple

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import AudioFeatureTransformer
from ._memory import check_cnn_memory
from ._utils import make_generator, resolve_device, seed_from_random_state
from .architectures import ARCHITECTURES, nf_for_width
from .architectures._fast import cpu_compute_dtype
from .audio import AudioStreamUnavailable, fix_length, iter_audio_blocks, load_audio
from .spectrogram import (
    LogMelSpectrogram,
    log_mel_crop_of_blocks,
    log_mel_of_clip,
    whole_clip_key,
)

__all__ = ["RandomCNNBase"]

# Least activation memory allowed per GPU forward pass when batch_size="auto".
_MIN_ACTIVATION_BUDGET = 1 << 30  # 1 GiB
_MAX_AUTO_BATCH = 64
PRECISIONS = ("float32", "tf32", "bfloat16")
_POOL: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, pool)
_POOL_LOCK = threading.Lock()


def cpu_workers() -> int:
    """Clips featurized at once on the CPU: one per intra-op thread of torch
    (``torch.get_num_threads()``), each clip on a single thread."""
    return max(1, torch.get_num_threads())


def _worker_pool(n_workers: int) -> ThreadPoolExecutor:
    """The process's clip workers, kept between batches and transforms.

    Reusing the same threads keeps their allocator arenas and torch thread state
    from being recreated for every decoded batch (a new pool per batch let the
    resident memory creep up by a few MB per batch). A forked child gets its own.
    """
    global _POOL
    with _POOL_LOCK:
        pid = os.getpid()
        if _POOL is None or _POOL[:2] != (pid, n_workers):
            if _POOL is not None and _POOL[0] == pid:
                _POOL[2].shutdown(wait=False)
            pool = ThreadPoolExecutor(n_workers, thread_name_prefix="skaudio_random")
            _POOL = (pid, n_workers, pool)
        return _POOL[2]


@contextlib.contextmanager
def _single_thread():
    """Run torch ops of this thread on one intra-op thread.

    ``torch.set_num_threads`` is per-thread for OpenMP but also sets process-wide
    values (MKL's thread count); the caller restores them (see
    :meth:`RandomCNNBase._transform_cpu`).
    """
    torch.set_num_threads(1)
    yield


def map_on_clip_workers(fn, n: int) -> list:
    """``[fn(i) for i in range(n)]``, ``cpu_workers()`` calls at once on the
    clip workers (in the calling thread when that is one)."""
    if min(n, cpu_workers()) <= 1:
        return [fn(i) for i in range(n)]
    return list(_worker_pool(cpu_workers()).map(fn, range(n)))


def map_single_threaded(fn, n: int) -> list:
    """:func:`map_on_clip_workers` with each call on one torch intra-op thread
    under ``inference_mode``; torch's thread count is restored afterwards."""

    def one(i: int):
        with _single_thread(), torch.inference_mode():
            return fn(i)

    saved = torch.get_num_threads()
    try:
        return map_on_clip_workers(one, n)
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def precision_context(device: torch.device, precision: str):
    """Math mode of a forward pass on ``device``.

    CUDA: ``"float32"`` turns TF32 off for matmuls and cuDNN convolutions
    (PyTorch lets cuDNN use TF32 by default), ``"tf32"`` turns it on,
    ``"bfloat16"`` runs under ``torch.autocast(dtype=torch.bfloat16)``. The
    previous flags are restored afterwards. CPU: ``"float32"`` and ``"tf32"``
    are plain float32 (TF32 is a CUDA tensor-core mode); ``"bfloat16"`` is
    handled by the network's fast path (bfloat16 GEMMs, float32 means).
    """
    if device.type != "cuda":
        yield
        return
    saved = _get_tf32()
    try:
        _set_tf32((precision == "tf32",) * 2)
        if precision == "bfloat16":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        _set_tf32(saved)


def _get_tf32():
    try:  # the long-standing flags
        return (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    except RuntimeError:  # torch >= 2.9 refuses them after the fp32_precision API
        return (
            torch.backends.cudnn.conv.fp32_precision,
            torch.backends.cuda.matmul.fp32_precision,
        )


def _set_tf32(flags) -> None:
    conv, matmul = flags
    if isinstance(conv, bool):
        try:
            torch.backends.cudnn.allow_tf32 = conv
            torch.backends.cuda.matmul.allow_tf32 = matmul
            return
        except RuntimeError:
            conv, matmul = ("tf32" if f else "ieee" for f in flags)
    torch.backends.cudnn.conv.fp32_precision = conv
    torch.backends.cuda.matmul.fp32_precision = matmul


class _FileToCrop(NamedTuple):
    """A file whose ``crop`` log-mel is streamed when the clip is prepared."""

    path: str


class RandomCNNBase(AudioFeatureTransformer):
    """Base class of the transformers over the paper's random-weight CNNs.

    A subclass sets ``_architecture`` (a key of
    :data:`skaudio_random.architectures.ARCHITECTURES`) and declares its
    ``__init__`` (:mod:`skaudio_random.features` generates both from the
    registry). The input kind (waveform or log-mel) comes from the registry.
    :class:`~skaudio_random.RandomNetworkFeatures` overrides the network
    hooks (``_input_kind``, ``_prepare``, ``_n_features``, ``_cache_key``) for
    a user's own network.
    """

    _architecture: str = ""

    _parameter_constraints: dict = {
        **AudioFeatureTransformer._parameter_constraints,
        "width": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "precision": [StrOptions(set(PRECISIONS))],
        "random_state": ["random_state"],
    }

    # -- network ---------------------------------------------------------------
    @property
    def _spec(self):
        return ARCHITECTURES[self._architecture]

    @property
    def _input_kind(self) -> str:
        return self._spec.input_kind

    def _label(self) -> str:
        """How the model is named in messages."""
        return type(self).__name__

    def _options(self) -> dict:
        return {opt.name: getattr(self, opt.name) for opt in self._spec.options}

    def _resolve_seed(self) -> int:
        # An int is its own seed; otherwise draw once per instance and keep it, so
        # that repeated transforms (train, then test) use the same network.
        rs = self.random_state
        if isinstance(rs, Integral) and not isinstance(rs, bool):
            return int(rs)
        if getattr(self, "_seed_source", None) is not rs or not hasattr(self, "_seed"):
            self._seed = seed_from_random_state(rs)
            self._seed_source = rs
        return self._seed

    def _check_batchnorm(self) -> None:
        if getattr(self, "batchnorm", None) is None:
            return
        # Batch statistics tie a clip's features to its batch: the batch must be
        # explicit and every clip computed in the order given.
        if self.batch_size == "auto":
            raise ValueError(
                "batchnorm='batch' needs an explicit int batch_size: the "
                "features depend on which clips share a batch."
            )
        if self.memory is not None:
            raise ValueError(
                "memory cannot be used with batchnorm='batch': cached clips "
                "would change the composition of the remaining batches."
            )

    def _prepare(self) -> None:
        self._check_batchnorm()
        spec = self._spec
        nf = nf_for_width(spec.name, int(self.width))
        seed = self._resolve_seed()
        device = resolve_device(self.device)
        key = (nf, seed, tuple(sorted(self._options().items())), str(device), self.sr)
        check_cnn_memory(self, spec, nf, device)  # before anything is allocated
        if getattr(self, "_network_key", None) != key:
            self._build(spec, nf, seed, device)
            self._network_key = key
        self._length_check()

    def _build(self, spec, nf: int, seed: int, device: torch.device) -> None:
        network = spec.build(nf, generator=make_generator(seed), **self._options())
        network = network.to(device).eval().requires_grad_(False)
        self._network = network
        self._nf = nf
        self._device = device
        self._frontend = None
        if self._input_kind == "mel":
            self._frontend = LogMelSpectrogram(sr=self.sr).to(device)
        self._peak_bytes = {}

    def _length_check(self) -> None:
        target = self._target_length()
        if self.fix_length != "none" and target < self._network.min_length:
            unit = "n_frames" if self._input_kind == "mel" else "n_samples"
            raise ValueError(
                f"{unit}={target} is too short for {self._label()}, which needs "
                f"at least {self._network.min_length}."
            )

    def _target_length(self) -> int:
        if self._input_kind == "mel":
            return self.n_frames
        return self.n_samples

    def _n_features(self) -> int:
        return self._spec.n_features(self._nf)

    def _feature_names(self) -> list[str]:
        return list(self._network.feature_names())

    def _cache_key(self) -> dict:
        key = {**super()._cache_key(), "seed": self._resolve_seed(), "nf": self._nf}
        if self.precision == "bfloat16":
            # bfloat16 runs as float32 on CPUs without bfloat16 instructions: a
            # cache shared between machines must not mix the two kinds of features.
            cpu = self._device.type == "cpu"
            key["bfloat16_math"] = cpu_compute_dtype("bfloat16") is not None or not cpu
        return key

    # -- input preparation -----------------------------------------------------
    def _prepare_waveform(self, y: np.ndarray, name: str) -> torch.Tensor:
        y = fix_length(y, self.n_samples, self.fix_length, name=name)
        if y.shape[-1] < self._network.min_length:
            raise ValueError(
                f"{name} has {y.shape[-1]} samples; {self._label()} needs at "
                f"least {self._network.min_length}. Use fix_length='zero' or 'repeat'."
            )
        return torch.from_numpy(np.ascontiguousarray(y))

    def _prepare_mel(
        self, y: np.ndarray, name: str, mel: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Log-mel of the whole clip, then the frame-length rule (SPEC section 1).

        The dB floor is relative to the whole clip's maximum; ``crop`` keeps the
        first frames, ``repeat`` tiles log-mel frames (the paper's UrbanSound8K
        rule), ``zero`` pads the audio with silence. ``mel``: the clip's
        whole-clip log-mel already computed under :meth:`_whole_mel_key`
        (the front end is skipped, the frame rule and its checks are not).
        """
        mel = log_mel_of_clip(
            y, self._frontend, self.n_frames, self.fix_length, name, self._device, mel
        )
        if self.fix_length == "none" and mel.shape[-1] < self._network.min_length:
            raise ValueError(
                f"{name} gives {mel.shape[-1]} frames; {self._label()} needs "
                f"at least {self._network.min_length}. Use fix_length='zero' or "
                "'repeat'."
            )
        return mel

    def _load_clip(self, audio, i: int):
        """Files under a spectrogram ``crop`` are left for :meth:`_prepare_streamed`.

        Their 80 dB floor depends on the whole file, but the crop needs only
        the first ``n_frames``: streaming the file into the front end keeps the
        memory independent of its length. The file is read where the clip is
        prepared, under the same math settings as a decoded clip. On a GPU the
        file is decoded whole by the decoding threads as before: they keep the
        device fed, and the host memory of a decoded clip (58 MB for 20 minutes)
        is not what limits a GPU machine.
        """
        item = audio.items[i]
        streamed = self._input_kind == "mel" and self.fix_length == "crop"
        if streamed and self._device.type == "cpu":
            if isinstance(item, str):
                return _FileToCrop(item)
        return super()._load_clip(audio, i)

    def _prepare_streamed(self, clip, name: str, mel=None) -> torch.Tensor:
        """:meth:`_prepare_mel`, streaming a :class:`_FileToCrop` from disk.

        The log-mel is :func:`~skaudio_random.spectrogram.log_mel_crop_of_blocks`
        of :func:`~skaudio_random.audio.iter_audio_blocks`: on the CPU bitwise
        that of the whole decoded file. Files libsndfile cannot stream are
        decoded whole, as before. Decoded clips (and their precomputed ``mel``)
        go to :meth:`_prepare_mel`.
        """
        if not isinstance(clip, _FileToCrop):
            return self._prepare_mel(clip, name, mel)
        blocks = iter_audio_blocks(clip.path, self.sr)
        try:
            return log_mel_crop_of_blocks(
                blocks, self._frontend, self.n_frames, name, self._device
            )
        except AudioStreamUnavailable:
            return self._prepare_mel(load_audio(clip.path, sr=self.sr), name)
        finally:
            blocks.close()

    def _whole_mel_key(self) -> tuple | None:
        """Key under which :func:`skaudio_random.featurize` may compute this
        model's whole-clip log-mel once for every model with the same key
        (:func:`skaudio_random.spectrogram.whole_clip_key`), on one CPU thread
        as :meth:`_transform_cpu` does; ``None``: the model computes its own
        (waveform input, a GPU, or VGG's batch norm, whose CPU path computes
        the log-mel on the caller's threads).
        """
        if (
            self._input_kind != "mel"
            or self._device.type != "cpu"
            or getattr(self, "batchnorm", None) is not None
        ):
            return None
        key = whole_clip_key(self._frontend, self.n_frames, self.fix_length, "cpu")
        return None if key is None else ("one thread", *key)

    # -- forward ---------------------------------------------------------------
    def _per_clip_bytes(self, shape: tuple[int, ...]) -> int:
        """Largest activation of one clip of ``shape`` (measured on the meta device)."""
        if shape not in self._peak_bytes:
            meta = copy.deepcopy(self._network).to("meta")
            sizes = [0]

            def hook(module, inputs, output):
                if isinstance(output, torch.Tensor):
                    sizes.append(output.numel())

            handles = [m.register_forward_hook(hook) for m in meta.modules()]
            with torch.inference_mode():
                meta(torch.empty((1, *shape), device="meta"))
            for h in handles:
                h.remove()
            self._peak_bytes[shape] = 4 * 3 * max(sizes)  # input + output + scratch
        return self._peak_bytes[shape]

    def _forward_batch_size(self, shape: tuple[int, ...]) -> int:
        """Clips per forward pass.

        Used on GPUs, where clips are batched under a memory budget, and for
        VGG's batch norm (the batch is the point). Other CPU work goes through
        :meth:`_transform_cpu`, one clip per pass.
        """
        if getattr(self, "batchnorm", None) is not None:
            return self.batch_size  # batch statistics: the batch is the point
        if self.batch_size != "auto":
            return self.batch_size
        free, _ = torch.cuda.mem_get_info(self._device)
        budget = max(_MIN_ACTIVATION_BUDGET, free // 2)
        return int(
            np.clip(budget // max(1, self._per_clip_bytes(shape)), 1, _MAX_AUTO_BATCH)
        )

    def _batch_size(self) -> int:
        return self.batch_size if self.batch_size != "auto" else 16

    def _prepare_fn(self):
        mel = self._input_kind == "mel"
        return self._prepare_streamed if mel else self._prepare_waveform

    def _transform_clips(
        self, clips: list[np.ndarray], names: list[str], mels=None
    ) -> np.ndarray:
        """Features of decoded clips; ``mels``: their whole-clip log-mels (or
        ``None`` each) computed under :meth:`_whole_mel_key`, which only the
        CPU path below takes."""
        if mels is not None and any(m is not None for m in mels):
            if self._whole_mel_key() is None:  # computed another way: not shareable
                raise ValueError(f"{self._label()} computes its own log-mel.")
        if self._device.type == "cpu" and getattr(self, "batchnorm", None) is None:
            return self._transform_cpu(clips, names, mels)
        prepare = self._prepare_fn()
        out = np.empty((len(clips), self._n_features()), dtype=np.float32)
        precision = self.precision
        # CUDA: the math mode is set by precision_context; CPU (VGG batch norm):
        # bfloat16 autocast inside the network.
        cpu = self._device.type == "cpu"
        dtype = cpu_compute_dtype(precision) if cpu else None
        with torch.inference_mode(), precision_context(self._device, precision):
            inputs = [prepare(y, name) for y, name in zip(clips, names, strict=True)]
            # Clips of equal shape share forward passes; with fix_length="none"
            # lengths differ and are grouped.
            groups: dict[tuple[int, ...], list[int]] = {}
            for i, x in enumerate(inputs):
                groups.setdefault(tuple(x.shape), []).append(i)
            for shape, members in groups.items():
                step = self._forward_batch_size(shape)
                for k in range(0, len(members), step):
                    rows = members[k : k + step]
                    x = torch.stack([inputs[i] for i in rows])
                    if self._device.type == "cuda" and x.device.type == "cpu":
                        x = x.pin_memory().to(self._device, non_blocking=True)
                    else:
                        x = x.to(self._device)
                    feats = self._network(x, compute_dtype=dtype)
                    out[rows] = feats.float().cpu().numpy()
        return out

    def _transform_cpu(
        self, clips: list[np.ndarray], names: list[str], mels=None
    ) -> np.ndarray:
        """CPU: each clip alone on one intra-op thread, ``cpu_workers()`` at once.

        A clip's features are computed by the same single-threaded code whatever
        its batch, so they are bitwise independent of the batch (and of
        ``n_jobs``); running whole clips in parallel keeps every core in large
        GEMMs with no synchronisation between them, which beats splitting each
        operation over the cores (and degrades gracefully on a loaded machine).
        ``mels``: precomputed whole-clip log-mels, as in :meth:`_transform_clips`.
        """
        prepare = self._prepare_fn()
        network = self._network
        out = np.empty((len(clips), self._n_features()), dtype=np.float32)
        dtype = cpu_compute_dtype(self.precision)  # float32 without bf16 hardware

        def one(i: int) -> None:
            if mels is None or mels[i] is None:
                x = prepare(clips[i], names[i])[None]
            else:
                x = prepare(clips[i], names[i], mels[i])[None]
            out[i] = network(x, compute_dtype=dtype)[0].numpy()

        map_single_threaded(one, len(clips))
        return out

    # -- pickling: the network is rebuilt from the seed ------------------------
    def __getstate__(self):
        state = super().__getstate__()
        for name in ("_network", "_frontend", "_network_key", "_peak_bytes", "_device"):
            state.pop(name, None)
        return state
