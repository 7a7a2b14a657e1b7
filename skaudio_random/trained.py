"""The random-weight networks trained end to end: the premise's other half.

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP, compare architectures with random weights because, following Saxe et
al. (2011), "On random weights and unsupervised feature learning", the accuracy
of random-weight features tends to follow that of the same architecture
trained end to end. :class:`TrainedNetworkClassifier` trains that same
architecture (same input, same layers, the paper's initialisation) with a
linear head on the paper's pooled features, so the premise can be checked on
one's own data (see :mod:`skaudio_random.premise`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import math
import os
import pickle
import re
import warnings
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from torch import Tensor, nn
from tqdm.auto import tqdm

from ._input import AudioInput, iter_decoded_batches, n_decode_workers
from ._utils import make_generator, resolve_device, seed_from_random_state
from .architectures import ARCHITECTURES, nf_for_width
from .architectures._blocks import N_MELS, RandomFeatureNet, truncated_normal_
from .architectures._network import NondeterministicNetworkError, behaviour_digest
from .audio import fix_length
from .network import resolve_model
from .spectrogram import LogMelSpectrogram, log_mel_of_clip

__all__ = ["TrainedNetworkClassifier", "build_network", "prepare_inputs"]

INPUT_KINDS = ("mel", "waveform")
#: fix_length modes that give every clip the same length (training needs batches).
TRAIN_FIX_LENGTH = ("crop", "repeat", "zero")
_CHECKPOINT = "checkpoint.pt"
#: 2: read with weights_only=True; the fingerprint is a dict of hashes.
_CHECKPOINT_FORMAT = 2
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: input_scaling values: one affine map a first layer absorbs, per mel band, none.
INPUT_SCALINGS = ("scalar", "per_band", "none")


# --------------------------------------------------------------------------- #
# the network
# --------------------------------------------------------------------------- #
def paper_init_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Draw every convolution of ``module`` the paper's way, in place.

    Weights N(0, 2.6 / fan_in) truncated at +-2 sigma, biases zero (SPEC
    section 3.1), drawn from ``generator`` in registration order, as the
    built-in networks draw theirs. Other layers keep their own initialisation.
    """
    for layer in module.modules():
        if isinstance(layer, _CONVS):
            w = layer.weight
            truncated_normal_(w, math.sqrt(2.6 / w[0].numel()), generator)
            if layer.bias is not None:
                with torch.no_grad():
                    layer.bias.zero_()
    return module


def add_zero_biases_(module: nn.Module) -> nn.Module:
    """Give every bias-free convolution of ``module`` a zero bias, in place.

    The paper's models are TensorFlow layers with biases initialised at zero;
    the random-weight networks leave them out (a zero bias adds nothing), so a
    trained counterpart gets them back, trainable, computing at step 0 exactly
    what the random network computes.
    """
    for layer in module.modules():
        if isinstance(layer, _CONVS) and layer.bias is None:
            weight = layer.weight
            layer.bias = nn.Parameter(
                torch.zeros(
                    layer.out_channels, dtype=weight.dtype, device=weight.device
                )
            )
    return module


def build_network(
    architecture="vgg",
    *,
    network: Callable[[], nn.Module] | None = None,
    width: int = 120,
    random_state: int = 0,
    init: str = "paper",
    conv_bias: bool = True,
) -> nn.Module:
    """The feature network of a :class:`TrainedNetworkClassifier`, untrained.

    The one place where a classifier gets its network, so that any source of
    architectures (the registry, a user factory) can be routed through it.

    Parameters
    ----------
    architecture : str, callable or RandomNetworkFeatures, default="vgg"
        Used when ``network`` is None. Any model spec of
        :func:`~skaudio_random.resolve_model` that is a network: a key of
        :data:`skaudio_random.architectures.ARCHITECTURES` (or its transformer
        class), an import path ``"package.module:factory"``, a network factory
        or a :class:`~skaudio_random.RandomNetworkFeatures` (its ``layers``,
        ``input`` and ``network_params`` kept). A factory or a
        RandomNetworkFeatures gives the network that its random-weight
        features come from, trained as it is: its forward gives the averages
        of the same layers' maps, and ``width`` reaches its ``nf`` (if it
        takes one) as for the random features.
    network : callable, default=None
        ``network()`` returns an ``nn.Module`` whose ``forward(x)`` maps a batch
        of inputs to pooled features ``(batch, n_features)``. It is called
        with torch's global generator seeded from ``random_state`` (and
        restored afterwards), so its own initialisation is reproducible too.
    width : int, default=120
        Feature-vector length of ``architecture`` (for the registry, the paper's
        filter counts at 120 and 3500); ignored for ``network``.
    random_state : int, default=0
        Seed of the weights, drawn on the CPU.
    init : {"paper", "network"}, default="paper"
        For ``network`` and user factories: ``"paper"`` redraws the weights the
        paper's way (:func:`paper_init_`, or RandomNetworkFeatures' ``init``);
        ``"network"`` keeps the factory's own weights. Registry architectures
        always use the paper's initialisation.
    conv_bias : bool, default=True
        For registry architectures: give every convolution a trainable bias,
        zero at the start, as the paper's TensorFlow layers have (the
        random-weight networks omit them, since a zero bias adds nothing). The
        untrained network then computes exactly the random-weight features.
        ``False`` trains bias-free convolutions. User networks keep the
        biases their factory gives them.

    Returns
    -------
    nn.Module
        On the CPU, with every parameter requiring gradients.

    Examples
    --------
    >>> net = build_network("vgg", width=40, random_state=0)
    >>> net(torch.zeros(2, 96, 30), reference=True).shape
    torch.Size([2, 40])
    """
    seed = int(random_state)
    if network is None:
        name = _registry_name(architecture)
        if name is None:
            return _plugin_network(architecture, width, seed, init)
        spec = ARCHITECTURES[name]
        nf = nf_for_width(name, int(width))
        net = spec.build(nf, generator=make_generator(seed))
        if conv_bias:
            add_zero_biases_(net)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = network()
        if not isinstance(net, nn.Module):
            raise TypeError(
                f"network must be a callable returning a torch.nn.Module; "
                f"{network!r} returned {type(net).__name__}."
            )
        if init == "paper":
            paper_init_(net, make_generator(seed))
    return net.requires_grad_(True)


