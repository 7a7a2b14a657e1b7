"""Judge your own network without training it: any torch network, the paper's way.

J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio classification",
ICASSP 2019: an architecture can be compared before it is trained by the
features of its random-weight version. :class:`RandomNetworkFeatures` turns any
network factory into a fit-less transformer that prepares the input, draws the
weights and averages the feature maps exactly as the built-in models do;
:func:`resolve_model` turns a model name or a ``"module:factory"`` import path
into an estimator factory (for studies and the command line).
"""

from __future__ import annotations

import functools
import inspect
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import AudioFeatureTransformer
from ._cnn_base import RandomCNNBase
from ._memory import check_network_memory
from ._utils import resolve_device
from .architectures import ARCHITECTURES, closest_nf
from .architectures._network import (
    INPUT_KINDS,
    NetworkFeatures,
    NondeterministicNetworkError,
    behaviour_digest,
    build_network,
    check_network_factory,
    describe_network,
    import_object,
    network_label,
    probe_length,
    structure_digest,
)
from .spectrogram import LogMelSpectrogram

__all__ = ["RandomNetworkFeatures", "resolve_model", "accepts_width", "model_names"]


class RandomNetworkFeatures(RandomCNNBase):
    """Features of your own network with random weights (Pons & Serra's rule).

    The clips are prepared as for the built-in models (the paper's 96-band
    log-mel at 12 kHz, or the waveform, with the same ``fix_length`` rules),
    the network gets random weights drawn on the CPU from ``random_state``, and
    the features are the per-channel averages of the feature maps of the named
    layers over all their positions (time, and frequency for 2-D maps),
    concatenated in the order of ``layers``.

    Parameters
    ----------
    network : callable
        Returns a :class:`torch.nn.Module`: a class, a module-level function or
        a :func:`functools.partial` of one (it must be picklable for pickling
        the transformer and for ``n_jobs`` in grid searches; a local function
        or lambda works in-process without ``memory`` keys depending on it).
        Its ``forward`` gets a log-mel batch ``(batch, 96, n_frames)`` in dB
        (use ``x.unsqueeze(1)`` for 2-D convolutions) or a waveform batch
        ``(batch, n_samples)``, which it may change in place (it never shares
        the caller's arrays). Objects that cannot be a factory (not callable,
        a class that is no ``nn.Module``, a module instance, a function
        implemented in C such as ``os.system``) are refused without calling
        them.
    network_params : dict, default=None
        Keyword arguments of ``network``.
    layers : list of str, default=None
        Names of the modules whose outputs are averaged (as in
        ``network().named_modules()``; ``""`` is the whole network). ``None``
        takes every convolution block: the output of every module with a
        convolution as a direct child (or in a ``ModuleList``/``ModuleDict``
        child), and inside an ``nn.Sequential`` the output of the last module
        before the next convolution. A layer's output must be (batch,
        channels, *positions), averaged per channel, or (batch, n), taken as
        it is.
    input : {"mel", "waveform"}, default="mel"
        What ``network`` gets.
    width : int, default=None
        ``None`` calls ``network(**network_params)``. An int calls
        ``network(nf, **network_params)`` with the ``nf >= 1`` whose feature
        length is closest to ``width`` (found on the meta device; the feature
        length must grow with ``nf``), as the built-ins do. A factory whose
        feature length stops growing below ``width`` or falls as ``nf`` grows
        is refused, naming the lengths it reaches.
    n_frames : int, default=1376
        Input length in log-mel frames for ``fix_length`` (``input="mel"``).
    n_samples : int, default=350000
        Input length in samples for ``fix_length`` (``input="waveform"``).
    sr : int, default=12000
        Sample rate the audio is brought to; arrays must already be at it.
    fix_length : {"crop", "repeat", "zero", "none"}, default="crop"
        Length rule, as for the built-in models.
    init : {"paper", "network"}, default="paper"
        ``"paper"`` draws every ``Conv1d``/``Conv2d``/``Conv3d`` and ``Linear``
        weight as a truncated normal with sigma = sqrt(2.6 / fan_in) and zeroes
        their biases (SPEC section 3); ``"network"`` keeps the network's own
        initialisation. Either way the network is built under
        ``torch.manual_seed`` of the seed, so every parameter is deterministic.
    device : str or torch.device, default="auto"
        Where the network runs; weights are always drawn on the CPU.
    batch_size : int or "auto", default="auto"
        Clips decoded together (and per forward pass on a GPU).
    precision : {"float32", "tf32", "bfloat16"}, default="float32"
        Arithmetic of the network (``"bfloat16"``: autocast).
    n_jobs : int, default=None
        Threads decoding audio files.
    memory : str, os.PathLike or joblib.Memory, default=None
        Per-clip feature cache; its key includes a digest of the network's
        structure (repr, parameter shapes, ``forward`` sources), a digest of
        its behaviour (the features of a fixed, seeded probe input, found on
        the CPU at a short length, and the values of its parameters and
        buffers: see :func:`~skaudio_random.architectures._network.behaviour_digest`),
        the layers, ``init`` and the seed, so changing the network (or a
        helper its ``forward`` calls) never returns stale features. The probe
        runs twice whether or not ``memory`` is set: a network whose two passes
        differ (dropout in training mode, random numbers drawn in ``forward``,
        a ``forward`` that changes its weights) is refused.
    verbose : bool or int, default=False
        Show a progress bar over clips.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights. With ``None`` an instance draws its network once and
        keeps it.

    Raises
    ------
    NotANetworkFactoryError
        A ValueError (and TypeError): ``network`` is no network factory (not
        callable, a class that is no ``nn.Module``, a function implemented in C,
        an ``nn.Module`` instance), returns no ``nn.Module`` or fails when
        called on the meta device.
    NondeterministicNetworkError
        A ValueError: two forward passes on the same probe input differ or
        change the weights (see "memory").
    MemoryError
        Before anything is allocated, when the network's weights (counted on
        the meta device) or one clip's activations exceed the memory available.
    ValueError
        Naming the network and the layer: a layer that does not exist (the
        valid names are listed), no layer to average, an input length below the
        network's minimum (stated, found on the meta device), or non-finite
        features.

    See Also
    --------
    VGG : A built-in model, made through the same machinery.
    resolve_model : Model names and ``"module:factory"`` paths for studies.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from skaudio_random import RandomNetworkFeatures
    >>> def tiny():
    ...     conv1, conv2 = nn.Conv1d(96, 8, 3), nn.Conv1d(8, 4, 3)
    ...     return nn.Sequential(conv1, nn.ReLU(), conv2, nn.ReLU())
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> est = RandomNetworkFeatures(tiny, n_frames=40, random_state=0)
    >>> est.transform(X).shape
    (2, 12)
    >>> est.get_feature_names_out()[[0, 8]].tolist()
    ['1_000', '3_000']
    """

    _parameter_constraints: dict = {
        **AudioFeatureTransformer._parameter_constraints,
        "network": [callable],
        "network_params": [dict, None],
        "layers": [list, tuple, str, None],
        "input": [StrOptions(set(INPUT_KINDS))],
        "width": [Interval(Integral, 1, None, closed="left"), None],
        "n_frames": [Interval(Integral, 1, None, closed="left")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"paper", "network"})],
        "device": [str, torch.device],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "precision": [StrOptions({"float32", "tf32", "bfloat16"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        network,
        *,
        network_params=None,
        layers=None,
        input="mel",
        width=None,
        n_frames=1376,
        n_samples=350000,
        sr=12000,
        fix_length="crop",
        init="paper",
        device="auto",
        batch_size="auto",
        precision="float32",
        n_jobs=None,
        memory=None,
        verbose=False,
        random_state=None,
    ):
        self.network = network
        self.network_params = network_params
        self.layers = layers
        self.input = input
        self.width = width
        self.n_frames = n_frames
        self.n_samples = n_samples
        self.sr = sr
        self.fix_length = fix_length
        self.init = init
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        self.n_jobs = n_jobs
        self.memory = memory
        self.verbose = verbose
        self.random_state = random_state

    # -- network hooks of RandomCNNBase ----------------------------------------
    @property
    def _input_kind(self) -> str:
        return self.input

    def _label(self) -> str:
        return f"network {network_label(self.network)}"

    def _layers_arg(self):
        return list(self.layers) if isinstance(self.layers, tuple) else self.layers

    def _describe(self, args: tuple):
        """(meta module, layout) of ``network(*args, **network_params)``."""
        label = network_label(self.network)
        meta = build_network(self.network, args, self.network_params, meta=True)
        return meta, describe_network(meta, self._layers_arg(), self.input, label)

    def _nf_args(self) -> tuple:
        if self.width is None:
            return ()
        nf = closest_nf(
            lambda nf: self._describe((nf,))[1].n_features,
            int(self.width),
            self._label(),
        )
        return (nf,)

    def _prepare(self) -> None:
        check_network_factory(self.network, f"network {self.network!r}")
        seed = self._resolve_seed()
        device = resolve_device(self.device)
        key = (
            self.network,
            self.network_params,
            self._layers_arg(),
            self.input,
            self.width,
            self.init,
            seed,
            str(device),
            self.sr,
        )
        if getattr(self, "_network_key", None) != key:
            args = self._nf_args()
            meta, layout = self._describe(args)
            check_network_memory(self, meta, layout, device)  # before any weight
            network, meta, layout = self._build(seed, args, (meta, layout))
            behaviour = self._behaviour_digest(network, meta, layout)
            self._network = network.to(device).eval().requires_grad_(False)
            self._nf = args[0] if args else None
            self._device = device
            self._frontend = None
            if self.input == "mel":
                self._frontend = LogMelSpectrogram(sr=self.sr).to(device)
            self._peak_bytes = {}
            self._digest = self._structure_digest(meta, layout, args)
            self._behaviour = behaviour
            self._network_key = key
        self._length_check()

    def _build(self, seed: int, args=None, described=None):
        """``(NetworkFeatures, meta module, layout)`` with the weights of ``seed``
        on the CPU (also the untrained network of a TrainedNetworkClassifier);
        ``described``: ``self._describe(args)`` if already known."""
        check_network_factory(self.network, f"network {self.network!r}")
        args = self._nf_args() if args is None else args
        meta, layout = self._describe(args) if described is None else described
        label = network_label(self.network)
        module = build_network(
            self.network, args, self.network_params, seed=seed, init=self.init
        )
        return NetworkFeatures(module, layout, self.input, label), meta, layout

    def _structure_digest(self, meta=None, layout=None, args=None) -> str:
        """The digest of the network's structure that keys the feature cache
        (found on the meta device when ``meta`` is not given; no weights drawn)."""
        if meta is None:
            args = self._nf_args()
            meta, layout = self._describe(args)
        return structure_digest(meta, (layout.layers, self.init, self.input, args))

    def _behaviour_digest(self, network, meta, layout) -> str:
        """:func:`behaviour_digest` of the built network (on the CPU, where its
        weights are drawn, so the key is the same whatever ``device``), at a
        short length; refuses a network whose two passes differ."""
        network.eval().requires_grad_(False)
        label = network_label(self.network)
        try:
            return behaviour_digest(
                functools.partial(network, check_finite=False),
                self.input,
                probe_length(meta, layout, self.input, label),
                state=[*network.net.named_parameters(), *network.net.named_buffers()],
            )
        except NondeterministicNetworkError as exc:
            raise NondeterministicNetworkError(f"network {label}: {exc}") from None

    def _n_features(self) -> int:
        return self._network.n_features

    # -- input: a user network may write into its input ------------------------
    def _prepare_waveform(self, y, name: str) -> torch.Tensor:
        x = super()._prepare_waveform(y, name)
        # fix_length may return the caller's clip itself, and torch.from_numpy
        # shares its memory: a network that edits its input in place would edit
        # the caller's data. Copy only then (a crop or pad is already a copy).
        return x.clone() if np.may_share_memory(x.numpy(), y) else x

    def _cache_key(self) -> dict:
        key = super()._cache_key()
        # the factory by name (a local function cannot be hashed), the structure
        # by digest, and what it computes by the features of a fixed probe input
        # and its weights: lambdas, hidden constructor arguments and edited
        # helpers change the key as well as edited source text does
        key["network"] = network_label(self.network)
        key["structure"] = self._digest
        key["behaviour"] = self._behaviour
        return key

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_digest", None)
        state.pop("_behaviour", None)
        return state


def accepts_width(factory) -> bool:
    """Whether a network factory takes a positional first argument (``nf``).

    A factory that does (``def net(nf): ...``) gets a model's ``width`` as the
    built-ins do; one that does not (``def net(): ...``) is built as it is and a
    ``width`` is not passed to it by :func:`skaudio_random.study.run_study` and
    the command line.
    """
    try:
        sig = inspect.signature(factory)  # a partial's: the arguments left
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    return any(p.kind in positional for p in sig.parameters.values())


def _clone_of(estimator, **params):
    """An unfitted copy of ``estimator`` with ``params`` set."""
    return clone(estimator).set_params(**params)


def resolve_model(model):
    """An estimator factory for a model name, import path, class or instance.

    The one resolver of model specifications: studies, the command line, the
    HEAR API and :class:`~skaudio_random.TrainedNetworkClassifier` go through it.

    Parameters
    ----------
    model : str, type, estimator or callable
        A registry name (``"vgg"``), a transformer class name (``"VGG"``),
        ``"mfcc"``, an import path ``"package.module:name"`` naming a
        transformer class or a network factory, a transformer class, a
        transformer instance (cloned, with the given parameters set), or a
        network factory (wrapped in :class:`RandomNetworkFeatures`).

    Returns
    -------
    callable
        ``factory(**params)`` returns an unfitted estimator; for a network
        factory it is ``functools.partial(RandomNetworkFeatures, network)``
        (pass ``width=...`` only if the factory takes ``nf`` first: see
        :func:`accepts_width`).

    Raises
    ------
    ValueError
        If the name is unknown (the known names are listed), the import path
        cannot be resolved, or ``model`` is none of the above.

    Examples
    --------
    >>> from skaudio_random import resolve_model
    >>> resolve_model("vgg").__name__, resolve_model("mfcc").__name__
    ('VGG', 'MFCC')
    >>> resolve_model("torch.nn:Identity").func.__name__
    'RandomNetworkFeatures'
    """
    from . import features
    from .mfcc import MFCC

    if isinstance(model, AudioFeatureTransformer):
        return functools.partial(_clone_of, model)
    if isinstance(model, type) and issubclass(model, AudioFeatureTransformer):
        return model
    if isinstance(model, type) and issubclass(model, BaseEstimator):
        raise ValueError(
            f"model {model.__name__} is an estimator but not an audio feature "
            "transformer (a subclass of skaudio_random's AudioFeatureTransformer)."
        )
    if callable(model) and not isinstance(model, str):
        return functools.partial(RandomNetworkFeatures, check_network_factory(model))
    if not isinstance(model, str):
        raise ValueError(
            f"model must be a model name, an import path 'package.module:factory', "
            f"a transformer or a network factory; got {model!r}."
        )
    if ":" in model:
        obj = import_object(model)
        if isinstance(obj, type) and issubclass(obj, AudioFeatureTransformer):
            return obj
        check_network_factory(obj, repr(model), or_transformer=True)
        return functools.partial(RandomNetworkFeatures, obj)
    names = {"mfcc": MFCC, "MFCC": MFCC}
    for spec in ARCHITECTURES.values():
        names[spec.name] = names[spec.class_name] = features.TRANSFORMERS[
            spec.class_name
        ]
    if model in names:
        return names[model]
    raise ValueError(
        f"unknown model {model!r}; expected one of {model_names()} (or their class "
        "names) or an import path 'package.module:factory'."
    )


def model_names() -> list[str]:
    """The registry's model names in its order, then ``"mfcc"``."""
    return [*ARCHITECTURES, "mfcc"]
