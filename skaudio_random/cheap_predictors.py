"""Cheap predictors of trained accuracy: scores of an untrained network.

The premise study (:mod:`skaudio_random.premise`) asks whether random-feature
accuracy predicts the accuracy of the architecture trained end to end. These
are the cheap rivals it is compared with, none of which trains anything or
looks at a label: the parameter count (:func:`parameter_count`), the
arithmetic of one forward pass (:func:`flops_per_clip`) and the training-free
score of Mellor et al. (:func:`naswot_score`); :func:`cheap_scores` gives all
three for an architecture and a batch of audio clips.

References
----------
J. Mellor, J. Turner, A. Storkey and E. J. Crowley, "Neural Architecture
Search without Training", ICML 2021 (arXiv:2006.04647v2).
"""

from __future__ import annotations

import copy
import inspect
import math

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from .architectures._blocks import N_MELS

__all__ = ["parameter_count", "flops_per_clip", "naswot_score", "cheap_scores"]

#: The rectifiers whose units :func:`naswot_score` codes by the sign of their
#: input (the side of the kink): ReLU, and the ELU and leaky ReLU (linear for
#: a positive input) of the networks that use them, such as VGG's ELU.
RECTIFIERS = frozenset(
    {
        torch.ops.aten.relu.default,
        torch.ops.aten.relu_.default,
        torch.ops.aten.elu.default,
        torch.ops.aten.elu_.default,
        torch.ops.aten.leaky_relu.default,
        torch.ops.aten.leaky_relu_.default,
    }
)
#: Most binary codes multiplied at once (float32 sums of at most 2**24 ones
#: are exact), bounding the memory of a layer's kernel update.
_CHUNK_ELEMENTS = 1 << 24


def parameter_count(network: nn.Module) -> int:
    """Number of parameters of a network (each shared tensor counted once).

    Parameters
    ----------
    network : torch.nn.Module
        E.g. ``build_network(name, width=120)``: the feature network, without
        the linear head that :class:`~skaudio_random.TrainedNetworkClassifier`
        adds (``n_features * n_classes + n_classes`` more).

    Returns
    -------
    int

    Examples
    --------
    >>> from torch import nn
    >>> parameter_count(nn.Sequential(nn.Conv1d(2, 3, 5), nn.Linear(4, 1)))
    38
    """
    return sum(p.numel() for p in network.parameters())


def _forward(network: nn.Module, x: Tensor) -> Tensor:
    """The plain forward: built-in networks take ``reference=True`` (their
    hand-written fast path computes the same with other operations)."""
    if "reference" in inspect.signature(network.forward).parameters:
        return network(x, reference=True)
    return network(x)


def _input_shape(input_kind: str, length: int) -> tuple[int, ...]:
    if input_kind not in ("mel", "waveform"):
        raise ValueError(f"input_kind must be 'mel' or 'waveform'; got {input_kind!r}.")
    if not (isinstance(length, (int, np.integer)) and length >= 1):
        raise ValueError(f"length must be a positive int; got {length!r}.")
    return (1, int(length)) if input_kind == "waveform" else (1, N_MELS, int(length))