def _registry_name(architecture) -> str | None:
    """The registry key of a name or transformer class, ``None`` for the rest."""
    from ._resolve import model_label

    if isinstance(architecture, str) and ":" not in architecture:
        resolve_model(architecture)  # a clear error for an unknown name
    label = model_label(architecture)
    if label in ARCHITECTURES and (
        isinstance(architecture, str) or isinstance(architecture, type)
    ):
        return label
    return None


def _plugin_network(architecture, width, seed: int, init: str) -> nn.Module:
    """The network of a user factory, import path or RandomNetworkFeatures."""
    from ._resolve import make_transformer
    from .network import RandomNetworkFeatures

    est = make_transformer(architecture, width=int(width), random_state=seed)
    if not isinstance(est, RandomNetworkFeatures):
        raise ValueError(
            f"architecture {architecture!r} gives a {type(est).__name__}, not a "
            "network: pass a registry name, a network factory (or its import path "
            "'package.module:factory') or a RandomNetworkFeatures."
        )
    if not isinstance(architecture, RandomNetworkFeatures):
        est.set_params(init=init)
    network = est._build(seed)[0]
    return network.train().requires_grad_(True)


class _NetworkWithHead(nn.Module):
    """Feature network, then a linear layer on its standardised pooled features.

    The standardisation (``feature_mean``, ``feature_scale``) is fixed before
    training from the untrained network's features of the training clips
    (:meth:`standardise_on`); it is an affine map, so the head stays linear in
    the pooled features, but its outputs start at a sane scale whatever the
    magnitude of the features (the log-mel input is in dB).
    """

    def __init__(
        self,
        features: nn.Module,
        n_features: int,
        n_classes: int,
        seed: int,
        input_kind: str = "waveform",
    ):
        super().__init__()
        self.features = features
        self.head = nn.Linear(n_features, n_classes)
        # torch's default Linear init, drawn from the seed (global RNG untouched)
        bound = 1.0 / math.sqrt(n_features)
        gen = make_generator(seed + 1)
        with torch.no_grad():
            for p in (self.head.weight, self.head.bias):
                p.copy_(torch.rand(p.shape, generator=gen) * 2 * bound - bound)
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_scale", torch.ones(n_features))
        shape = (N_MELS, 1) if input_kind == "mel" else (1,)
        self.register_buffer("input_mean", torch.zeros(shape))
        self.register_buffer("input_scale", torch.ones(shape))

    def standardise_on(
        self, x: Tensor, batch_size: int, device, *, inputs: str = "none"
    ) -> None:
        """Fix the standardisation of the pooled features, and of the inputs
        (``inputs``: one mean and std over everything, ``"scalar"``; per mel
        band, ``"per_band"``; none, ``"none"``), from the training inputs ``x``."""
        if inputs != "none":
            per_band = inputs == "per_band" and x.ndim == 3
            dims = (0, 2) if per_band else tuple(range(x.ndim))
            std, mean = torch.std_mean(x.double(), dim=dims, correction=0)
            shape = self.input_mean.shape
            self.input_mean.copy_(mean.float().expand(shape[0]).reshape(shape))
            self.input_scale.copy_(
                _nonzero(std).float().expand(shape[0]).reshape(shape)
            )
        was_training = self.training
        self.eval()
        with torch.no_grad():
            feats = torch.cat(
                [
                    self.pooled(x[k : k + batch_size].to(device)).double().cpu()
                    for k in range(0, len(x), batch_size)
                ]
            )
        std, mean = torch.std_mean(feats, dim=0, correction=0)
        self.feature_mean.copy_(mean.float())
        self.feature_scale.copy_(_nonzero(std).float())
        self.train(was_training)

    def pooled(self, x: Tensor) -> Tensor:
        x = (x - self.input_mean) / self.input_scale
        if isinstance(self.features, RandomFeatureNet):
            # the plain differentiable forward: the fast CPU path is
            # inference-only (and caches matrices of the weights)
            return self.features(x, reference=True)
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head((self.pooled(x) - self.feature_mean) / self.feature_scale)


def _nonzero(std: Tensor) -> Tensor:
    """``std`` with (near) zeros replaced by 1: constant values are only centred."""
    return torch.where(std > 1e-6 * std.max().clamp_min(1e-30), std, 1.0)


