"""Any torch network as a random-weight feature extractor, the paper's way.

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP: an architecture is judged before it is trained by the features of its
random-weight version, the time averages of its feature maps (SPEC section 3).
:class:`NetworkFeatures` applies that rule to any :class:`torch.nn.Module`:

- **weights** (``init="paper"``): every ``Conv1d``/``Conv2d``/``Conv3d`` and
  ``Linear`` weight, in registration order (``module.modules()``), is drawn on
  the CPU from a seeded generator as a truncated normal with
  sigma = sqrt(2.6 / fan_in), fan_in = the weight's elements per output unit,
  and every bias of those layers is zero (SPEC section 3.1, the same draw as the
  built-in networks). Any other parameter or buffer keeps the network's own
  initialisation, run under ``torch.manual_seed(seed)`` in a forked RNG so it is
  deterministic too (``init="network"`` keeps everything of the network's own).
- **features**: forward hooks on the named layers; each layer's output of shape
  (batch, channels, *positions) is averaged per channel over all positions (as
  the built-ins do: over time, and over mel too for 2-D maps), an output of
  shape (batch, n) is taken as it is; the layers' vectors are concatenated in
  the order of ``layers``. A module called several times in one forward pass
  contributes its first call; the forward pass stops once every named layer has
  run, so a classifier head after them costs nothing.
- **default layers** (``layers=None``): every convolution *block*: the output
  of every module that has a convolution as a direct child (a module whose
  convs sit in a ``ModuleList``/``ModuleDict`` counts as their parent; the
  whole network counts under the name ``""``); inside an ``nn.Sequential``,
  a block is a run of children from a convolution up to the next one, and its
  output is that of the run's last child (the activation or pooling after the
  conv).
- **input**: what the built-ins get: a log-mel batch ``(batch, 96, n_frames)``
  (dB; add ``x.unsqueeze(1)`` for 2-D convolutions) or a waveform batch
  ``(batch, n_samples)``.
- **shapes** come from running the network on the meta device (no arithmetic):
  the channels of every layer, and the smallest input length for which every
  named layer runs and has at least one position (found by search).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import math
import threading
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._blocks import N_MELS, check_input_batch, truncated_normal_

__all__ = [
    "NetworkFeatures",
    "NetworkLayout",
    "NotANetworkFactoryError",
    "check_network_factory",
    "build_network",
    "default_layers",
    "describe_network",
    "network_label",
    "paper_init_",
    "plugin",
    "probe_length",
    "structure_digest",
    "behaviour_digest",
    "import_object",
]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_INITIALISED = (*_CONVS, nn.Linear)
_CONTAINERS = (nn.ModuleList, nn.ModuleDict)
INPUT_KINDS = ("mel", "waveform")
#: Longest input tried when searching the smallest valid one (samples / frames).
_MAX_LENGTH = {"waveform": 1 << 24, "mel": 1 << 18}
ROOT_NAME = "output"  # how the whole network's output is named in features

_CAPTURE = threading.local()  # per-thread store of the running forward pass


class _Done(Exception):
    """Raised by a hook once every named layer has run: stops the forward pass."""


# ----------------------------------------------------------------------- naming
def network_label(factory) -> str:
    """A readable name of a network factory: ``module.qualname`` (partials
    show their function and arguments)."""
    if isinstance(factory, functools.partial):
        args = [repr(a) for a in factory.args]
        args += [f"{k}={v!r}" for k, v in factory.keywords.items()]
        return f"{network_label(factory.func)}({', '.join(args)})"
    module = getattr(factory, "__module__", None)
    name = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{module}.{name}" if module else name


def import_object(path: str):
    """The object named by an import path ``"package.module:attribute"``.

    Raises
    ------
    ValueError
        If ``path`` has no single ``:``, the module cannot be imported or has no
        such attribute.
    """
    if not isinstance(path, str) or path.count(":") != 1:
        raise ValueError(
            f"an import path must look like 'package.module:name'; got {path!r}."
        )
    module_name, attr = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {module_name!r} of {path!r}: {exc}"
        ) from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(
                f"module {module_name!r} has no attribute {attr!r} ({path!r})."
            )
        obj = getattr(obj, part)
    return obj


# ----------------------------------------------------------------------- layers
def default_layers(module: nn.Module) -> list[str]:
    """Qualified names of the convolution blocks of ``module`` (see the module
    docstring), in registration order; ``""`` is the whole network."""
    names: list[str] = []
    for qual, m in module.named_modules():
        if isinstance(m, _CONTAINERS):
            continue
        children = list(m.named_children())
        direct = [c for _, c in children]
        for _, c in children:  # convs held in a ModuleList/Dict belong to m
            if isinstance(c, _CONTAINERS):
                direct += [g for g in c.children() if isinstance(g, _CONVS)]
        if isinstance(m, nn.Sequential):
            starts = [i for i, (_, c) in enumerate(children) if isinstance(c, _CONVS)]
            for k in range(len(starts)):
                end = (starts[k + 1] if k + 1 < len(starts) else len(children)) - 1
                names.append(_join(qual, children[end][0]))
        elif any(isinstance(c, _CONVS) for c in direct):
            names.append(qual)
    return list(dict.fromkeys(names))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def check_layers(module: nn.Module, layers, label: str) -> list[str]:
    """The layer names to average: ``layers`` validated, or the default blocks."""
    valid = dict(module.named_modules())
    if layers is None:
        names = default_layers(module)
        if not names:
            raise ValueError(
                f"network {label} has no convolution block to average (no module with "
                "a Conv1d/Conv2d/Conv3d child); name the layers with layers=[...]. "
                f"Its modules: {_listing(valid)}."
            )
        return names
    if isinstance(layers, str):
        layers = [layers]
    names = list(layers)
    if not names:
        raise ValueError(
            f"network {label}: layers is empty; there is no layer to average."
        )
    for name in names:
        if not isinstance(name, str) or name not in valid:
            raise ValueError(
                f"network {label} has no layer {name!r}; valid names: "
                f"{_listing(valid)}."
            )
    if len(set(names)) != len(names):
        raise ValueError(f"network {label}: layers {names} names a layer twice.")
    return names


def _listing(modules: dict) -> str:
    return ", ".join(repr(k) for k in modules)


def feature_label(layer: str) -> str:
    return layer or ROOT_NAME


# ----------------------------------------------------------------------- weights
def paper_init_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Draw every conv/linear weight the paper's way; zero their biases.

    Modules are visited in registration order; each weight tensor is filled
    row-major by :func:`~skaudio_random.architectures._blocks.truncated_normal_`
    with sigma = sqrt(2.6 / fan_in), fan_in = ``weight[0].numel()`` (input
    channels / groups x kernel elements, or input features).
    """
    for m in module.modules():
        if isinstance(m, _INITIALISED):
            with torch.no_grad():
                truncated_normal_(
                    m.weight, math.sqrt(2.6 / m.weight[0].numel()), generator
                )
                if m.bias is not None:
                    m.bias.zero_()
    return module


