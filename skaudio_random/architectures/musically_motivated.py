"""Musically motivated spectrogram CNNs (timbral / temporal / time) with random weights.

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP, SPEC section 3.2 (``cnn_music`` and, for UrbanSound8K, ``cnn_audio``);
design after Pons et al. (2016), "Experimenting with musically motivated
convolutional neural networks".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._blocks import (
    N_MELS,
    RandomFeatureNet,
    check_positive_int,
    conv1d,
    conv2d,
    tf_same_padding,
)
from ._fast import conv_matrix, gemm_patches, padded_map

__all__ = ["MusicallyMotivatedNet", "TEMPORAL_KERNELS", "TIME_KERNELS"]

#: Timbral branches with fewer filters use the direct convolution in the fast
#: path (measured on a 2-core AVX-512 machine: nf = 8 im2col 5x slower, nf = 256
#: im2col 4x faster than oneDNN's direct convolution).
IM2COL_MIN_FILTERS = 64
TEMPORAL_KERNELS = (165, 128, 64, 32)  # cnn_music (GTZAN, Ballroom)
TIME_KERNELS = (64, 32, 16, 8)  # cnn_audio (UrbanSound8K)
#: (time extent, mel extent, filters per nf) of the six timbral branches, in order
TIMBRAL_BRANCHES = tuple(
    (t, int(frac * N_MELS), mult)
    for frac in (0.9, 0.4)
    for t, mult in ((7, 1), (3, 2), (1, 4))
)


def temporal_filters(nf: int) -> tuple[int, ...]:
    """Filters of the four temporal branches: nf - r, 2nf - r, 4nf - r, 8nf - r,
    r = nf // 4 (the authors' ``remove``, nf / 4 for their nf values)."""
    r = nf // 4
    return tuple(m * nf - r for m in (1, 2, 4, 8))