def _pooled_width(features: nn.Module, x: Tensor) -> int:
    """Length of the pooled features of ``features`` on inputs like ``x``."""
    was_training = features.training
    features.eval()
    with torch.no_grad():
        out = _NetworkWithHead(features, 1, 1, 0).pooled(x)
    features.train(was_training)
    if out.ndim != 2 or out.shape[0] != len(x):
        raise ValueError(
            f"the network must map a batch of {len(x)} input(s) to (batch, "
            f"n_features); got shape {tuple(out.shape)}."
        )
    return int(out.shape[1])


@contextlib.contextmanager
def _copy_saved_tensors(enabled: bool):
    """Let autograd keep copies of the tensors it saves.

    Needed for networks whose forward modifies a saved tensor in place (e.g.
    ``relu_(conv(h)).add_(h)``, whose ReLU output is needed by its backward):
    the copies keep the gradients exact at the cost of memory.
    """
    if not enabled:
        yield
        return
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
        yield


def _is_inplace_error(exc: RuntimeError) -> bool:
    return "modified by an inplace operation" in str(exc)


@contextlib.contextmanager
def _deterministic(device: torch.device):
    """torch.use_deterministic_algorithms on the CPU, restored afterwards."""
    if device.type != "cpu":
        yield
        return
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])


# --------------------------------------------------------------------------- #
# the input
# --------------------------------------------------------------------------- #
def prepare_inputs(
    X,
    input_kind: str,
    *,
    length: int,
    fix_length_mode: str = "crop",
    sr: int = 12000,
    n_jobs: int | None = None,
    name: str = "X",
) -> Tensor:
    """Network inputs of every clip, as the random-feature transformers make them.

    Parameters
    ----------
    X : list of path-like, list of 1-D arrays, or array (n_clips, n_times)
        Audio clips: file paths (decoded to mono at ``sr``) or waveforms at ``sr``.
    input_kind : {"mel", "waveform"}
        Log-mel (the package's front end at the paper's settings) or waveform.
    length : int
        ``n_frames`` (mel) or ``n_samples`` (waveform).
    fix_length_mode : {"crop", "repeat", "zero"}, default="crop"
        The length rule (:func:`skaudio_random.fix_length`).
    sr : int, default=12000
        Sample rate.
    n_jobs : int, default=None
        Threads decoding files.
    name : str, default="X"
        How the input is named in errors.

    Returns
    -------
    Tensor of shape (n_clips, 96, length) or (n_clips, length), float32, CPU
    """
    audio = AudioInput(X, name=name)
    frontend = LogMelSpectrogram(sr=sr) if input_kind == "mel" else None
    out: list[Tensor | None] = [None] * len(audio)
    batches = iter_decoded_batches(
        lambda i: audio.load(i, sr),
        range(len(audio)),
        16,
        n_workers=n_decode_workers(n_jobs),
    )
    with torch.no_grad():
        for idx, clips in batches:
            for i, y in zip(idx, clips, strict=True):
                clip_name = audio.describe(i)
                if frontend is None:
                    y = fix_length(y, length, fix_length_mode, name=clip_name)
                    out[i] = torch.from_numpy(np.ascontiguousarray(y, np.float32))
                else:
                    out[i] = log_mel_of_clip(
                        y, frontend, length, fix_length_mode, clip_name
                    )
    return torch.stack(out)


# --------------------------------------------------------------------------- #
# checkpoints
# --------------------------------------------------------------------------- #
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")

_START_OVER = "delete it, or use another checkpoint_dir, to start the fit over."
#: What a fingerprint part that differs says about the checkpoint's fit.
_FINGERPRINT_PARTS = {
    "parameters": "other parameters",
    "data": "other data",
    "network": "the network computes something else (was it edited?)",
}


def _stable_identity(value) -> str:
    """``value`` as text that is the same in every process.

    The ``repr`` of a function, or of a partial or an estimator holding one,
    shows a memory address. Here functions and classes are named by module and
    qualified name, partials by their function and arguments, estimators by
    their class and parameters, containers item by item; any other value by its
    ``repr`` without addresses. Two objects of one name (two lambdas) are told
    apart by the behaviour digest of the network, not here.
    """
    if isinstance(value, functools.partial):
        args = [_stable_identity(a) for a in value.args]
        args += [
            f"{k}={_stable_identity(v)}" for k, v in sorted(value.keywords.items())
        ]
        return f"partial({_stable_identity(value.func)}, {', '.join(args)})"
    if isinstance(value, BaseEstimator):
        params = sorted(value.get_params(deep=False).items())
        inner = ", ".join(f"{k}={_stable_identity(v)}" for k, v in params)
        return f"{_stable_identity(type(value))}({inner})"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}({', '.join(map(_stable_identity, value))})"
    if isinstance(value, dict):
        items = sorted((repr(k), _stable_identity(v)) for k, v in value.items())
        return f"dict({', '.join(f'{k}: {v}' for k, v in items)})"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', None)}:{value.__qualname__}"
    return _ADDRESS.sub("", repr(value))


