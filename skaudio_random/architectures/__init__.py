"""Registry of the paper's eleven random-weight CNN feature extractors.

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP. Each entry of :data:`ARCHITECTURES` says how to build the torch module
(``build(nf, *, generator, **options)``), which input it takes ("waveform":
(batch, n_times) at 12 kHz; "mel": (batch, 96, n_frames) log-mel dB), the
paper's ``nf`` at the ~120 and ~3500 widths (SPEC section 3.3) and the exact
feature-vector length for any ``nf``.

Every built module maps its input to (batch, n_features) float32 with
``forward(x)``, returns the named maps before averaging with
``forward(x, return_maps=True)``, gives their shapes with ``layer_shapes(length)``
(meta device, no arithmetic), names its features with ``feature_names()`` and
has ``min_length`` (smallest valid input length, samples or frames).

Examples
--------
>>> import torch
>>> from skaudio_random.architectures import ARCHITECTURES, nf_for_width
>>> spec = ARCHITECTURES["vgg"]
>>> nf = nf_for_width("vgg", 3500)
>>> nf, spec.n_features(nf)
(717, 3585)
>>> net = spec.build(4, generator=torch.Generator().manual_seed(0))
>>> net(torch.randn(2, 96, 100)).shape
torch.Size([2, 20])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from ._flops import count_macs
from .frame_level import FrameLevelNet
from .musically_motivated import (
    TEMPORAL_KERNELS,
    TIME_KERNELS,
    MusicallyMotivatedNet,
    temporal_filters,
)
from .sample_level import SampleLevelNet
from .vertical import VerticalNet
from .vgg import VGGNet

__all__ = [
    "ArchitectureSpec",
    "ARCHITECTURES",
    "nf_for_width",
    "count_macs",
    "SampleLevelNet",
    "FrameLevelNet",
    "VerticalNet",
    "MusicallyMotivatedNet",
    "VGGNet",
]


@dataclass(frozen=True)
class ArchitectureSpec:
    """How to build one architecture and how wide it is.

    Attributes
    ----------
    name : str
        Registry key (lowercase).
    build : callable
        ``build(nf, *, generator, **options) -> nn.Module``; weights are drawn
        on the CPU from ``generator``.
    input_kind : {"waveform", "mel"}
        (batch, n_times) at 12 kHz, or (batch, 96, n_frames) log-mel dB.
    paper_nf : dict of int to int
        ``{120: nf, 3500: nf}`` from SPEC section 3.3.
    n_features : callable
        nf -> exact feature-vector length.
    options : tuple of str
        Extra ``build`` keyword arguments a transformer may expose.
    """

    name: str
    build: Callable[..., nn.Module]
    input_kind: str
    paper_nf: dict[int, int]
    n_features: Callable[[int], int]
    options: tuple[str, ...] = ()


def _temporal_len(nf: int) -> int:
    return sum(temporal_filters(nf))


_MUSIC = MusicallyMotivatedNet
_TEMPORAL = {"temporal_kernels": TEMPORAL_KERNELS}
_TIME = {"temporal_kernels": TIME_KERNELS, "temporal_name": "time"}
_BACKEND = ("backend_averaging",)
# name, build, input_kind, nf at ~120, nf at ~3500, n_features, options (SPEC 3.3)
# fmt: off
_TABLE = [
    ("sample_level", SampleLevelNet, "waveform", 23, 512, lambda nf: 7 * nf, ()),
    ("frame_level", partial(FrameLevelNet, many_shapes=False), "waveform", 40, 896,
     lambda nf: 4 * nf, _BACKEND),
    ("frame_level_many_shapes", partial(FrameLevelNet, many_shapes=True), "waveform",
     20, 448, lambda nf: 8 * nf, _BACKEND),
    ("vertical_7x96", partial(VerticalNet, n_bands=96), "mel", 160, 3585,
     lambda nf: nf, ()),
    ("vertical_7x86", partial(VerticalNet, n_bands=86), "mel", 160, 3585,
     lambda nf: nf, ()),
    ("timbral", partial(_MUSIC, name="timbral"), "mel", 8, 256, lambda nf: 14 * nf, ()),
    ("temporal", partial(_MUSIC, name="temporal", timbral=False, **_TEMPORAL), "mel",
     8, 256, _temporal_len, ()),
    ("timbral_temporal", partial(_MUSIC, name="timbral_temporal", **_TEMPORAL), "mel",
     4, 128, lambda nf: 14 * nf + _temporal_len(nf), ()),
    ("time", partial(_MUSIC, name="time", timbral=False, **_TIME), "mel", 8, 256,
     _temporal_len, ()),
    ("timbral_time", partial(_MUSIC, name="timbral_time", **_TIME), "mel", 4, 128,
     lambda nf: 14 * nf + _temporal_len(nf), ()),
    ("vgg", VGGNet, "mel", 32, 717, lambda nf: 5 * nf, ("batchnorm",)),
]
# fmt: on

#: name -> :class:`ArchitectureSpec`, in the paper's order.
ARCHITECTURES: dict[str, ArchitectureSpec] = {
    name: ArchitectureSpec(name, build, kind, {120: nf120, 3500: nf3500}, n_feat, opts)
    for name, build, kind, nf120, nf3500, n_feat, opts in _TABLE
}


def nf_for_width(name: str, width: int) -> int:
    """The ``nf`` giving a feature vector of about ``width`` values.

    The paper's widths 120 and 3500 map to the paper's nf exactly (SPEC
    section 3.3; e.g. VGG 3500 -> 717, i.e. 3585 features). Any other positive
    width gives the nf >= 1 whose feature length is closest to ``width``
    (ties go to the smaller nf).

    Parameters
    ----------
    name : str
        Registry key, one of :data:`ARCHITECTURES`.
    width : int
        Wanted feature-vector length (>= 1).

    Returns
    -------
    int

    Examples
    --------
    >>> nf_for_width("sample_level", 120), nf_for_width("sample_level", 1000)
    (23, 143)
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"name must be one of {sorted(ARCHITECTURES)}; got {name!r}.")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int; got {width!r}.")
    spec = ARCHITECTURES[name]
    if width in spec.paper_nf:
        return spec.paper_nf[width]
    # n_features is strictly increasing: smallest nf with n_features(nf) >= width
    lo, hi = 1, 1
    while spec.n_features(hi) < width:
        lo, hi = hi, 2 * hi
    while lo < hi:
        mid = (lo + hi) // 2
        if spec.n_features(mid) >= width:
            hi = mid
        else:
            lo = mid + 1
    if lo > 1 and width - spec.n_features(lo - 1) <= spec.n_features(lo) - width:
        return lo - 1
    return lo