class MusicallyMotivatedNet(RandomFeatureNet):
    """One wide layer of timbral and/or temporal branches; features = time-means.

    Timbral branches (2-D convs on the (time, mel) log-mel, stride 1, time
    "same" (3+3, 1+1 or no zero rows), frequency valid, ReLU, max-pool over all
    frequency positions -> (channels, n_frames)): 7x86 nf, 3x86 2nf, 1x86 4nf,
    7x38 nf, 3x38 2nf, 1x38 4nf filters (14 * nf features). Temporal branches:
    the mel-band mean (average pool 1 x 96) -> a 1-channel envelope, then four
    Conv1d with TF "same" padding (extra zero on the right for even lengths),
    ReLU, no pooling; filters nf - r, 2nf - r, 4nf - r, 8nf - r with
    r = nf // 4 (14 * nf features when 4 divides nf). Kernel lengths 165, 128,
    64, 32 frames ("temporal") or 64, 32, 16, 8 ("time", UrbanSound8K).

    Parameters
    ----------
    nf : int
        Width knob (timbral 8 / 256, temporal 8 / 256, timbral+temporal
        4 / 128 at the paper's ~120 / ~3500 widths).
    generator : torch.Generator
        CPU generator; weights are drawn timbral branches first (order above),
        then temporal branches (longest kernel first).
    timbral : bool, default=True
        Include the six timbral branches.
    temporal_kernels : tuple of int or None, default=None
        Kernel lengths of the temporal branches; ``None`` for none.
    temporal_name : str, default="temporal"
        Feature-name stem of the temporal branches ("temporal" or "time").

    Attributes
    ----------
    min_length : int
        1 frame (every conv is "same" in time; pooling is over frequency only).

    Notes
    -----
    ReLU is applied after the frequency max-pool, which is identical (ReLU is
    monotone) and touches 11x / 59x fewer elements.

    Examples
    --------
    >>> import torch
    >>> net = MusicallyMotivatedNet(4, generator=torch.Generator().manual_seed(0))
    >>> net(torch.randn(2, 96, 50)).shape
    torch.Size([2, 56])
    """

    input_kind = "mel"
    min_length = 1
    prefix_names = False

    def __init__(
        self,
        nf: int,
        *,
        generator,
        timbral: bool = True,
        temporal_kernels: tuple[int, ...] | None = None,
        temporal_name: str = "temporal",
        name: str = "timbral",
    ):
        super().__init__()
        check_positive_int(nf, "nf")
        if not timbral and not temporal_kernels:
            raise ValueError("Give timbral=True and/or non-empty temporal_kernels.")
        self.name = name
        self._layers = []
        # timbral branches
        self.timbral = nn.ModuleList()
        self._timbral_names = []
        for t, f, mult in TIMBRAL_BRANCHES if timbral else ():
            self.timbral.append(conv2d(1, mult * nf, (t, f), padding=(t // 2, 0)))
            self._timbral_names.append(f"timbral_{t}x{f}")
            self._layers.append((self._timbral_names[-1], mult * nf))
        # temporal branches
        self.temporal = nn.ModuleList()
        self.temporal_kernels = tuple(temporal_kernels or ())
        if self.temporal_kernels and len(self.temporal_kernels) != 4:
            raise ValueError(
                f"temporal_kernels must hold 4 lengths; got {temporal_kernels!r}."
            )
        filters = temporal_filters(nf) if self.temporal_kernels else ()
        self._temporal_names = [f"{temporal_name}_{k}" for k in self.temporal_kernels]
        for k, n, label in zip(
            self.temporal_kernels, filters, self._temporal_names, strict=True
        ):
            self.temporal.append(conv1d(1, n, k))
            self._layers.append((label, n))
        self._init_random_weights(generator)

    def _maps(self, x: Tensor):
        if len(self.timbral):
            x2 = x.transpose(1, 2).unsqueeze(1)  # (batch, 1, n_frames, 96)
            for label, conv in zip(self._timbral_names, self.timbral, strict=True):
                h = conv(x2).amax(dim=3)  # (batch, filters, n_frames): pool over freq
                yield label, F.relu(h)  # out of place: amax's backward needs h
        if len(self.temporal):
            env = x.mean(dim=1, keepdim=True)  # (batch, 1, n_frames): mean over bands
            n_frames = env.shape[-1]
            for label, k, conv in zip(
                self._temporal_names, self.temporal_kernels, self.temporal, strict=True
            ):
                h = conv(F.pad(env, tf_same_padding(n_frames, k)))
                yield label, F.relu_(h)  # (batch, filters, n_frames)

    def _fast_means(self, x: Tensor):
        """Fast path for one log-mel ``(96, n_frames)`` (see ``_fast.py``): each
        branch is a GEMM on patches of the time-major spectrogram (zero rows
        above and below for the "same" time padding), with the frequency
        max-pool, ReLU and time sum applied chunk by chunk."""
        n_frames = x.shape[1]
        if len(self.timbral):
            half = max(conv.kernel_size[0] for conv in self.timbral) // 2
            xp = padded_map((n_frames, N_MELS), (half,), dtype=x.dtype)
            xp[half : half + n_frames] = x.t()
            for label, conv in zip(self._timbral_names, self.timbral, strict=True):
                if conv.out_channels < IM2COL_MIN_FILTERS:
                    # narrow branch: copying K = kt * kf values per output row
                    # costs more than the GEMM saves; oneDNN's direct conv wins
                    w = conv.weight.to(x.dtype)
                    h = F.conv2d(x.t()[None, None], w, padding=conv.padding).amax(dim=3)
                    yield label, h.relu_().mean(2, dtype=torch.float32)[0]
                    continue
                kt, kf = conv.kernel_size
                n_pos = N_MELS - kf + 1
                start = half - kt // 2
                total = torch.zeros(conv.out_channels)

                def patches(a, b, kt=kt, kf=kf, n_pos=n_pos, start=start):
                    return xp[start + a :].as_strided(
                        (b - a, n_pos, kt, kf), (N_MELS, 1, N_MELS, 1)
                    )

                def accumulate(a, b, o, total=total):
                    total.add_(o.amax(1).relu_().sum(0, dtype=torch.float32))

                matrix = conv_matrix(conv.weight, x.dtype)
                gemm_patches(patches, matrix, n_frames, n_pos, accumulate)
                yield label, total / n_frames
        if len(self.temporal):
            env = x.mean(dim=0)
            for label, k, conv in zip(
                self._temporal_names, self.temporal_kernels, self.temporal, strict=True
            ):
                left, right = tf_same_padding(n_frames, k)
                padded = F.pad(env, (left, right))
                total = torch.zeros(conv.out_channels)

                def patches(a, b, k=k, padded=padded):
                    return padded[a:].as_strided((b - a, k), (1, 1))

                def accumulate(a, b, o, total=total):
                    total.add_(o.relu_().sum((0, 1), dtype=torch.float32))

                matrix = conv_matrix(conv.weight, x.dtype)
                gemm_patches(patches, matrix, n_frames, 1, accumulate)
                yield label, total / n_frames
