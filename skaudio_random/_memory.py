"""Memory estimates made before a network is built or a clip is decoded.

A size that cannot fit (``VGG(width=10**6)``: about 1.4 TB of weights;
``n_frames=10**9``: hundreds of GB per clip) should fail at once with an error
that names the parameter, not minutes later with an allocator's message. The
estimate never allocates the network: every architecture's weight count is a
quadratic polynomial of its filter count ``nf`` (convolutions from ``a * nf``
to ``b * nf`` channels) and each activation map is linear in ``nf``, so both
are measured on three tiny builds and extrapolated (exactly, up to the
rounding of filter ratios); activation shapes come from a forward pass on the
meta device, which computes shapes and no data.
"""

from __future__ import annotations

import copy
import os

import torch

from ._utils import make_generator

__all__ = [
    "available_bytes",
    "check_cnn_memory",
    "check_memory",
    "check_network_memory",
    "estimate_activation_bytes",
    "estimate_weight_bytes",
    "format_bytes",
]

#: Filter counts of the tiny builds the estimate extrapolates from.
_SAMPLE_NF = (4, 8, 12)
#: Bytes per float32 value; an activation is counted three times (its input,
#: itself and scratch), as in the GPU batch-size budget.
_FLOAT = 4
_ACTIVATION_COPIES = 3
_REFERENCE_LENGTH = 1 << 20


def format_bytes(n: float) -> str:
    """``1.4 TB``-style size (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def available_bytes(device: torch.device) -> int:
    """Memory that can be allocated now on ``device``.

    CUDA: the free memory of the device. CPU: ``psutil``'s available memory when
    psutil is installed, else ``MemAvailable`` of ``/proc/meminfo``, else the
    physical memory size from :func:`os.sysconf`.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _extrapolate(values: list[tuple[int, ...]], nf: int) -> list[float]:
    """Lagrange extrapolation of each column of ``values`` (one row per sample nf)."""
    xs = _SAMPLE_NF[: len(values)]
    out = []
    for column in zip(*values, strict=True):
        total = 0.0
        for j, (xj, yj) in enumerate(zip(xs, column, strict=True)):
            weight = 1.0
            for m, xm in enumerate(xs):
                if m != j:
                    weight *= (nf - xm) / (xj - xm)
            total += weight * yj
        out.append(max(total, 0.0))
    return out


_MEMO: dict[tuple, list] = {}


def _tiny_nets(spec, options: tuple) -> list:
    """The architecture built at each of the sample filter counts (kilobytes)."""
    key = ("nets", spec.name, spec.build, options)
    if key not in _MEMO:
        _MEMO[key] = [
            spec.build(nf, generator=make_generator(0), **dict(options))
            for nf in _SAMPLE_NF
        ]
    return _MEMO[key]


def _map_sizes(spec, options: tuple, input_shape: tuple[int, ...]) -> list:
    """Output numel of every module of the first two tiny builds at ``input_shape``
    (meta device: shapes only)."""
    key = ("maps", spec.name, spec.build, options, input_shape)
    if key in _MEMO:
        return _MEMO[key]
    maps = [
        tuple(_output_sizes(copy.deepcopy(net).to("meta"), None, input_shape))
        for net in _tiny_nets(spec, options)[:2]
    ]
    _MEMO[key] = maps
    return maps


def _output_sizes(module, run, input_shape: tuple[int, ...]) -> list[int]:
    """Numel of every tensor output of the modules of meta-device ``module``
    in ``run(x)`` (default ``module(x)``) for one meta input of ``input_shape``."""
    sizes: list[int] = []

    def hook(mod, inputs, output):
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel())

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with torch.inference_mode():
            (run or module)(torch.empty((1, *input_shape), device="meta"))
    finally:
        for h in handles:
            h.remove()
    return sizes


def estimate_weight_bytes(spec, nf: int, options: dict) -> int:
    """float32 bytes of the weights of ``spec`` at ``nf`` (nothing is built at nf)."""
    nets = _tiny_nets(spec, tuple(sorted(options.items())))
    params = [tuple(p.numel() for p in net.parameters()) for net in nets]
    return int(_FLOAT * sum(_extrapolate(params, nf)))


def estimate_activation_bytes(
    spec, nf: int, options: dict, input_shape: tuple[int, ...]
) -> int:
    """Bytes of the largest activation map of one clip (counted three times).

    ``input_shape`` is one clip's network input, ``(n_times,)`` or
    ``(n_mels, n_frames)``. Lengths past torch's 32-bit shape arithmetic (about
    2**31 positions) are measured at 2**20 and scaled, maps being linear in the
    input length.
    """
    options = tuple(sorted(options.items()))
    scale = 1.0
    try:
        maps = _map_sizes(spec, options, input_shape)
    except RuntimeError:
        if input_shape[-1] <= _REFERENCE_LENGTH:
            raise
        maps = _map_sizes(spec, options, (*input_shape[:-1], _REFERENCE_LENGTH))
        scale = input_shape[-1] / _REFERENCE_LENGTH
    peak = max(_extrapolate(maps, nf), default=0.0)
    return int(_FLOAT * _ACTIVATION_COPIES * peak * scale)


def check_memory(
    owner: str,
    spec,
    nf: int,
    options: dict,
    device: torch.device,
    *,
    width,
    length_name: str,
    length: int | None,
    frontend_bytes: int = 0,
) -> None:
    """Raise a MemoryError before building when weights or one clip cannot fit.

    Parameters
    ----------
    owner : str
        The estimator, for the message (``"VGG"``).
    spec : ArchitectureSpec
        The architecture.
    nf : int
        Its filter count (from ``width``).
    options : dict
        Extra build options of ``spec``.
    device : torch.device
        Where the network runs (weights are drawn on the CPU first).
    width : int
        The ``width`` parameter, named in the message.
    length_name, length : str, int or None
        The input-length parameter (``"n_frames"`` or ``"n_samples"``) and the
        length every clip is brought to, or ``None`` (``fix_length="none"``).
    frontend_bytes : int, default=0
        Memory of one clip before the network (waveform, spectrogram).

    Raises
    ------
    MemoryError
        Naming ``width`` when the weights alone exceed the available memory,
        else ``length_name`` when one clip's input and activations do.
    """
    weights = estimate_weight_bytes(spec, nf, options)
    shape = None
    if length is not None:
        shape = (96, length) if spec.input_kind == "mel" else (length,)
    _check_budget(
        weights,
        lambda: estimate_activation_bytes(spec, nf, options, shape),
        device,
        weights_need=f"{owner}(width={width}) needs about {{need}} for its weights "
        f"({nf} filters per layer unit)",
        weights_advice="use a smaller width (the paper's are 120 and 3500)",
        clip_need=f"{owner}({length_name}={length}) needs about {{need}} for one "
        f"clip (input and largest activation maps at width={width})",
        length_name=length_name if length is not None else None,
        frontend_bytes=frontend_bytes,
    )


def _check_budget(
    weights: int,
    activations,
    device: torch.device,
    *,
    weights_need: str,
    weights_advice: str,
    clip_need: str,
    length_name: str | None,
    frontend_bytes: int,
) -> None:
    """The refusals of :func:`check_memory`: ``weights`` bytes on the CPU (where
    they are drawn) and on ``device``, then ``activations()`` (bytes of one
    clip's largest maps; skipped when ``length_name`` is ``None``) plus
    ``frontend_bytes`` on ``device``. ``weights_need`` and ``clip_need`` open
    the messages, ``{need}`` standing for the size."""
    places = [torch.device("cpu")] + ([device] if device.type != "cpu" else [])
    for place in places:  # drawn on the CPU, then moved to the device
        available = available_bytes(place)
        if weights > available:
            raise MemoryError(
                f"{weights_need.format(need=format_bytes(weights))}, more than the "
                f"{format_bytes(available)} of memory available on {place}; "
                f"{weights_advice}."
            )
    if length_name is None:
        return
    try:
        per_clip = activations() + frontend_bytes
    except ValueError:  # shorter than the network's minimum: the length check says so
        return
    available = available_bytes(device)
    if weights + per_clip > available:
        raise MemoryError(
            f"{clip_need.format(need=format_bytes(per_clip))} plus "
            f"{format_bytes(weights)} of weights, more than the "
            f"{format_bytes(available)} of memory available on {device}; use a "
            f"smaller {length_name}."
        )


def _clip_length(estimator, mel: bool):
    """``(length parameter, length every clip is brought to or None, bytes of one
    clip before the network)`` of a transformer."""
    length_name = "n_frames" if mel else "n_samples"
    length = getattr(estimator, length_name)
    if estimator.fix_length == "none":
        return length_name, None, 0
    if mel:  # waveform, complex STFT and power, mel bands (n_fft 512, hop 256)
        frontend = length * (_FLOAT * 256 + 2 * 8 * 257 + _FLOAT * 96)
    else:  # the clip and its tensor
        frontend = 2 * _FLOAT * length
    return length_name, length, frontend


def check_network_memory(estimator, meta, layout, device: torch.device) -> None:
    """:func:`check_memory` for a :class:`RandomNetworkFeatures`, before any
    weight is drawn.

    ``meta`` is the user's network built on the meta device and ``layout`` its
    :class:`~skaudio_random.architectures._network.NetworkLayout`: the weights
    are its parameters and buffers (exact, counted on the meta device), one
    clip's activations the largest output of its modules in a meta forward
    pass up to the last averaged layer (counted three times, as for the
    built-ins; lengths past torch's shape arithmetic are measured at 2**20 and
    scaled).
    """
    from .architectures._network import NetworkFeatures, network_label

    weights = sum(
        t.numel() * t.element_size() for t in (*meta.parameters(), *meta.buffers())
    )
    mel = estimator.input == "mel"
    length_name, length, frontend = _clip_length(estimator, mel)

    def activations() -> int:
        run = NetworkFeatures(meta, layout, estimator.input, "memory estimate")
        shape = (96, length) if mel else (length,)
        scale = 1.0
        try:
            try:
                sizes = _output_sizes(meta, run, shape)
            except RuntimeError:
                if length <= _REFERENCE_LENGTH:
                    raise ValueError("the network fails at this length") from None
                sizes = _output_sizes(meta, run, (*shape[:-1], _REFERENCE_LENGTH))
                scale = length / _REFERENCE_LENGTH
        finally:
            for h in run._hooks:
                h.remove()
        return int(_FLOAT * _ACTIVATION_COPIES * max(sizes, default=0) * scale)

    width = "" if estimator.width is None else f", width={estimator.width}"
    label = network_label(estimator.network)
    owner = f"{type(estimator).__name__}(network={label}{width}"
    _check_budget(
        weights,
        activations,
        device,
        weights_need=f"{owner}) needs about {{need}} for its weights (parameters and "
        "buffers, counted on the meta device)",
        weights_advice="use a smaller network"
        + (" or width" if estimator.width is not None else ""),
        clip_need=f"{owner}, {length_name}={length}) needs about {{need}} for one "
        "clip (input and largest activation maps)",
        length_name=length_name if length is not None else None,
        frontend_bytes=frontend,
    )


def check_cnn_memory(estimator, spec, nf: int, device: torch.device) -> None:
    """:func:`check_memory` for a :class:`RandomCNNBase` transformer's parameters."""
    length_name, length, frontend = _clip_length(estimator, spec.input_kind == "mel")
    options = estimator._options()
    check_memory(
        type(estimator).__name__,
        spec,
        nf,
        options,
        device,
        width=estimator.width,
        length_name=length_name,
        length=length,
        frontend_bytes=frontend,
    )
