"""Frame-level features: every model's features over time, from one forward pass.

A clip-level feature is the time average of one feature map (a CNN layer's
channel, or an MFCC statistic). Its frame-level version is the same average over
windows of ``window`` seconds every ``hop`` seconds. The network runs once per
clip (``forward(x, return_maps=True)``); each map is then treated as a
piecewise-constant function of time (frame ``j`` of a layer covers one step of
that layer's time resolution, centred on its receptive field) and a window's
average is read off a running sum (cumulative sum) of the map, with frames cut
by a window boundary weighted by the part inside. No pass per window.

Windows and edges
-----------------
* ``center=False`` (default): windows ``[k hop, k hop + window)`` for
  ``k = 0 ... K - 1``, the last one the first that reaches the end of the input
  (``K = 1 + ceil((D - window) / hop)``, ``D`` the input's duration); the last
  window may stick out past the end and then averages what it covers. ``times``
  are the centres of the part of each window inside ``[0, D]``.
* ``center=True``: windows centred on ``t_k = k hop`` for every
  ``t_k <= D`` (``librosa``'s convention); ``times`` are ``t_k``.
* Receptive fields hang over the input's edges (valid convolutions trim them,
  floor pooling drops a tail): the first window also takes what lies before
  time 0 and the last what lies after ``D``. So one window covering the clip
  (``window >= D``) gives exactly the clip-level features, up to float rounding.
* A window that holds no frame of a coarse layer (a VGG block-5 frame lasts
  about 27 s) takes the layer's nearest frame.
* A clip shorter than one window gives one window: its clip-level features.

The input is the one ``transform`` feeds the network (after ``fix_length``);
times are seconds from its start. A log-mel input of ``n`` frames lasts
``n * hop_length / sr`` seconds, except under ``fix_length="none"`` where it
lasts as long as the audio.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from ._input import AudioInput

__all__ = ["FrameFeatures", "transform_frames", "window_bounds", "window_averages"]


class FrameFeatures(NamedTuple):
    """Frame-level features of equal-length clips.

    Attributes
    ----------
    features : ndarray of shape (n_clips, n_windows, n_features), dtype float32
    times : ndarray of shape (n_windows,), dtype float64
        Window centres in seconds (see the module notes).
    """

    features: np.ndarray
    times: np.ndarray


def _check_seconds(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a positive number of seconds; got {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds; got {value!r}.")
    return float(value)


def window_bounds(duration: float, window: float, hop: float, center: bool = False):
    """Window edges and reported centre times, in seconds.

    Parameters
    ----------
    duration : float
        Input duration ``D`` in seconds.
    window, hop : float
        Window length and hop in seconds.
    center : bool, default=False
        Windows centred on ``k * hop`` (``True``) or starting there.

    Returns
    -------
    starts, ends, times : ndarray of shape (n_windows,)
        ``starts[0]`` is ``-inf`` and ``ends[-1]`` is ``+inf`` (see the module
        notes on edges).

    Examples
    --------
    >>> s, e, t = window_bounds(2.0, 1.0, 0.5)
    >>> t.tolist()
    [0.5, 1.0, 1.5]
    >>> window_bounds(2.0, 1.0, 0.5, center=True)[2].tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    eps = 1e-9
    if center:
        k = np.arange(int(math.floor(duration / hop + eps)) + 1)
        times = k * hop
        starts, ends = times - window / 2, times + window / 2
    else:
        n = 1 + max(0, math.ceil((duration - window) / hop - eps))
        starts = np.arange(n) * hop
        ends = starts + window
        times = (np.maximum(starts, 0.0) + np.minimum(ends, duration)) / 2
    starts, ends = starts.astype(float), ends.astype(float)
    starts[0], ends[-1] = -np.inf, np.inf
    return starts, ends, np.asarray(times, dtype=float)


