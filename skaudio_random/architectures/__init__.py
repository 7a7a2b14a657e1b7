"""Registry of the random-weight CNN feature extractors: one line per architecture.

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP. Each entry of :data:`ARCHITECTURES` says how to build the torch module
(``build(nf, *, generator, **options)``), which input it takes ("waveform":
(batch, n_times) at 12 kHz; "mel": (batch, 96, n_frames) log-mel dB, read from
the module class's ``input_kind``), the transformer class name, the ``nf`` at
the ~120 and ~3500 widths (SPEC section 3.3 for the paper's eleven) and the
extra options a transformer exposes. Feature lengths come from the network
itself, run on the meta device (:meth:`ArchitectureSpec.n_features`).

Adding an architecture is one module plus one line of ``_TABLE``: either a
:class:`~._blocks.RandomFeatureNet` subclass (with its own averaged maps and,
optionally, a fast CPU path) or any plain ``nn.Module`` factory ``f(nf)`` with an
``input_kind`` attribute wrapped by :func:`plugin` (its convolution blocks are
averaged, see :mod:`._network`). The transformer class (``features.py``), the
package's public names, the README table and the benchmark lists follow.

Every built module maps its input to (batch, n_features) float32 with
``forward(x)``, names its features with ``feature_names()`` and has
``min_length`` (smallest valid input length, samples or frames);
``generator=None`` builds it on the meta device (shapes only).

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

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from sklearn.utils._param_validation import StrOptions
from torch import nn

from . import cnn14
from ._blocks import N_MELS
from ._flops import count_macs
from ._network import plugin
from .frame_level import BACKEND_AVERAGING, FrameLevelNet
from .musically_motivated import (
    TEMPORAL_KERNELS,
    TIME_KERNELS,
    MusicallyMotivatedNet,
)
from .sample_level import SampleLevelNet
from .vertical import VerticalNet
from .vgg import VGGNet

__all__ = [
    "ArchitectureSpec",
    "Option",
    "ARCHITECTURES",
    "nf_for_width",
    "closest_nf",
    "count_macs",
    "plugin",
    "SampleLevelNet",
    "FrameLevelNet",
    "VerticalNet",
    "MusicallyMotivatedNet",
    "VGGNet",
]


@dataclass(frozen=True)
class Option:
    """An extra ``build`` keyword argument exposed by the transformer.

    Attributes
    ----------
    name : str
    default : object
    constraints : list
        scikit-learn parameter constraints.
    doc : str
        numpydoc entry (``name : type, default=...`` then indented text).
    """

    name: str
    default: Any
    constraints: list
    doc: str


@dataclass(frozen=True)
class ArchitectureSpec:
    """How to build one architecture and how wide it is.

    Attributes
    ----------
    name : str
        Registry key (lowercase).
    class_name : str
        Name of the transformer class in :mod:`skaudio_random`.
    build : callable
        ``build(nf, *, generator, **options) -> nn.Module``; weights are drawn
        on the CPU from ``generator`` (``None``: meta device).
    paper_nf : dict of int to int
        ``{120: nf, 3500: nf}`` (SPEC section 3.3 for the paper's models).
    options : tuple of Option
        Extra ``build`` keyword arguments a transformer exposes.
    """

    name: str
    class_name: str
    build: Callable[..., nn.Module]
    paper_nf: dict[int, int]
    options: tuple[Option, ...] = ()

    @property
    def input_kind(self) -> str:
        """``"waveform"`` or ``"mel"``, declared by the module class."""
        build = self.build
        while isinstance(build, partial):
            build = build.func
        return build.input_kind

    def n_features(self, nf: int) -> int:
        """Feature-vector length at ``nf``: the output width of the network
        built on the meta device, run on its minimum input length."""
        return _meta_n_features(self.name, nf)


@functools.cache
def _meta_n_features(name: str, nf: int) -> int:
    spec = ARCHITECTURES[name]
    net = spec.build(nf, generator=None)
    length = net.min_length
    shape = (1, length) if spec.input_kind == "waveform" else (1, N_MELS, length)
    return int(net(torch.empty(shape, device="meta")).shape[1])


_BACKEND = (
    Option(
        "backend_averaging",
        "per_filter",
        [StrOptions(set(BACKEND_AVERAGING))],
        """backend_averaging : {"per_filter", "collapsed"}, default="per_filter"
        How the three back-end layers are summarised. ``"per_filter"`` averages
        every filter, as the paper describes. ``"collapsed"`` reproduces the
        authors' code, which (by a reshape slip) averaged each back-end layer to
        one value over time and all filters followed by ``n_filters - 1`` zeros;
        the published frame-level numbers were produced that way (SPEC section 9).""",
    ),
)
_BATCHNORM = (
    Option(
        "batchnorm",
        None,
        [StrOptions({"batch"}), None],
        """batchnorm : {None, "batch"}, default=None
        ``None`` is the paper's model. ``"batch"`` reproduces the batch-normalised
        random network of Choi et al. that the paper's section 3.4 examines (SPEC
        section 8): the input log-mel is normalised per mel band and every block
        becomes conv, ELU, normalisation, pool, all with the statistics of the
        current batch (biased variance, eps 1e-3, no learned scale). A clip's
        features then depend on the other clips of its batch, on ``batch_size``
        and on the order of ``X``, which is why the paper drops it. Needs an int
        ``batch_size`` and no ``memory``.""",
    ),
)
_MUSIC = MusicallyMotivatedNet
_TEMPORAL = {"temporal_kernels": TEMPORAL_KERNELS}
_TIME = {"temporal_kernels": TIME_KERNELS, "temporal_name": "time"}
# name, transformer class, build, nf at ~120, nf at ~3500, options (SPEC 3.3)
# fmt: off
_TABLE = [
    ("sample_level", "SampleLevel", SampleLevelNet, 23, 512, ()),
    ("frame_level", "FrameLevel", partial(FrameLevelNet, many_shapes=False), 40, 896,
     _BACKEND),
    ("frame_level_many_shapes", "FrameLevelManyShapes",
     partial(FrameLevelNet, many_shapes=True), 20, 448, _BACKEND),
    ("vertical_7x96", "Vertical7x96", partial(VerticalNet, n_bands=96), 160, 3585, ()),
    ("vertical_7x86", "Vertical7x86", partial(VerticalNet, n_bands=86), 160, 3585, ()),
    ("timbral", "Timbral", partial(_MUSIC, name="timbral"), 8, 256, ()),
    ("temporal", "Temporal",
     partial(_MUSIC, name="temporal", timbral=False, **_TEMPORAL), 8, 256, ()),
    ("timbral_temporal", "TimbralTemporal",
     partial(_MUSIC, name="timbral_temporal", **_TEMPORAL), 4, 128, ()),
    ("time", "Time", partial(_MUSIC, name="time", timbral=False, **_TIME), 8, 256, ()),
    ("timbral_time", "TimbralTime",
     partial(_MUSIC, name="timbral_time", **_TIME), 4, 128, ()),
    ("vgg", "VGG", VGGNet, 32, 717, _BATCHNORM),
    ("cnn14", "CNN14", plugin(cnn14.CNN14Net, "cnn14"), 2, 56, ()),
]
# fmt: on

#: name -> :class:`ArchitectureSpec`, in the paper's order.
ARCHITECTURES: dict[str, ArchitectureSpec] = {
    name: ArchitectureSpec(name, cls_name, build, {120: nf120, 3500: nf3500}, opts)
    for name, cls_name, build, nf120, nf3500, opts in _TABLE
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
    return closest_nf(spec.n_features, width, spec.class_name)


class WidthUnreachableError(ValueError):
    """A ``width=`` that no nf gives: too large, or a feature count that does
    not grow with nf (the command line reports it as a usage error)."""


#: Largest nf :func:`closest_nf` tries (a feature count still short of the
#: width there is refused).
MAX_NF = 1 << 24


def closest_nf(n_features: Callable[[int], int], width: int, name: str = "") -> int:
    """The nf >= 1 whose ``n_features(nf)`` is closest to ``width`` (ties go to
    the smaller nf); ``n_features`` must be strictly increasing.

    The search doubles nf until the count reaches ``width``, then bisects. Every
    count it evaluates is checked to grow with nf, and nf stops at
    :data:`MAX_NF`: a count that stops growing or falls is refused with the
    counts it reached, never searched forever.

    Parameters
    ----------
    n_features : callable
        ``n_features(nf) -> int``.
    width : int
        The wanted feature count.
    name : str, default=""
        What gives the counts (``"network mod.factory"``), for messages.

    Raises
    ------
    WidthUnreachableError
        A ``ValueError``: the counts evaluated do not grow with nf, or stay
        below ``width`` up to :data:`MAX_NF`.

    Examples
    --------
    >>> closest_nf(lambda nf: 5 * nf, 121)
    24
    >>> closest_nf(lambda nf: min(nf, 64), 100, "capped")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    skaudio_random.architectures.WidthUnreachableError: capped cannot give ...
    """
    what = name or "n_features"
    seen: dict[int, int] = {}

    def count(nf: int) -> int:
        if nf not in seen:
            seen[nf] = int(n_features(nf))
            nfs = sorted(seen)
            k = nfs.index(nf)
            around = nfs[max(k - 1, 0) : k + 2]  # nf and its evaluated neighbours
            for a, b in zip(around, around[1:], strict=False):
                if seen[a] >= seen[b]:
                    _not_increasing(what, width, seen, a, b)
        return seen[nf]

    lo, hi = 1, 1
    count(2)  # one more count: nf=1 alone says nothing of the growth
    while count(hi) < width:
        if hi >= MAX_NF:
            raise WidthUnreachableError(
                f"{what} cannot give width={width} features: at most "
                f"{seen[hi]}, at nf={hi} (MAX_NF, the largest nf searched)."
            )
        lo, hi = hi, min(2 * hi, MAX_NF)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(mid) >= width:
            hi = mid
        else:
            lo = mid + 1
    if lo > 1 and width - count(lo - 1) <= count(lo) - width:
        return lo - 1
    return lo


def _reached(seen: dict[int, int]) -> str:
    counts = ", ".join(f"{seen[nf]} (nf={nf})" for nf in sorted(seen))
    return f"it reaches {counts}, at most {max(seen.values())}"


def _not_increasing(what: str, width: int, seen: dict, a: int, b: int):
    grow = "stops growing" if seen[a] == seen[b] else "falls"
    good = {nf: c for nf, c in seen.items() if nf <= a}
    raise WidthUnreachableError(
        f"{what} cannot give width={width} features: its feature count {grow} "
        f"with nf ({seen[a]} at nf={a}, {seen[b]} at nf={b}); "
        f"{_reached(good)}. With width=, the feature count must grow with nf."
    )