class NotANetworkFactoryError(ValueError, TypeError):
    """An object given as a network factory is none (a ValueError, and a
    TypeError as before)."""


_FACTORY = "a network factory (a callable returning a torch.nn.Module)"


def check_network_factory(factory, what: str | None = None, *, or_transformer=False):
    """``factory`` if it can be a network factory, found without calling it.

    A factory is an ``nn.Module`` subclass, a Python function or callable
    object, or a :func:`functools.partial` of one. Refused at once: what is not
    callable, a class that is not an ``nn.Module`` subclass, a module instance
    (pass its class or a function returning it), and functions implemented in
    C (``os.system``, ``print``), which never build a network and should not be
    called with an ``nf``.

    ``or_transformer=True`` says that a transformer class was accepted too
    (:func:`~skaudio_random.resolve_model`'s import paths).

    Raises
    ------
    NotANetworkFactoryError
        Naming ``what`` (default: the factory's repr) and why.
    """
    what = what or repr(factory)
    func = factory
    while isinstance(func, functools.partial):
        func = func.func
    why = None
    if not callable(func):
        why = f"it is an object of type {type(func).__name__}, not callable"
    elif isinstance(func, nn.Module):
        why = (
            f"it is a {type(func).__name__} instance; pass its class or a function "
            "that returns it"
        )
    elif isinstance(func, type):
        if not issubclass(func, nn.Module):
            why = f"it is the class {func.__qualname__}, not an nn.Module subclass"
    elif not (inspect.isfunction(func) or inspect.ismethod(func)):
        call = inspect.getattr_static(type(func), "__call__", None)
        if inspect.isbuiltin(func) or not inspect.isfunction(call):
            why = (
                f"{network_label(func)} is a built-in {type(func).__name__} "
                "(implemented in C), which builds no network"
            )
    if why:
        also = (
            " and neither a transformer class nor a network" if or_transformer else ""
        )
        raise NotANetworkFactoryError(f"{what} is not {_FACTORY}{also}: {why}.")
    return factory


