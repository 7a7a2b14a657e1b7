"""Single-layer "vertical" spectrogram CNNs (7x96, 7x86) with random weights.

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP, SPEC section 3.2 (``cnn_single``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._blocks import N_MELS, RandomFeatureNet, check_positive_int, conv1d, conv2d
from ._fast import conv_matrix, gemm_patches

__all__ = ["VerticalNet"]


class VerticalNet(RandomFeatureNet):
    """One conv of 7 frames x ``n_bands`` mel bands, ReLU, time-mean; nf features.

    ``n_bands=96``: the kernel spans all bands, so the conv is computed as a
    Conv1d over the 96 mel bands as channels (identical maths to the paper's
    full-height 2-D conv, no transpose needed): 1370 frames for 1376. ``n_bands=86``:
    a 2-D conv (time x mel, valid) giving 11 frequency positions, then max-pool
    1 x 11 over all of them (the paper's pool), then the time-mean.

    Parameters
    ----------
    nf : int
        Number of filters (160 / 3585 at the paper's widths).
    generator : torch.Generator
        CPU generator for the single weight tensor (layout (nf, 96, 7) for 7x96,
        (nf, 1, 7, 86) for 7x86).
    n_bands : {96, 86}, default=96
        Frequency extent of the kernel.

    Attributes
    ----------
    min_length : int
        7 frames (valid conv in time).

    Examples
    --------
    >>> import torch
    >>> net = VerticalNet(4, generator=torch.Generator().manual_seed(0), n_bands=86)
    >>> net(torch.randn(2, 96, 50)).shape
    torch.Size([2, 4])
    """

    input_kind = "mel"
    min_length = 7

    def __init__(self, nf: int, *, generator, n_bands: int = 96):
        super().__init__()
        check_positive_int(nf, "nf")
        if n_bands not in (96, 86):
            raise ValueError(f"n_bands must be 96 or 86; got {n_bands!r}.")
        self.n_bands = n_bands
        self.name = f"vertical_7x{n_bands}"
        if n_bands == N_MELS:
            self.conv = conv1d(N_MELS, nf, 7)
        else:
            self.conv = conv2d(1, nf, (7, n_bands))
        self._layer = "conv" if n_bands == N_MELS else "pool"
        self._layers = [(self._layer, nf)]
        self._init_random_weights(generator)

    def _maps(self, x: Tensor):
        if self.n_bands == N_MELS:
            h = self.conv(x)  # (batch, nf, n_frames - 6)
        else:
            h = self.conv(
                x.transpose(1, 2).unsqueeze(1)
            )  # (batch, nf, n_frames - 6, 11)
            h = h.amax(dim=3)  # max-pool over all frequency positions
        # ReLU after the pool: identical (monotone), 11x fewer elements; out of
        # place after amax, whose backward needs its output
        yield self._layer, F.relu_(h) if self.n_bands == N_MELS else F.relu(h)

    def _fast_means(self, x: Tensor):
        """Fast path for one log-mel ``(96, n_frames)``: GEMMs on patches of the
        time-major spectrogram, with the frequency max-pool, ReLU and time sum
        applied chunk by chunk (see ``_fast.py``)."""
        xt = x.t().contiguous()  # (n_frames, 96)
        n_out = xt.shape[0] - 6
        n_pos = N_MELS - self.n_bands + 1
        total = torch.zeros(self.conv.out_channels)

        def patches(a, b):  # (b - a, n_pos, 7, n_bands): rows (t, f), values (i, j)
            return xt[a:].as_strided(
                (b - a, n_pos, 7, self.n_bands), (N_MELS, 1, N_MELS, 1)
            )

        def accumulate(a, b, o):  # o: (b - a, n_pos, nf)
            o = o.amax(1) if n_pos > 1 else o[:, 0]
            total.add_(o.relu_().sum(0, dtype=torch.float32))

        matrix = conv_matrix(self.conv.weight, x.dtype)
        gemm_patches(patches, matrix, n_out, n_pos, accumulate)
        yield self._layer, total / n_out