def flops_per_clip(network: nn.Module, input_kind: str, length: int) -> int:
    """Floating-point operations of one forward pass on one clip.

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode` on a copy of
    the network on the meta device (no arithmetic is done, any width is cheap):
    convolutions and matrix products (linear layers), a multiply-add counted
    as two, so ``flops_per_clip(...) // 2`` is the multiply-accumulates
    (MACs: output elements x ``in_channels / groups`` x kernel elements for a
    convolution, padding zeros included). Activations, pooling, means and the
    log-mel front end are not counted.

    Parameters
    ----------
    network : torch.nn.Module
        The network, e.g. ``build_network(name, width=120)``.
    input_kind : {"mel", "waveform"}
        Its input: a log-mel clip ``(1, 96, length)`` or a waveform
        ``(1, length)``.
    length : int
        Frames (mel) or samples (waveform) of the clip.

    Returns
    -------
    int
        FLOPs = 2 x MACs.

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Conv1d(96, 4, kernel_size=3)  # 4 x 8 outputs, each 96 x 3 MACs
    >>> flops_per_clip(net, "mel", 10)
    18432
    """
    shape = _input_shape(input_kind, length)
    meta = copy.deepcopy(network).to("meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        _forward(meta, torch.empty(shape, device="meta"))
    return int(counter.get_total_flops())


def _check_batch(network: nn.Module, X) -> Tensor:
    x = torch.as_tensor(X, dtype=torch.float32)
    kind = getattr(network, "input_kind", None)
    expected = {
        "mel": f"(n_clips, {N_MELS}, n_frames)",
        "waveform": "(n_clips, n_samples)",
    }
    if kind == "mel":
        good = x.ndim == 3 and x.shape[1] == N_MELS
    elif kind == "waveform":
        good = x.ndim == 2
    else:
        good = x.ndim >= 2
    if not good:
        raise ValueError(
            f"X must be a batch of {kind} inputs of shape {expected[kind]} for "
            f"this network; got shape {tuple(x.shape)}."
            if kind in expected
            else f"X must be a batch of inputs (n_clips, ...); got {tuple(x.shape)}."
        )
    if len(x) < 2:
        raise ValueError(
            f"X must hold at least 2 inputs (the score compares their activation "
            f"patterns); got {len(x)}."
        )
    if not torch.isfinite(x).all():
        raise ValueError("X holds NaN or infinite values.")
    min_length = getattr(network, "min_length", 1)
    if x.shape[-1] < min_length:
        raise ValueError(
            f"X's inputs are {x.shape[-1]} long; this network needs at least "
            f"{min_length}."
        )
    return x


class _PatternKernel(TorchDispatchMode):
    """Adds the units of every rectifier call to ``K = C C^T + (1-C)(1-C)^T``."""

    def __init__(self, n: int):
        super().__init__()
        self.kernel = torch.zeros(n, n, dtype=torch.float64)
        self.n_units = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in RECTIFIERS:
            self._add(func, args[0])  # before an in-place op overwrites it
        return func(*args, **(kwargs or {}))

    def _add(self, func, pre: Tensor) -> None:
        n = len(self.kernel)
        if pre.ndim == 0 or pre.shape[0] != n:
            raise ValueError(
                f"naswot_score: the network applies {func} to a tensor of shape "
                f"{tuple(pre.shape)}, not to a batch of the {n} inputs; only "
                "rectifiers of batch-first tensors can be scored."
            )
        codes = (pre > 0).reshape(n, -1)
        step = max(1, _CHUNK_ELEMENTS // n)
        for start in range(0, codes.shape[1], step):
            c = codes[:, start : start + step].to(torch.float32)
            ones = c.sum(1, dtype=torch.float64)
            both = (c @ c.T).double()  # exact: sums of at most 2**24 ones
            # agreements = both on + both off = 2 c c^T + m - s_i - s_j
            self.kernel += 2 * both + c.shape[1] - ones[:, None] - ones[None, :]
        self.n_units += codes.shape[1]


def naswot_score(network: nn.Module, X) -> float:
    """The training-free score of Mellor et al. (ICML 2021) of a network.

    For a batch of N inputs, every rectifier unit (every element of every
    ReLU's output, over channels, time and frequency) is coded 1 if its input
    is positive, else 0; with ``c_i`` the code of input i over all N_A units,
    ``K[i, j] = N_A - Hamming(c_i, c_j)`` (the units on which i and j agree)
    and the score is ``log |det K|``. Networks whose units separate the
    inputs more score higher. ``K`` is accumulated layer by layer in float64
    (exact counts), never holding all codes at once.

    Parameters
    ----------
    network : torch.nn.Module
        The untrained network, e.g. ``build_network(name, width=120,
        random_state=0)``. Run once on ``X`` in eval mode without gradients
        (its training mode is restored); built-in networks through their
        plain forward (``reference=True``). Rectifiers are found where they
        run, whether ``nn.ReLU`` modules or functional (``F.relu``,
        ``F.relu_``, ``Tensor.relu_``): every call of :data:`RECTIFIERS`
        counts; ELU and leaky ReLU units (VGG's ELU) are coded the same way,
        by the sign of their input.
    X : Tensor or ndarray of shape (N, 96, n_frames) or (N, n_samples)
        Network inputs of N >= 2 real clips, as the transformers make them
        (see :func:`cheap_scores`, which builds them from audio). The score
        depends on N: compare architectures on the same batch.

    Returns
    -------
    float
        ``log |det K|``; ``-inf`` when ``K`` is singular, in particular when
        two inputs have the same code on every unit (e.g. identical inputs).

    Raises
    ------
    ValueError
        If ``X`` is not a batch of at least 2 finite inputs of the network's
        ``input_kind`` shape (when it has one), or the network has no
        rectifier.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU())
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.eye(2))
    >>> X = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])
    >>> # codes [1, 0], [1, 1], [0, 0]: K = [[2, 1, 1], [1, 2, 0], [1, 0, 2]]
    >>> round(naswot_score(net, X), 6) == round(math.log(4), 6)
    True
    """
    x = _check_batch(network, X)
    patterns = _PatternKernel(len(x))
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad(), patterns:
            _forward(network, x)
    finally:
        network.train(was_training)
    if patterns.n_units == 0:
        raise ValueError(
            "naswot_score: the network applied no rectifier (ReLU, ELU, leaky "
            "ReLU) to X; the score codes rectifier units."
        )
    kernel = patterns.kernel.numpy()
    off_diagonal = ~np.eye(len(kernel), dtype=bool)
    if np.any(kernel[off_diagonal] == patterns.n_units):  # two equal codes
        return -math.inf
    sign, logdet = np.linalg.slogdet(kernel)
    return -math.inf if sign == 0 else float(logdet)


def cheap_scores(
    architecture,
    X,
    *,
    width: int = 120,
    n_frames: int = 1376,
    n_samples: int = 350000,
    fix_length: str = "crop",
    sr: int = 12000,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> dict:
    """All cheap predictors of one architecture, scored on audio clips.

    The network is the untrained one that
    :class:`~skaudio_random.TrainedNetworkClassifier` starts from
    (:func:`~skaudio_random.trained.build_network`), its inputs made from the
    clips as the random-feature transformers make them
    (:func:`~skaudio_random.trained.prepare_inputs`: log-mel in dB or
    waveform, no standardisation). Labels are never used.

    Parameters
    ----------
    architecture : str or callable
        As for ``build_network``: a registry key of
        :data:`~skaudio_random.architectures.ARCHITECTURES`, an import path or
        a factory (whose module has an ``input_kind``).
    X : list of path-like, list of 1-D arrays, or array (n_clips, n_times)
        At least 2 clips for the NASWOT score (e.g. 64-128 training clips,
        the same for every architecture).
    width : int, default=120
        Feature-vector length (the paper's 120 or 3500).
    n_frames, n_samples : int, default=1376, 350000
        Input length of a mel or waveform network, as for the classifier.
    fix_length : {"crop", "repeat", "zero"}, default="crop"
        The length rule (the dataset bunch's ``fix_length``).
    sr : int, default=12000
        Sample rate.
    random_state : int, default=0
        Seed of the weights (the trained counterpart's initial weights).
    n_jobs : int, default=None
        Threads decoding files.

    Returns
    -------
    dict
        ``parameters`` (:func:`parameter_count`), ``flops``
        (:func:`flops_per_clip`, one clip of the input length), ``naswot``
        (:func:`naswot_score` on the clips), ``n_clips``, ``input_kind``,
        ``length``.

    Examples
    --------
    >>> import numpy as np
    >>> clips = list(np.random.default_rng(0).standard_normal((4, 12000)))
    >>> s = cheap_scores("vertical_7x96", clips, width=8, n_frames=40)
    >>> s["parameters"], s["n_clips"], bool(np.isfinite(s["naswot"]))
    (5384, 4, True)
    >>> s["flops"] == 2 * 8 * (40 - 7 + 1) * 7 * 96  # 8 filters 7 x 96, valid
    True
    """
    from .trained import build_network, prepare_inputs

    network = build_network(architecture, width=width, random_state=random_state)
    kind = getattr(network, "input_kind", None)
    if kind not in ("mel", "waveform"):
        raise ValueError(
            f"architecture={architecture!r} gives a network without an input_kind "
            f"of 'mel' or 'waveform' (got {kind!r}); use the functions on the "
            "network and its inputs directly."
        )
    length = n_frames if kind == "mel" else n_samples
    x = prepare_inputs(
        X, kind, length=length, fix_length_mode=fix_length, sr=sr, n_jobs=n_jobs
    )
    return {
        "parameters": parameter_count(network),
        "flops": flops_per_clip(network, kind, length),
        "naswot": naswot_score(network, x),
        "n_clips": len(x),
        "input_kind": kind,
        "length": length,
    }