def _call_factory(factory, args: tuple, kwargs: dict, label: str, meta=False):
    """``factory(*args, **kwargs)``, checked to be an ``nn.Module``; on the meta
    device (the first call of a factory) what it raises is reported as what
    it is: a failed build, or no factory at all."""
    check_network_factory(factory, label)
    try:
        module = factory(*args, **kwargs)
    except Exception as exc:
        if not meta:
            raise
        call = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        raise NotANetworkFactoryError(
            f"{label} is not {_FACTORY}, or it failed: calling it with ({call}) on the "
            f"meta device raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(module, nn.Module):
        raise NotANetworkFactoryError(
            f"{label} is not {_FACTORY}: it returned a {type(module).__name__}; "
            f"network {label} must return a torch.nn.Module."
        )
    if any(
        isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters()
    ):
        raise ValueError(
            f"network {label} has lazy (uninitialised) parameters; give every layer "
            "its input size (e.g. nn.Conv1d instead of nn.LazyConv1d)."
        )
    return module


def build_network(
    factory,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    init: str = "paper",
    meta: bool = False,
) -> nn.Module:
    """``factory(*args, **kwargs)`` with deterministic weights, or on the meta device.

    The factory runs under ``torch.manual_seed(seed)`` in a forked RNG (``seed``
    defaults to one drawn from ``generator``); with ``init="paper"`` the conv and
    linear weights are then redrawn by :func:`paper_init_` from ``generator``
    (default: a generator seeded with ``seed``). ``meta=True`` builds the
    structure only (nothing allocated, nothing drawn).
    """
    label = network_label(factory)
    kwargs = dict(kwargs or {})
    if meta:
        with torch.device("meta"):
            module = _call_factory(factory, args, kwargs, label, meta=True)
        return module.eval().requires_grad_(False)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    if generator is None:
        generator = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        module = _call_factory(factory, args, kwargs, label)
    if init == "paper":
        paper_init_(module, generator)
    return module.eval().requires_grad_(False)


# ----------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class NetworkLayout:
    """What the meta device tells about a network.

    Attributes
    ----------
    layers : tuple of str
        Qualified names of the averaged layers, in feature order.
    channels : tuple of int
        Features per layer.
    min_length : int
        Smallest input length (samples or frames) the network runs on with at
        least one position in every averaged map.
    """

    layers: tuple[str, ...]
    channels: tuple[int, ...]
    min_length: int

    @property
    def n_features(self) -> int:
        return sum(self.channels)


class _ProbeError(Exception):
    pass


def _input_shape(input_kind: str, length: int) -> tuple[int, ...]:
    return (1, length) if input_kind == "waveform" else (1, N_MELS, length)


def _probe(module: nn.Module, layers: list[str], input_kind: str, length: int, label):
    """Output shapes of ``layers`` for one meta input of ``length``.

    Raises _ProbeError (the network fails, or a map has no position) with the
    reason; ValueError for a layer output that is not a feature map.
    """
    x = torch.empty(_input_shape(input_kind, length), device="meta")
    try:
        shapes = {k: s for k, (s, _) in _run(module, layers, x, label).items()}
    except (RuntimeError, IndexError) as exc:
        raise _ProbeError(f"{type(exc).__name__}: {exc}") from exc
    for name in layers:
        if name not in shapes:
            raise ValueError(
                f"layer {name!r} of network {label} did not run in its forward pass; "
                "name layers that the forward pass calls."
            )
        if math.prod(shapes[name][2:]) == 0:
            raise _ProbeError(f"layer {name!r} gives an empty map {shapes[name]}")
    return shapes


def time_grids(
    module: nn.Module, layers, input_kind: str, length: int, label: str
) -> dict[str, tuple[int, float, float]] | None:
    """``{layer: (time axis, centre of frame 0, step)}`` in input units.

    ``module`` is a meta-device build; nothing is computed. A layer's time
    axis is the map axis that grows with the input, its step the input growth
    per position (two runs: ``length`` and ``length`` plus a multiple of every
    stride of 2, 3 and 5). Frame 0's centre assumes the frames sit centred on
    the shortest input that gives the same number of positions (found by
    bisection), which is exact for valid and "same" convolutions and poolings.
    Positions: waveform sample ``k`` spans ``[k, k + 1)``, log-mel frame ``m``
    is centred on ``m``. Layers with no growing axis are left out; ``None`` if
    the network cannot run on the meta device.
    """
    layers = list(layers)
    delta = 2**10 * 3**6 * 5**2
    hooks = _attach(module, layers)

    def shapes(n):
        return _probe(module, layers, input_kind, n, label)

    try:
        first, second = shapes(length), shapes(length + delta)
        grids = {}
        for name in layers:
            grown = [
                a
                for a in range(2, len(first[name]))
                if second[name][a] > first[name][a]
            ]
            if not grown:
                continue
            axis = grown[-1]
            n1, n2 = int(first[name][axis]), int(second[name][axis])
            step = delta / (n2 - n1)
            lo, hi = 0, length  # the shortest length with n1 positions, in (lo, hi]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                try:
                    fits = shapes(mid)[name][axis] == n1
                except (_ProbeError, ValueError):
                    fits = False
                lo, hi = (lo, mid) if fits else (mid, hi)
            span = hi - (n1 - 1) * step
            centre = (span if input_kind == "waveform" else span - 1) / 2
            grids[name] = (axis, centre, step)
    except (_ProbeError, ValueError):
        return None
    finally:
        for h in hooks:
            h.remove()
    return grids


def describe_network(
    module: nn.Module, layers, input_kind: str, label: str
) -> NetworkLayout:
    """Validate ``layers`` and find channels and the minimum length on the meta
    device. ``module`` should be a meta-device build (see :func:`build_network`)."""
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"input must be one of {INPUT_KINDS}; got {input_kind!r}.")
    names = check_layers(module, layers, label)
    unit = "samples" if input_kind == "waveform" else "frames"
    hooks = _attach(module, names)
    try:
        lo, hi = 0, 1  # lo fails, hi is tried next
        while True:
            try:
                shapes = _probe(module, names, input_kind, hi, label)
                break
            except _ProbeError as exc:
                if hi >= _MAX_LENGTH[input_kind]:
                    raise ValueError(
                        f"network {label} fails on every {input_kind} input up to "
                        f"{hi} {unit} of shape {_input_shape(input_kind, hi)} on the "
                        f"meta device: {exc}"
                    ) from None
                lo, hi = hi, min(2 * hi, _MAX_LENGTH[input_kind])
        while hi - lo > 1:  # smallest valid length in (lo, hi]
            mid = (lo + hi) // 2
            try:
                shapes = _probe(module, names, input_kind, mid, label)
                hi = mid
            except _ProbeError:
                lo = mid
    finally:
        for h in hooks:
            h.remove()
    channels = tuple(int(shapes[n][1]) for n in names)
    return NetworkLayout(tuple(names), channels, hi)