def _read_checkpoint(path: Path) -> dict:
    """The checkpoint at ``path``, read as tensors and plain values only.

    ``weights_only=True`` refuses any other object, so a crafted file runs no
    code; every failure is a ValueError that names the file.
    """
    where = f"checkpoint file {os.fspath(path)!r}"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _UNSAFE_GLOBAL.search(str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise ValueError(
            f"{where} holds objects other than tensors and plain values{what}, so "
            "it was not loaded and nothing in it ran: it was not written by this "
            f"package; {_START_OVER}"
        ) from exc
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise ValueError(
            f"cannot read {where}: it is truncated or damaged ({exc}); {_START_OVER}"
        ) from exc
    fmt = saved.get("format") if isinstance(saved, dict) else None
    if fmt != _CHECKPOINT_FORMAT:
        raise ValueError(
            f"{where} has checkpoint format {fmt!r}; this version of the package "
            f"reads format {_CHECKPOINT_FORMAT} (a checkpoint of another version, or "
            f"not a checkpoint); {_START_OVER}"
        )
    return saved


# --------------------------------------------------------------------------- #
# the classifier
# --------------------------------------------------------------------------- #
class TrainedNetworkClassifier(ClassifierMixin, BaseEstimator):
    """An architecture of the paper trained end to end, with a linear head.

    The counterpart of a random-feature transformer followed by a classifier:
    the same input preparation (log-mel at the paper's settings, or waveform,
    at ``sr``, brought to ``n_frames`` / ``n_samples`` by ``fix_length``), the
    same network drawn the paper's way from ``random_state``, ending with the
    paper's pooled features (the time average of every feature map), then a
    linear layer to the classes. The pooled features are standardised before
    the linear layer with their mean and standard deviation over the training
    clips under the untrained network, fixed from then on (an affine map, so
    the head stays linear, but its outputs start small whatever the scale of
    the features); see ``input_scaling`` for the input. All of it is trained
    with Adam on the cross-entropy, in mini-batches, for at most
    ``max_epochs`` epochs, with early stopping on a stratified held-out part
    of the training data; the weights of the epoch with the lowest held-out
    loss are kept.

    Parameters
    ----------
    architecture : str, callable or RandomNetworkFeatures, default="vgg"
        A key of :data:`skaudio_random.architectures.ARCHITECTURES`, or a user
        network as the random features take it: an import path
        ``"package.module:factory"``, a network factory or a
        :class:`~skaudio_random.RandomNetworkFeatures` (trained on the averages
        of the same layers; see :func:`build_network`). Ignored when
        ``network`` is given.
    width : int, default=120
        Pooled-feature length of the architecture (the paper's filter counts
        at 120 and 3500; see :func:`skaudio_random.architectures.nf_for_width`).
    network : callable, default=None
        A user network: ``network()`` returns an ``nn.Module`` mapping a batch
        of inputs (``input_kind``) to ``(batch, n_features)``. It must be
        picklable (a module-level function) for the classifier to pickle.
    input_kind : {"auto", "mel", "waveform"}, default="auto"
        ``"auto"``: the architecture's, or the user module's ``input_kind``
        attribute.
    init : {"paper", "network"}, default="paper"
        Initialisation of a user network's convolutions (see
        :func:`build_network`).
    input_scaling : {"scalar", "per_band", "none"}, default="scalar"
        Fixed standardisation of the network's input, from the training
        clips. ``"scalar"``: one mean and one standard deviation over every
        clip, band and frame (or sample), an affine map of the whole input
        that the first layer can absorb (its weights scale, its bias shifts),
        so the architecture is the one judged with random weights.
        ``"per_band"``: a mean and standard deviation per mel band (one pair
        for waveforms), the usual practice for training spectrogram models,
        but it changes what an architecture computes (the band average of
        Temporal or Time becomes a weighted envelope). ``"none"``: the paper's
        input unchanged (dB log-mel, raw waveform), exactly as the random
        features see it, at a scale Adam trains slowly from. ``"standard"``
        is a deprecated alias of ``"per_band"`` (a ``FutureWarning``).
    conv_bias : bool, default=True
        Trainable biases on the convolutions of a registry architecture,
        initialised at zero as in the paper's TensorFlow layers, so that the
        untrained network computes the random-weight features (see
        :func:`build_network`). ``False`` trains bias-free convolutions.
    n_frames : int, default=1376
        Log-mel frames per clip (mel networks).
    n_samples : int, default=350000
        Samples per clip (waveform networks).
    sr : int, default=12000
        Sample rate (arrays must already be at it).
    fix_length : {"crop", "repeat", "zero"}, default="crop"
        Length rule, as for the transformers. ``"none"`` is not offered:
        mini-batches need equal lengths.
    max_epochs : int, default=30
        Upper bound on the passes over the training data.
    batch_size : int, default=32
        Clips per mini-batch (and per forward pass in ``predict``).
    lr : float, default=1e-3
        Adam's learning rate.
    weight_decay : float, default=0.0
        Adam's L2 penalty.
    validation_fraction : float, default=0.1
        Part of the training clips held out, stratified by class, for early
        stopping. At least one clip per class is held out (the fraction is
        raised to that, with a warning). ``0`` turns early stopping off: all
        clips train for ``max_epochs`` epochs and the last weights are kept.
        Ignored when ``fit`` receives ``X_val`` and ``y_val``.
    patience : int, default=5
        Epochs without a lower held-out loss before training stops.
    random_state : int, RandomState instance or None, default=0
        Seeds the weights (drawn on the CPU), the held-out split and the
        order of the mini-batches. Pass an int for reproducible output across
        multiple function calls.
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    checkpoint_dir : str or os.PathLike, default=None
        Folder where the training state is saved after every epoch (model,
        optimizer, epoch, shuffling generator, best weights), as tensors and
        plain values: it is read with ``torch.load(weights_only=True)``, so a
        crafted file runs no code. A later ``fit`` with the same data,
        parameters (``max_epochs``, ``verbose``, ``device``, ``n_jobs`` and
        ``checkpoint_dir`` aside) and network resumes from it, also in another
        process; the network is checked by what it computes (its untrained
        outputs on a fixed probe input, and its weights), so an edited network
        of the same name and shapes is another fit. A checkpoint of another
        fit, an unreadable one, or one of more epochs than ``max_epochs`` is an
        error naming the file (delete it, or use another folder); so is a
        network whose outputs are random in evaluation mode.
    n_jobs : int, default=None
        Threads decoding audio files.
    verbose : bool or int, default=False
        Show a progress bar over epochs with the training loss and held-out
        accuracy.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    network_ : torch.nn.Module
        The trained network with its head, on the CPU.
    n_features_ : int
        Length of the pooled features the head reads.
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy``
        (NaN without a held-out part).
    best_epoch_ : int
        Epoch (1-based) whose weights were kept.
    n_epochs_ : int
        Epochs run, resumed ones included.
    stop_reason_ : {"early_stopping", "max_epochs"}
        Why training ended.

    See Also
    --------
    skaudio_random.premise.rank_correlation : How well random-feature accuracy
        predicts this classifier's accuracy across architectures.

    Notes
    -----
    What keeps the architecture that the random features judged: the
    paper's initialisation, zero-initialised conv biases (``conv_bias``), the
    standardisation of the pooled features before the head (an affine map the
    head absorbs) and ``input_scaling="scalar"`` or ``"none"``. What changes
    it: ``input_scaling="per_band"``, ``conv_bias=False`` (fewer trainable
    parameters than the paper's layers) and ``init="network"`` for a user
    network. With ``"scalar"``, the untrained network on the scaled input is
    the random network on the raw input up to its first layer's affine map
    (exactly, for a first layer without zero padding; up to the padded edge
    frames otherwise).

    Training runs the networks' plain differentiable forward (the fast CPU
    path of the random-feature transformers is inference-only). A network
    whose forward modifies in place a tensor autograd keeps (the frame-level
    residual ``relu_(...).add_(...)``) is trained with copies of the saved
    tensors: exact gradients, more memory. On the CPU, two fits with the same
    int ``random_state`` give the same weights
    (``torch.use_deterministic_algorithms`` is on during ``fit``); GPU
    kernels are not bitwise reproducible.

    References
    ----------
    .. [1] J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio
       classification", ICASSP 2019, arXiv:1805.00237.
    .. [2] A. Saxe et al., "On random weights and unsupervised feature
       learning", ICML 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random.trained import TrainedNetworkClassifier
    >>> t = np.arange(6000) / 12000
    >>> X = np.stack([np.sin(2 * np.pi * f * t) for f in [220, 230, 880, 890] * 3])
    >>> y = [0, 0, 1, 1] * 3
    >>> clf = TrainedNetworkClassifier(
    ...     "vgg", width=16, n_frames=20, max_epochs=2, validation_fraction=0,
    ...     device="cpu").fit(X, y)
    >>> clf.predict_proba(X).shape
    (12, 2)
    """

    _parameter_constraints: dict = {
        "architecture": [str, callable, HasMethods(["get_params", "transform"])],
        "width": [Interval(Integral, 1, None, closed="left")],
        "network": [callable, None],
        "input_kind": [StrOptions({"auto", *INPUT_KINDS})],
        "init": [StrOptions({"paper", "network"})],
        "input_scaling": [
            StrOptions({*INPUT_SCALINGS, "standard"}, deprecated={"standard"})
        ],
        "conv_bias": ["boolean"],
        "n_frames": [Interval(Integral, 1, None, closed="left")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "sr": [Interval(Integral, 1, None, closed="left")],
        "fix_length": [StrOptions(set(TRAIN_FIX_LENGTH))],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "checkpoint_dir": [None, str, os.PathLike],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    #: Parameters a resumed fit may change.
    _resumable: tuple[str, ...] = (
        "max_epochs",
        "verbose",
        "device",
        "n_jobs",
        "checkpoint_dir",
    )

    def __init__(
        self,
        architecture="vgg",
        *,
        width=120,
        network=None,
        input_kind="auto",
        init="paper",
        input_scaling="scalar",
        conv_bias=True,
        n_frames=1376,
        n_samples=350000,
        sr=12000,
        fix_length="crop",
        max_epochs=30,
        batch_size=32,
        lr=1e-3,
        weight_decay=0.0,
        validation_fraction=0.1,
        patience=5,
        random_state=0,
        device="auto",
        checkpoint_dir=None,
        n_jobs=None,
        verbose=False,
    ):
        self.architecture = architecture
        self.width = width
        self.network = network
        self.input_kind = input_kind
        self.init = init
        self.input_scaling = input_scaling
        self.conv_bias = conv_bias
        self.n_frames = n_frames
        self.n_samples = n_samples
        self.sr = sr
        self.fix_length = fix_length
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- network and input -----------------------------------------------------
    def _network_name(self) -> str:
        if self.network is None:
            return repr(self.architecture)
        return getattr(self.network, "__qualname__", repr(self.network))

    def _resolve_kind(self, features: nn.Module) -> str:
        if self.input_kind != "auto":
            return self.input_kind
        name = _registry_name(self.architecture) if self.network is None else None
        if name is not None:
            return ARCHITECTURES[name].input_kind
        kind = getattr(features, "input_kind", None)
        if kind not in INPUT_KINDS:
            raise ValueError(
                f"input_kind='auto' needs the module of network={self._network_name()} "
                f"to have an input_kind attribute in {INPUT_KINDS}; got {kind!r}. "
                "Pass input_kind='mel' or 'waveform'."
            )
        return kind

    def _input_scaling(self) -> str:
        if self.input_scaling != "standard":
            return self.input_scaling
        warnings.warn(
            "input_scaling='standard' is deprecated: it is 'per_band' (the log-mel "
            "standardised per mel band, which changes what an architecture computes); "
            "the default is now 'scalar' (one mean and std, which the first layer "
            "absorbs). Pass 'per_band' to keep the old behaviour.",
            FutureWarning,
            stacklevel=4,
        )
        return "per_band"

    def _length(self) -> int:
        return self.n_frames if self.input_kind_ == "mel" else self.n_samples

    def _check_length(self, features: nn.Module) -> None:
        min_length = getattr(features, "min_length", 1)
        if self._length() < min_length:
            unit = "n_frames" if self.input_kind_ == "mel" else "n_samples"
            raise ValueError(
                f"{unit}={self._length()} is too short for network "
                f"{self._network_name()}, which needs at least {min_length}."
            )

    def _inputs(self, X, name: str = "X") -> Tensor:
        return prepare_inputs(
            X,
            self.input_kind_,
            length=self._length(),
            fix_length_mode=self.fix_length,
            sr=self.sr,
            n_jobs=self.n_jobs,
            name=name,
        )

    def _check_targets(self, y, n: int, name: str = "y") -> np.ndarray:
        y = column_or_1d(y, warn=True)
        if len(y) != n:
            raise ValueError(
                f"X and {name} hold different numbers of clips: {n} and {len(y)}."
            )
        check_classification_targets(y)
        return y

    # -- fit -------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, X_val=None, y_val=None):
        """Train the network and its head.

        Parameters
        ----------
        X : list of path-like, list of 1-D arrays, or array (n_clips, n_times)
            Training clips: file paths, or waveforms already at ``sr``.
        y : array-like of shape (n_clips,)
            Class labels.
        X_val, y_val : clips and labels, default=None
            A held-out set for early stopping (e.g. a dataset's validation
            split) instead of the ``validation_fraction`` split of ``X``.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            With one class; with a class of a single clip when a held-out part
            is drawn from ``X`` (pass ``validation_fraction=0`` or ``X_val``);
            with clips or lengths too short for the network; with a checkpoint
            in ``checkpoint_dir`` that this fit cannot resume; when training
            diverges (a loss or weight not finite: lower ``lr``).
        """
        audio = AudioInput(X)
        y = self._check_targets(y, len(audio))
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"y holds one class ({classes.tolist()[0]!r}); a classifier needs at "
                "least 2 classes."
            )
        seed = seed_from_random_state(self.random_state)
        device = resolve_device(self.device)
        features = build_network(
            self.architecture,
            network=self.network,
            width=self.width,
            random_state=seed,
            init=self.init,
            conv_bias=self.conv_bias,
        )
        self.input_kind_ = self._resolve_kind(features)
        self._check_length(features)
        inputs = self._inputs(audio.items)

        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither.")
        if X_val is not None:
            val_audio = AudioInput(X_val, name="X_val")
            y_val = self._check_targets(y_val, len(val_audio), "y_val")
            unknown = sorted(set(np.unique(y_val).tolist()) - set(classes.tolist()))
            if unknown:
                raise ValueError(f"y_val holds classes absent from y: {unknown[:5]}.")
            train_x, train_y = inputs, torch.from_numpy(y_idx)
            val_x = self._inputs(val_audio.items, name="X_val")
            val_y = torch.from_numpy(np.searchsorted(classes, y_val))
        else:
            train_idx, val_idx = self._split(y_idx, classes, seed)
            train_x = inputs[torch.from_numpy(train_idx)]
            train_y = torch.from_numpy(y_idx[train_idx])
            val_x = inputs[torch.from_numpy(val_idx)] if len(val_idx) else None
            val_y = torch.from_numpy(y_idx[val_idx]) if len(val_idx) else None

        n_features = _pooled_width(features, train_x[:1])
        model = _NetworkWithHead(
            features, n_features, len(classes), seed, self.input_kind_
        )
        fingerprint = None
        if self.checkpoint_dir is not None:
            fingerprint = self._fingerprint(
                model, train_x, train_y, val_x, val_y, seed, classes
            )
        self._train(model, train_x, train_y, val_x, val_y, seed, device, fingerprint)
        self.network_ = model.cpu().eval()
        self.classes_ = classes
        self.n_features_ = n_features
        return self

    def _split(self, y_idx: np.ndarray, classes: np.ndarray, seed: int):
        n = len(y_idx)
        if self.validation_fraction == 0:
            return np.arange(n), np.arange(0)
        counts = np.bincount(y_idx, minlength=len(classes))
        if counts.min() < 2:
            few = [
                repr(c) for c, k in zip(classes.tolist(), counts, strict=True) if k < 2
            ][:5]
            raise ValueError(
                f"class(es) {', '.join(few)} of y hold a single clip, but early "
                f"stopping holds out a stratified validation_fraction="
                f"{self.validation_fraction} of every class. Pass "
                "validation_fraction=0 (no early stopping: max_epochs epochs) or a "
                "held-out set with fit(X, y, X_val=..., y_val=...)."
            )
        n_val = math.ceil(self.validation_fraction * n)
        if n_val < len(classes):
            warnings.warn(
                f"validation_fraction={self.validation_fraction} holds out {n_val} of "
                f"{n} clips, fewer than the {len(classes)} classes; holding out one "
                "clip per class instead.",
                UserWarning,
                stacklevel=4,
            )
            n_val = len(classes)
        if n - n_val < len(classes):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves {n - n_val} "
                f"training clips for {len(classes)} classes; lower it, pass "
                "validation_fraction=0, or give X_val and y_val."
            )
        train, val = train_test_split(
            np.arange(n), test_size=n_val, stratify=y_idx, random_state=seed % 2**32
        )
        return np.sort(train), np.sort(val)

    def _fingerprint(
        self, model, train_x, train_y, val_x, val_y, seed, classes
    ) -> dict[str, str]:
        """Hashes of what a resumed fit must keep: the parameters, the data and
        what the untrained ``model`` computes (see :meth:`_network_digest`)."""
        params = {
            k: v
            for k, v in self.get_params(deep=False).items()
            if k not in self._resumable
        }
        params["random_state"] = seed
        text = "\n".join(
            f"{k}={_stable_identity(v)}" for k, v in sorted(params.items())
        )
        data = hashlib.blake2b(digest_size=20)
        for t in (train_x, train_y, val_x, val_y):
            if t is not None:
                data.update(repr(tuple(t.shape)).encode())
                data.update(t.contiguous().numpy().tobytes())
        data.update(repr(classes.tolist()).encode())
        return {
            "parameters": hashlib.blake2b(text.encode(), digest_size=20).hexdigest(),
            "data": data.hexdigest(),
            "network": self._network_digest(model),
        }

    def _network_digest(self, model: _NetworkWithHead) -> str:
        """:func:`behaviour_digest` of the untrained ``model`` (on the CPU, in
        evaluation mode, global RNG untouched): its outputs on a probe of the
        network's minimum length, and its weights and buffers. Names and shapes
        cannot tell an edited network (ReLU -> Tanh) from the one that wrote a
        checkpoint; this can."""
        length = min(self._length(), getattr(model.features, "min_length", math.inf))
        was_training = model.training
        model.eval()
        try:
            with torch.random.fork_rng(devices=[]):
                return behaviour_digest(
                    model.pooled,
                    self.input_kind_,
                    length,
                    state=itertools.chain(
                        model.named_parameters(), model.named_buffers()
                    ),
                )
        except NondeterministicNetworkError as exc:
            raise NondeterministicNetworkError(
                f"checkpoint_dir={os.fspath(self.checkpoint_dir)!r}: a resumed fit "
                f"could not be checked, since {exc} Or train without checkpoint_dir."
            ) from exc
        finally:
            model.train(was_training)

    # -- the training loop -----------------------------------------------------
    def _train(self, model, train_x, train_y, val_x, val_y, seed, device, fingerprint):
        model.to(device)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        shuffle = make_generator(seed + 2)
        state = {
            "epoch": 0,
            "history": [],
            "best_loss": math.inf,
            "best_epoch": 0,
            "best_state": None,
            "bad_epochs": 0,
            "stop_reason": None,
            "copy_saved": False,
        }
        path = None
        if self.checkpoint_dir is not None:
            path = Path(self.checkpoint_dir) / _CHECKPOINT
        if path is None or not path.exists():
            model.standardise_on(
                train_x,
                self.batch_size,
                device,
                inputs=self._input_scaling(),
            )
        else:
            state = self._resume(path, fingerprint, model, optimizer, shuffle)
        early = val_x is not None
        done = state["stop_reason"] == "early_stopping"
        first = state["epoch"] + 1
        bar = tqdm(
            range(first, self.max_epochs + 1),
            desc=type(self).__name__,
            unit="epoch",
            disable=not self.verbose or done,
            leave=False,
        )
        with _deterministic(device):
            for epoch in bar:
                if done:
                    break
                train_loss = self._epoch(
                    model, optimizer, train_x, train_y, shuffle, device, state
                )
                if early:
                    val_loss, val_acc = self._evaluate(model, val_x, val_y, device)
                    if not math.isfinite(val_loss):
                        raise self._diverged(epoch, "the held-out loss")
                else:
                    val_loss, val_acc = math.nan, math.nan
                state["history"].append(
                    {
                        "epoch": epoch,
                        "train_loss": train_loss,
                        "val_loss": val_loss,
                        "val_accuracy": val_acc,
                    }
                )
                state["epoch"] = epoch
                if not early or val_loss < state["best_loss"]:
                    state["best_loss"] = val_loss if early else math.nan
                    state["best_epoch"] = epoch
                    state["best_state"] = {
                        k: v.detach().cpu().clone()
                        for k, v in model.state_dict().items()
                    }
                    state["bad_epochs"] = 0
                else:
                    state["bad_epochs"] += 1
                if early and state["bad_epochs"] >= self.patience:
                    state["stop_reason"] = "early_stopping"
                    done = True
                else:
                    state["stop_reason"] = "max_epochs"
                bar.set_postfix(loss=f"{train_loss:.4f}", val_acc=f"{val_acc:.3f}")
                if path is not None:
                    self._save(path, model, optimizer, shuffle, state, fingerprint)
        bar.close()
        if state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
        self.history_ = list(state["history"])
        self.best_epoch_ = state["best_epoch"]
        self.n_epochs_ = state["epoch"]
        self.stop_reason_ = state["stop_reason"] or "max_epochs"

    def _resume(self, path: Path, fingerprint, model, optimizer, shuffle) -> dict:
        """Load the checkpoint at ``path`` into the training objects; its
        training state. A checkpoint of another fit, or of more epochs than
        ``max_epochs``, is a ValueError (the fit it holds cannot be cut back)."""
        saved = _read_checkpoint(path)
        where = f"checkpoint file {os.fspath(path)!r}"
        theirs = saved.get("fingerprint")
        if not isinstance(theirs, dict):
            theirs = {}
        differ = [
            why
            for part, why in _FINGERPRINT_PARTS.items()
            if theirs.get(part) != fingerprint[part]
        ]
        if differ:
            raise ValueError(
                f"{where} holds the checkpoint of another fit: {'; '.join(differ)}; "
                f"{_START_OVER}"
            )
        try:
            state = saved["state"]
            done = int(state["epoch"])
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            shuffle.set_state(saved["shuffle"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(
                f"{where} does not fit this network or is damaged ({exc}); "
                f"{_START_OVER}"
            ) from exc
        if done > self.max_epochs:
            raise ValueError(
                f"{where} holds {done} epochs of this fit, more than max_epochs="
                f"{self.max_epochs}: its weights cannot be cut back to fewer epochs. "
                f"Pass max_epochs>={done} to use it, or {_START_OVER}"
            )
        return state

    def _epoch(self, model, optimizer, x, y, shuffle, device, state) -> float:
        model.train()
        order = torch.randperm(len(x), generator=shuffle)
        total, n = 0.0, 0
        for k in range(0, len(x), self.batch_size):
            rows = order[k : k + self.batch_size]
            xb, yb = x[rows].to(device), y[rows].to(device)
            optimizer.zero_grad(set_to_none=True)
            try:
                with _copy_saved_tensors(state["copy_saved"]):
                    loss = F.cross_entropy(model(xb), yb)
                loss.backward()
            except RuntimeError as exc:
                if state["copy_saved"] or not _is_inplace_error(exc):
                    raise
                state["copy_saved"] = True  # see _copy_saved_tensors
                optimizer.zero_grad(set_to_none=True)
                with _copy_saved_tensors(True):
                    loss = F.cross_entropy(model(xb), yb)
                loss.backward()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise self._diverged(state["epoch"] + 1, "the training loss")
            optimizer.step()
            total += value * len(rows)
            n += len(rows)
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            raise self._diverged(state["epoch"] + 1, "a weight")
        return total / n

    def _diverged(self, epoch: int, what: str) -> ValueError:
        """The error of a training that diverged: never a model with NaN outputs
        (a checkpoint keeps the last epoch that ended finite)."""
        return ValueError(
            f"training diverged in epoch {epoch}: {what} is not finite (NaN or "
            f"inf); use a lower lr (now {self.lr:g})."
        )

    def _logits(self, model, x: Tensor, device) -> Tensor:
        model.eval()
        out = []
        with torch.no_grad():
            for k in range(0, len(x), self.batch_size):
                out.append(model(x[k : k + self.batch_size].to(device)).float().cpu())
        return torch.cat(out)

    def _evaluate(self, model, x, y, device) -> tuple[float, float]:
        logits = self._logits(model, x, device)
        loss = float(F.cross_entropy(logits, y))
        acc = float((logits.argmax(1) == y).float().mean())
        return loss, acc

    @staticmethod
    def _save(path: Path, model, optimizer, shuffle, state, fingerprint) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(
            {
                "format": _CHECKPOINT_FORMAT,
                "fingerprint": fingerprint,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "shuffle": shuffle.get_state(),
                "state": state,
            },
            tmp,
        )
        os.replace(tmp, path)  # never a half-written checkpoint

    # -- predict ---------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities: the softmax of the head's outputs.

        Parameters
        ----------
        X : list of path-like, list of 1-D arrays, or array (n_clips, n_times)
            Clips, as for ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes), float64
            Columns follow ``classes_``.
        """
        check_is_fitted(self, ["network_", "classes_"])
        inputs = self._inputs(X)
        device = resolve_device(self.device)
        model = self.network_.to(device)
        try:
            logits = self._logits(model, inputs, device)
        finally:
            self.network_ = model.cpu()
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each clip.

        Parameters
        ----------
        X : list of path-like, list of 1-D arrays, or array (n_clips, n_times)
            Clips, as for ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_clips,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags
