"""Shared pieces of the random-weight networks: padding, initialisation, pooling.

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP. SPEC section 3.1: TF "same" padding (extra zero right/bottom), weights
N(0, 2.6 / fan_in) cut at +-2 sigma, zero biases, "valid" (floor) pooling, and
features = per-channel means over every remaining position of selected maps.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

N_MELS = 96
#: std of a standard normal truncated at +-2, i.e. the std of every weight / sigma.
TRUNCATED_STD_RATIO = 0.8796256610342398
_CONVS = (nn.Conv1d, nn.Conv2d)


def tf_same_padding(length: int, kernel: int, stride: int = 1) -> tuple[int, int]:
    """(left, right) zero padding of TensorFlow's ``padding="same"``.

    total = max((ceil(length / stride) - 1) * stride + kernel - length, 0); the left
    side gets ``total // 2`` and the right side the rest (one more for even totals).

    Examples
    --------
    >>> tf_same_padding(1376, 128)
    (63, 64)
    >>> tf_same_padding(350000, 512, 32)
    (248, 248)
    """
    n_out = -(-length // stride)
    total = max((n_out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def truncated_normal_(tensor: Tensor, std: float, generator: torch.Generator) -> Tensor:
    """Fill ``tensor`` in place with N(0, std^2) truncated at +-2 std.

    Inverse-CDF sampling: one float64 uniform per element is drawn from
    ``generator`` (row-major order of ``tensor``) and mapped through the normal
    quantile restricted to [Phi(-2), Phi(2)]. The result has TensorFlow's
    ``truncated_normal`` distribution (values beyond 2 std re-drawn) and is a
    deterministic function of the generator state. The effective standard
    deviation is ``TRUNCATED_STD_RATIO * std``.
    """
    lo = 0.5 * math.erfc(2.0 / math.sqrt(2.0))  # Phi(-2)
    u = torch.rand(tensor.shape, generator=generator, dtype=torch.float64)
    # p in [lo, 1 - lo); 2p - 1 in [-erf(sqrt 2), erf(sqrt 2))
    u.mul_(2.0 * (1.0 - 2.0 * lo)).add_(2.0 * lo - 1.0).erfinv_().mul_(math.sqrt(2.0))
    u.clamp_(-2.0, 2.0).mul_(std)
    with torch.no_grad():
        tensor.copy_(u)
    return tensor


def conv1d(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0):
    """A bias-free Conv1d created on the meta device (weights drawn later)."""
    return nn.Conv1d(c_in, c_out, kernel, stride, padding, bias=False, device="meta")


def conv2d(c_in: int, c_out: int, kernel, padding=0):
    """A bias-free Conv2d created on the meta device (weights drawn later)."""
    return nn.Conv2d(c_in, c_out, kernel, 1, padding, bias=False, device="meta")


def clamped_max_pool(x: Tensor, kernel: tuple[int, ...]) -> Tensor:
    """Max-pool the trailing dims of ``x`` with stride = size, floor mode.

    Each pool size is clamped to the extent of its dimension, so a dimension
    shorter than its pool yields one position (the max over what is there)
    instead of an empty map. For the paper's input lengths no pool is clamped,
    so the result is exactly the paper's "valid" pooling.
    """
    k = tuple(min(p, s) for p, s in zip(kernel, x.shape[-len(kernel) :], strict=True))
    if all(p == 1 for p in k):
        return x
    pool = F.max_pool1d if len(k) == 1 else F.max_pool2d
    return pool(x, k, k)


def channel_means(x: Tensor) -> Tensor:
    """(batch, channels, *positions) -> (batch, channels): mean over positions."""
    return x.flatten(2).mean(dim=2)


def check_input_batch(x, input_kind: str, min_length: int, label: str) -> None:
    """Raise a clear ``ValueError`` unless ``x`` is an input batch of ``label``.

    ``input_kind`` ``"waveform"``: float ``(batch, n_times)``; ``"mel"``: float
    ``(batch, 96, n_frames)``; the last axis at least ``min_length`` long.
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point torch.Tensor; got {type(x)}.")
    wave = input_kind == "waveform"
    if not (x.ndim == 2 if wave else x.ndim == 3 and x.shape[1] == N_MELS):
        expected = "(batch, n_times)" if wave else f"(batch, {N_MELS}, n_frames)"
        raise ValueError(
            f"x must be a {input_kind} batch of shape {expected} for {label}; got "
            f"shape {tuple(x.shape)}."
        )
    if x.shape[-1] < min_length:
        unit = "samples" if wave else "frames"
        raise ValueError(
            f"x must have at least min_length={min_length} {unit} for {label}; got "
            f"{x.shape[-1]}."
        )


def check_positive_int(value, name: str) -> int:
    """Raise a ValueError naming ``name`` unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")
    return value


def check_option(value, name: str, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")


class RandomFeatureNet(nn.Module):
    """Base of the random-weight feature extractors.

    Subclasses create their conv layers (bias-free, on the meta device) in
    ``__init__`` in the order documented by the class, set ``_layers`` to the
    ``(layer_name, n_channels)`` pairs of the averaged maps, call
    ``_init_random_weights(generator)`` and implement ``_maps(x)``, a generator
    of ``(layer_name, map)`` with maps of shape (batch, channels, *positions)
    in feature order. Each map is averaged as soon as it is produced, so the
    earlier, larger maps can be freed.

    Weights are drawn on the CPU: every conv module, in registration order
    (``self.modules()``), gets its whole weight tensor (PyTorch layout
    ``(out, in, *kernel)``, row-major) from :func:`truncated_normal_` with
    sigma = sqrt(2.6 / fan_in), fan_in = in_channels * kernel elements. Biases
    are zero in the paper and are therefore omitted (adding +0.0 changes
    nothing). Parameters do not require gradients (inference only).
    ``generator=None`` leaves the module on the meta device (shapes only, as
    the registry uses it to count features).
    """

    name: str = ""
    input_kind: str = "waveform"
    min_length: int = 1
    prefix_names: bool = True
    _layers: list[tuple[str, int]]

    def _init_random_weights(self, generator: torch.Generator | None) -> None:
        if generator is None:  # structure only: stays on the meta device
            self.requires_grad_(False)
            return
        if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
            raise ValueError(
                f"generator must be a CPU torch.Generator; got {generator!r}."
            )
        self.to_empty(device="cpu")
        for module in self.modules():
            if isinstance(module, _CONVS):
                w = module.weight  # TF variance_scaling_initializer() defaults:
                truncated_normal_(w, math.sqrt(2.6 / w[0].numel()), generator)
        self.requires_grad_(False)

    def _maps(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        raise NotImplementedError

    def _summarise(self, layer: str, fmap: Tensor) -> Tensor:
        return channel_means(fmap)

    # -- fast CPU path (see _fast.py) -------------------------------------------
    def _fast_means(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        """``(layer_name, per-channel means)`` of one clip (no batch axis), in
        feature order; the same numbers as ``_maps`` + ``channel_means`` up to
        float32 rounding. Subclasses without a fast path leave it unimplemented."""
        raise NotImplementedError

    def _summarise_means(self, layer: str, means: Tensor) -> Tensor:
        return means

    def _fast_applies(self, x: Tensor) -> bool:
        return (
            type(self)._fast_means is not RandomFeatureNet._fast_means
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and not (torch.is_grad_enabled() and x.requires_grad)
        )

    @property
    def n_features(self) -> int:
        return sum(n for _, n in self._layers)

    def feature_names(self) -> list[str]:
        """Names ``{name}_{layer}_{channel:0Nd}`` in feature order (N >= 3)."""
        prefix = self.name + "_" if self.prefix_names else ""
        width = max(3, len(str(max(n for _, n in self._layers) - 1)))
        return [
            f"{prefix}{layer}_{c:0{width}d}"
            for layer, n in self._layers
            for c in range(n)
        ]

    def _check_input(self, x: Tensor) -> Tensor:
        check_input_batch(x, self.input_kind, self.min_length, self.name)
        dtype = next(self.parameters()).dtype
        return x if x.dtype == dtype else x.to(dtype)

    def forward(
        self,
        x: Tensor,
        return_maps: bool = False,
        *,
        reference: bool = False,
        compute_dtype: torch.dtype | None = None,
    ):
        """Features (batch, n_features), or the named maps if ``return_maps``.

        With ``return_maps=True`` returns a dict ``{layer_name: map}`` of the
        maps that are averaged, shape (batch, channels, *positions), in
        feature order (before averaging).

        On the CPU (float32, no autograd) features are computed clip by clip by
        the fast path of ``_fast.py`` (time-major GEMMs, chunked over time, maps
        averaged while in cache; same numbers up to float32 rounding, and each
        clip's features independent of the batch). ``reference=True`` uses the
        plain modules (one torch convolution per layer, whole maps), as on GPUs.
        ``compute_dtype=torch.bfloat16`` runs the fast path's maps and GEMMs in
        bfloat16 (float32 accumulation inside each GEMM, means in float32;
        about 3 significant digits); elsewhere it is ``torch.autocast``.
        """
        x = self._check_input(x)
        if return_maps:
            return dict(self._maps(x))
        if reference or not self._fast_applies(x):
            if compute_dtype is None or compute_dtype == x.dtype:
                return self._reference_features(x)
            with torch.autocast(x.device.type, dtype=compute_dtype):
                return self._reference_features(x).float()
        if compute_dtype is not None:
            x = x.to(compute_dtype)
        return torch.stack([self._fast_features(clip) for clip in x])

    def _reference_features(self, x: Tensor) -> Tensor:
        return torch.cat([self._summarise(k, m) for k, m in self._maps(x)], dim=1)

    def _fast_features(self, clip: Tensor) -> Tensor:
        """Features of one clip (no batch axis) by the fast CPU path."""
        means = [self._summarise_means(k, m) for k, m in self._fast_means(clip)]
        return torch.cat(means)

    def layer_shapes(self, length: int) -> list[tuple[str, tuple[int, ...]]]:
        """Shapes (channels, *positions) of the averaged maps for one input of
        ``length`` samples/frames, computed on the meta device (no arithmetic)."""
        meta = copy.deepcopy(self).to("meta")
        shape = (1, length) if self.input_kind == "waveform" else (1, N_MELS, length)
        maps = meta(torch.empty(shape, device="meta"), return_maps=True)
        return [(k, tuple(m.shape[1:])) for k, m in maps.items()]