#: Shortest input :func:`probe_length` prefers (frames / samples).
_PROBE_LENGTH = {"mel": 16, "waveform": 1024}


def probe_length(
    module: nn.Module, layout: NetworkLayout, input_kind: str, label: str
) -> int:
    """A short input length for :func:`behaviour_digest`: the network's minimum,
    or 16 frames / 1024 samples when that is longer and the network runs on it
    (``module`` is a meta-device build)."""
    length = max(layout.min_length, _PROBE_LENGTH[input_kind])
    if length == layout.min_length:
        return length
    hooks = _attach(module, list(layout.layers))
    try:
        _probe(module, list(layout.layers), input_kind, length, label)
    except (_ProbeError, ValueError):
        return layout.min_length
    finally:
        for h in hooks:
            h.remove()
    return length


# ----------------------------------------------------------------------- forward
def _hook(name: str):
    def hook(module, inputs, output):
        store = getattr(_CAPTURE, "store", None)
        if store is None or name not in store["wanted"] or name in store["out"]:
            return
        if not isinstance(output, Tensor) or output.ndim < 2:
            got = (
                tuple(output.shape)
                if isinstance(output, Tensor)
                else type(output).__name__
            )
            raise ValueError(
                f"layer {name!r} of network {store['label']} must output a tensor of "
                f"shape (batch, channels, *positions) or (batch, n); got {got}."
            )
        shape = tuple(output.shape)
        means = output.float().flatten(2).mean(2) if output.ndim > 2 else output.float()
        store["out"][name] = (shape, means)
        if "maps" in store:  # a (batch, n) output as one position
            store["maps"][name] = output if output.ndim > 2 else output[..., None]
        if len(store["out"]) == len(store["wanted"]):
            raise _Done

    return hook