def window_averages(fmap, first_centre: float, step: float, starts, ends):
    """Time averages of a piecewise-constant map over windows.

    Parameters
    ----------
    fmap : Tensor of shape (batch, channels, n_frames)
        Frame ``j`` holds the value over ``[first_centre + (j - 1/2) step,
        first_centre + (j + 1/2) step)`` seconds.
    first_centre, step : float
        Centre of frame 0 and the frame step, in seconds.
    starts, ends : ndarray of shape (n_windows,)
        Window edges in seconds (may be infinite).

    Returns
    -------
    Tensor of shape (batch, n_windows, channels), float64
        The overlap-weighted mean of the frames in each window; a window that
        overlaps no frame takes the nearest one.
    """
    fmap = fmap.to(torch.float64)
    n = fmap.shape[-1]
    cumsum = torch.nn.functional.pad(fmap.cumsum(-1), (1, 0))  # (B, C, n + 1)
    origin = first_centre - step / 2

    def position(t):  # frames before t, fractional, in [0, n]
        return np.clip((np.asarray(t, dtype=float) - origin) / step, 0.0, n)

    def integral(p):  # running sum at fractional frame position p, (B, C, K)
        whole = np.minimum(np.floor(p).astype(np.int64), n - 1)
        frac = torch.as_tensor(p - whole, dtype=torch.float64, device=fmap.device)
        idx = torch.as_tensor(whole, device=fmap.device)
        return cumsum[..., idx] + frac * fmap[..., idx]

    pa, pb = position(starts), position(ends)
    length = pb - pa
    empty = length <= 0
    out = (integral(pb) - integral(pa)) / torch.as_tensor(
        np.where(empty, 1.0, length), device=fmap.device
    )
    if empty.any():  # no frame inside: the nearest frame
        nearest = np.minimum(np.floor(pa[empty]).astype(np.int64), n - 1)
        out[..., torch.as_tensor(np.flatnonzero(empty))] = fmap[
            ..., torch.as_tensor(nearest)
        ]
    return out.transpose(1, 2)