def _attach(module: nn.Module, names: list[str]) -> list:
    modules = dict(module.named_modules())
    return [modules[n].register_forward_hook(_hook(n)) for n in names]


def _run(
    module: nn.Module, layers: list[str], x: Tensor, label: str, maps=None
) -> dict:
    """{layer: (shape, per-channel means)} of one forward pass of ``module``;
    a dict ``maps`` also gets {layer: (batch, channels, time) map}."""
    previous = getattr(_CAPTURE, "store", None)
    _CAPTURE.store = store = {"wanted": set(layers), "out": {}, "label": label}
    if maps is not None:
        store["maps"] = maps
    try:
        module(x)
    except _Done:
        pass
    finally:
        _CAPTURE.store = previous
    return store["out"]


class NetworkFeatures(nn.Module):
    """A network and the layers it is judged by, with the built-ins' interface.

    ``forward(x)`` gives (batch, n_features) float32, the per-channel means of
    the named layers concatenated; ``feature_names()`` names them
    ``{layer}_{channel:03d}``; ``min_length`` is the smallest valid input length.

    Parameters
    ----------
    module : torch.nn.Module
        The network (CPU or device weights).
    layout : NetworkLayout
        From :func:`describe_network`.
    input_kind : {"mel", "waveform"}
    label : str
        How the network is named in messages.
    name : str, default=""
        Prefix of the feature names (``"{name}_"``), empty for none.
    """

    def __init__(
        self, module, layout: NetworkLayout, input_kind: str, label: str, name=""
    ):
        super().__init__()
        self.net = module
        self.layout = layout
        self.input_kind = input_kind
        self.label = label
        self.name = name
        self.min_length = layout.min_length
        self._hooks = _attach(module, list(layout.layers))

    @property
    def n_features(self) -> int:
        return self.layout.n_features

    def feature_names(self) -> list[str]:
        prefix = f"{self.name}_" if self.name else ""
        width = max(3, len(str(max(self.layout.channels) - 1)))
        return [
            f"{prefix}{feature_label(layer)}_{c:0{width}d}"
            for layer, n in zip(self.layout.layers, self.layout.channels, strict=True)
            for c in range(n)
        ]

    def _check_input(self, x: Tensor) -> Tensor:
        check_input_batch(x, self.input_kind, self.min_length, f"network {self.label}")
        return x if x.dtype == torch.float32 else x.float()

    def forward(
        self,
        x: Tensor,
        *,
        reference: bool = False,
        compute_dtype: torch.dtype | None = None,
        return_maps: bool = False,
        check_finite: bool = True,
    ):
        """Features (batch, n_features) float32 of a log-mel or waveform batch.

        ``compute_dtype=torch.bfloat16`` runs the network under autocast.
        ``reference`` is accepted for the built-ins' interface: a plug-in has no
        hand-written fast path, its plain forward is the reference.
        ``return_maps=True`` returns ``{layer: (batch, channels, *positions)}``
        instead (a ``(batch, n)`` output as one position), for frame-level
        features (:mod:`skaudio_random.frames` finds the time axis).
        ``check_finite=False`` returns non-finite features instead of raising
        (for :func:`behaviour_digest`'s probe, which is no user's clip).
        """
        x = self._check_input(x)
        maps = {} if return_maps else None
        if compute_dtype is not None and compute_dtype != x.dtype:
            with torch.autocast(x.device.type, dtype=compute_dtype):
                out = _run(self.net, list(self.layout.layers), x, self.label, maps)
        else:
            out = _run(self.net, list(self.layout.layers), x, self.label, maps)
        if return_maps:
            return {layer: maps[layer] for layer in self.layout.layers}
        parts = []
        for layer, n in zip(self.layout.layers, self.layout.channels, strict=True):
            if layer not in out:
                raise ValueError(
                    f"layer {layer!r} of network {self.label} did not run in its "
                    "forward pass."
                )
            means = out[layer][1].reshape(x.shape[0], -1)
            if means.shape[1] != n:
                raise ValueError(
                    f"layer {layer!r} of network {self.label} gave {means.shape[1]} "
                    f"channels; {n} were found on the meta device."
                )
            if (
                check_finite
                and x.device.type != "meta"
                and not torch.isfinite(means).all()
            ):
                raise ValueError(
                    f"layer {layer!r} of network {self.label} gives non-finite values "
                    "(inf or NaN) for this input."
                )
            parts.append(means)
        return torch.cat(parts, dim=1)

    def _summarise(self, layer: str, fmap: Tensor) -> Tensor:
        """The features of ``layer`` from its map: the per-channel means."""
        return fmap.flatten(2).mean(2)


def structure_digest(module: nn.Module, extra=()) -> str:
    """A hash of a network's structure: its repr, parameter and buffer names and
    shapes, the source of the ``forward`` of each non-torch module class, and
    ``extra`` (layers, init, input...). Weight values are not hashed (they
    follow from the seed)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(module).encode())
    for name, t in (*module.named_parameters(), *module.named_buffers()):
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
    for cls in dict.fromkeys(type(m) for m in module.modules()):
        if not cls.__module__.startswith("torch."):
            try:
                h.update(inspect.getsource(cls).encode())
            except (OSError, TypeError):
                h.update(cls.__qualname__.encode())
    h.update(repr(tuple(extra)).encode())
    return h.hexdigest()


class NondeterministicNetworkError(ValueError):
    """A network gave two different outputs for the same input (see
    :func:`behaviour_digest`)."""


#: Projections of a probe's output that :func:`behaviour_digest` hashes.
_N_PROBE_PROJECTIONS = 8


def _probe_input(input_kind: str, length: int, device) -> Tensor:
    """A fixed, seeded input of the built-ins' kind: a log-mel batch in dB
    (about -40 +- 20) or a waveform batch (about +-0.1)."""
    g = torch.Generator().manual_seed(20190512)
    if input_kind == "waveform":
        x = 0.1 * torch.randn(1, length, generator=g)
    else:
        x = -40.0 + 20.0 * torch.randn(1, N_MELS, length, generator=g)
    return x.to(device)


def behaviour_digest(forward, input_kind: str, length: int, state=(), device="cpu"):
    """A hash of what a network computes, found by running it on a fixed input.

    The cache key of a user network cannot rely on source text alone: two
    lambdas with the same structure, a constructor argument that ``repr()``
    does not show or an edited helper that ``forward`` calls change the
    features but not the text that can be read. This probes the behaviour:
    ``forward`` runs twice on a fixed, seeded input of ``length`` frames
    (``input_kind="mel"``) or samples (``"waveform"``); the hash covers the
    values of ``state`` (the network's parameters and buffers) and eight
    fixed random projections of the output, each rounded to four significant
    digits (so that the last-bit differences of another machine's BLAS almost
    never change the key; when they do, features are recomputed, never reused
    wrongly).

    Parameters
    ----------
    forward : callable
        ``forward(x) -> Tensor`` (the network in evaluation mode).
    input_kind : {"mel", "waveform"}
    length : int
        Frames or samples of the probe input (at least the network's minimum).
    state : iterable of (str, Tensor), default=()
        Named parameters and buffers to hash by value, checked unchanged by
        the two forward passes (hashed, not copied: a network that changes
        them is refused, not restored).
    device : str or torch.device, default="cpu"
        Where the probe input is put (the network's device).

    Returns
    -------
    digest : str
        32 hexadecimal digits.

    Raises
    ------
    NondeterministicNetworkError
        If the two passes differ or change ``state`` (dropout in training mode,
        random numbers drawn in ``forward``, a ``forward`` that updates its own
        weights): such a network's features differ from one call to the next
        and no cache or test split could be trusted.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Conv1d(96, 4, 3)
    >>> a = behaviour_digest(lambda x: net(x).mean(2), "mel", 16)
    >>> b = behaviour_digest(lambda x: torch.tanh(net(x)).mean(2), "mel", 16)
    >>> a == b
    False
    >>> drop = torch.nn.Dropout(0.5).train()
    >>> behaviour_digest(lambda x: drop(net(x)).mean(2), "mel", 16)
    Traceback (most recent call last):
    ...
    skaudio_random.architectures._network.NondeterministicNetworkError: ...
    """
    state = list(state)
    before = [_tensor_hash(t) for _, t in state]  # no copy of the weights
    x = _probe_input(input_kind, int(length), device)
    with torch.no_grad():
        first = forward(x.clone()).detach().float().cpu()
        second = forward(x.clone()).detach().float().cpu()
    changed = [
        name
        for (name, t), old in zip(state, before, strict=True)
        if _tensor_hash(t) != old
    ]
    scale = float(first.nan_to_num(0.0, 0.0, 0.0).abs().max().clamp(min=1e-30))
    same = first.shape == second.shape and torch.allclose(
        first, second, rtol=1e-5, atol=1e-6 * scale, equal_nan=True
    )
    if changed or not same:
        what = (
            f"its forward pass changed {', '.join(changed[:3])}"
            if changed
            else "two forward passes on the same input gave different outputs"
        )
        raise NondeterministicNetworkError(
            f"the network is not deterministic: {what} (dropout in training mode, "
            "random numbers drawn in forward, or a forward that updates its own "
            "weights?). Random-weight features must be the same on every call; "
            "make the network deterministic (e.g. call .eval() on dropout layers)."
        )
    flat = first.reshape(-1).double()
    g = torch.Generator().manual_seed(0)
    proj = torch.randn(
        _N_PROBE_PROJECTIONS, flat.numel(), generator=g, dtype=flat.dtype
    )
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(tuple(first.shape)).encode())
    for value in (proj @ flat).tolist():
        h.update(f"{value:.3e}".encode())
    for (name, _), value in zip(state, before, strict=True):
        h.update(name.encode())
        h.update(value)
    return h.hexdigest()


def _tensor_hash(t: Tensor) -> bytes:
    """A digest of a tensor's dtype, shape and values (no copy on the CPU)."""
    t = t.detach().cpu()
    h = hashlib.blake2b(f"{t.dtype}{tuple(t.shape)}".encode(), digest_size=16)
    h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.digest()


# ----------------------------------------------------------------------- registry
def plugin(factory, name: str = ""):
    """A registry ``build(nf, *, generator, **options)`` for a plain network.

    ``factory(nf, **options)`` returns an ``nn.Module`` and ``factory.input_kind``
    says its input, ``"mel"`` or ``"waveform"`` (see the module docstring); the
    result is a :class:`NetworkFeatures`
    over its default convolution blocks, with the paper's weights drawn from
    ``generator``; ``generator=None`` builds it on the meta device.
    """

    input_kind = factory.input_kind

    def build(nf: int, *, generator: torch.Generator | None, **options):
        if generator is not None and (
            not isinstance(generator, torch.Generator) or generator.device.type != "cpu"
        ):
            raise ValueError(
                f"generator must be a CPU torch.Generator; got {generator!r}."
            )
        label = network_label(factory)
        meta = build_network(factory, (nf,), options, meta=True)
        layout = describe_network(meta, None, input_kind, label)
        if generator is None:
            module = meta
        else:
            module = build_network(factory, (nf,), options, generator=generator)
        return NetworkFeatures(module, layout, input_kind, label, name=name)

    build.input_kind = input_kind
    build.factory = factory
    return build