# -- per-model frame geometry ------------------------------------------------
def _cnn_geometry(network, length: int) -> dict[str, tuple[float, float]]:
    """``{layer: (centre of frame 0, step)}`` in input units for a CNN input of
    ``length`` samples (waveform, positions continuous: sample ``k`` spans
    ``[k, k + 1)``) or log-mel frames (frame ``m`` centred on ``m``)."""
    from .architectures import (
        FrameLevelNet,
        MusicallyMotivatedNet,
        SampleLevelNet,
        VerticalNet,
        VGGNet,
    )
    from .architectures._blocks import tf_same_padding
    from .architectures.vgg import VGG_POOLS

    if isinstance(network, SampleLevelNet):
        n, step = (length - 3) // 3 + 1, 3
        geometry = {"layer0": (1.5, 3.0)}
        for i in range(1, 7):  # clamped max-pools of 3
            pool = min(3, n)
            n, step = n // pool, step * pool
            geometry[f"layer{i}"] = (step / 2, float(step))
        return geometry
    if isinstance(network, FrameLevelNet):
        if network.many_shapes:  # every front conv is centred alike ("same")
            centre = 256 - tf_same_padding(length, 512, 32)[0]
            n_frames = -(-length // 32)
            names = [f"front{k}" for k in network.kernels]
        else:  # valid conv 512 / stride 32: frame j spans [32 j, 32 j + 512)
            centre, n_frames, names = 256, (length - 512) // 32 + 1, ["front"]
        geometry = {name: (float(centre), 32.0) for name in names}
        back = centre + 3 * 32  # valid conv of 7 frames
        geometry["back1"] = geometry["back2"] = (float(back), 32.0)
        pool = min(2, n_frames - 6)
        geometry["back3"] = (back + (pool - 1) * 16, 32.0 * pool)
        return geometry
    if isinstance(network, VerticalNet):
        return {network._layers[0][0]: (3.0, 1.0)}  # valid conv of 7 frames
    if isinstance(network, MusicallyMotivatedNet):
        return {name: (0.0, 1.0) for name, _ in network._layers}  # "same" in time
    if isinstance(network, VGGNet):
        geometry, n, step = {}, length, 1
        for i, (pool, _) in enumerate(VGG_POOLS, start=1):
            pool = min(pool, n)
            n, step = n // pool, step * pool
            geometry[f"block{i}"] = ((step - 1) / 2, float(step))
        return geometry
    return {}  # a plug-in network: see _measured_geometry


def _measured_geometry(est, length: int):
    """``{layer: (time axis, centre, step)}`` of a plug-in network (a user's
    network or a registry plug-in such as CNN14), read from its map shapes on
    the meta device (see
    :func:`~skaudio_random.architectures._network.time_grids`); ``None`` for
    a network that is no plug-in or cannot run there."""
    from .architectures._network import time_grids

    network = est._network
    if not hasattr(network, "layout"):
        return None
    args = () if est._nf is None else (est._nf,)
    if hasattr(est, "_describe"):  # RandomNetworkFeatures
        meta = est._describe(args)[0]
    else:
        meta = est._spec.build(*args, generator=None, **est._options()).net
    return time_grids(
        meta, network.layout.layers, est._input_kind, length, network.label
    )


def _fallback_geometry(length: int, n_frames: int, kind: str) -> tuple[float, float]:
    """Frames that evenly cover the input (samples ``[0, length)``, or log-mel
    frames centred on ``0 ... length - 1``): for a map with no time axis (one
    position: every window takes it), and for a network whose grid is neither
    known nor measurable (exact for "same"-padded, unpooled layers)."""
    step = length / n_frames
    return (step / 2 if kind == "waveform" else (step - 1) / 2), step


def _cnn_clip_frames(est, y: np.ndarray, name: str, window, hop, center):
    from ._cnn_base import precision_context
    from .architectures._fast import cpu_compute_dtype

    network, device = est._network, est._device
    spec_kind = est._input_kind
    with torch.inference_mode(), precision_context(device, est.precision):
        x = est._prepare_fn()(y, name)[None].to(device)
        if device.type == "cpu" and cpu_compute_dtype(est.precision) is not None:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                maps = network(x, return_maps=True)
        else:
            maps = network(x, return_maps=True)
    length = x.shape[-1]
    if spec_kind == "mel":
        hop_s = est._frontend.hop_length / est.sr
        unit = hop_s  # seconds per log-mel frame index
        duration = y.shape[-1] / est.sr if est.fix_length == "none" else length * hop_s
    else:
        unit = 1.0 / est.sr
        duration = length / est.sr
    geometry = _cnn_geometry(network, length)
    measured = None if geometry else _measured_geometry(est, length)
    starts, ends, times = window_bounds(duration, window, hop, center)
    parts = []
    for layer, fmap in maps.items():
        fmap = fmap.float()
        if measured and layer in measured:  # a plug-in: time where its shapes say
            axis, centre, step = measured[layer]
            fmap = fmap.movedim(axis, 2)
        elif layer in geometry:  # a built-in: time on axis 2
            centre, step = geometry[layer]
        elif measured is not None:  # no axis grows with the input: one position
            fmap = fmap.flatten(2).mean(2, keepdim=True)
            centre, step = _fallback_geometry(length, 1, spec_kind)
        else:  # neither known nor measurable: frames spread evenly
            centre, step = _fallback_geometry(length, fmap.shape[2], spec_kind)
        if fmap.ndim > 3:  # (1, C, time, mel...): average the other axes first
            fmap = fmap.flatten(3).mean(-1)
        avg = window_averages(fmap, centre * unit, step * unit, starts, ends)[0]
        # the network's own summary (e.g. FrameLevel's "collapsed" back end) on
        # each window's averages, seen as one-position maps
        summary = network._summarise(layer, avg.float()[:, :, None])
        parts.append(summary)
    feats = torch.cat(parts, dim=1).cpu().numpy().astype(np.float32)
    return feats, times


def _mfcc_clip_frames(est, y: np.ndarray, name: str, window, hop, center):
    y = est._fix(y, name)
    mfcc, d1, d2 = est._trajectories(y)
    step = est.hop_length / est.sr
    duration = y.shape[-1] / est.sr
    starts, ends, times = window_bounds(duration, window, hop, center)
    stats = []
    for traj in (mfcc, d1, d2):
        # frame m of the centred STFT is centred on m * hop_length; a difference
        # of two frames sits between them
        lag = (mfcc.shape[1] - traj.shape[1]) / 2
        x = torch.from_numpy(np.ascontiguousarray(traj, dtype=np.float64))[None]
        both = torch.cat([x, x * x], dim=1)
        avg = window_averages(both, lag * step, step, starts, ends)[0].numpy()
        mean, mean_sq = avg[:, : len(traj)], avg[:, len(traj) :]
        std = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
        stats += [mean, std]
    return np.concatenate(stats, axis=1).astype(np.float32), times


def transform_frames(estimator, X, *, window=1.0, hop=0.5, center=False):
    """Frame-level features of a fitted or fit-less feature transformer.

    See the module notes for the windows and their edges. Each clip goes
    through the network once; the per-clip ``memory`` cache is not used.

    Parameters
    ----------
    estimator : AudioFeatureTransformer
        A CNN transformer or :class:`~skaudio_random.MFCC`.
    X : sequence of path-like or of 1-D arrays, or array (n_clips, n_times)
        Clips; after ``fix_length`` they must give the same number of windows
        (use ``fix_length="crop"``, ``"zero"`` or ``"repeat"`` with a length,
        or one call per clip, for clips of different lengths).
    window, hop : float, default=1.0, 0.5
        Window length and hop in seconds.
    center : bool, default=False
        Windows centred on ``0, hop, 2 hop, ...`` instead of starting there.

    Returns
    -------
    FrameFeatures
        ``features`` (n_clips, n_windows, n_features) float32 and ``times``
        (n_windows,) in seconds.

    Raises
    ------
    ValueError
        For a non-positive ``window`` or ``hop``, clips giving different numbers
        of windows (naming both), or VGG with ``batchnorm="batch"`` (its
        features depend on the batch).
    """
    from ._cnn_base import RandomCNNBase
    from .mfcc import MFCC

    window = _check_seconds(window, "window")
    hop = _check_seconds(hop, "hop")
    estimator._validate_params()
    audio = AudioInput(X)
    estimator._prepare()
    if isinstance(estimator, RandomCNNBase):
        if getattr(estimator, "batchnorm", None) is not None:
            raise ValueError(
                "transform_frames does not support VGG(batchnorm='batch'): its "
                "features depend on the other clips of the batch."
            )
        clip_frames = _cnn_clip_frames
    elif isinstance(estimator, MFCC):
        clip_frames = _mfcc_clip_frames
    else:
        raise ValueError(
            f"transform_frames supports the CNN transformers and MFCC; got "
            f"{type(estimator).__name__}."
        )
    feats, times, first = [], None, None
    for i in tqdm(
        range(len(audio)),
        unit="clip",
        desc=type(estimator).__name__,
        disable=not estimator.verbose,
        leave=False,
    ):
        name = audio.describe(i)
        f, t = clip_frames(
            estimator, audio.load(i, estimator.sr), name, window, hop, center
        )
        if times is None:
            times, first = t, name
        elif len(t) != len(times):
            raise ValueError(
                f"{name} gives {len(t)} windows but {first} gives {len(times)}: clips "
                "must have the same length after fix_length. Use fix_length='crop', "
                "'zero' or 'repeat' with a length, or one call per clip."
            )
        if not np.isfinite(f).all():
            raise RuntimeError(
                f"non-finite frame features for {name}; please report this as a bug."
            )
        feats.append(f)
    return FrameFeatures(np.stack(feats), times)
