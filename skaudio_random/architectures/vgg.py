"""VGG-like spectrogram CNN (small rectangular 3x3 filters) with random weights.

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP, SPEC section 3.2 (``cnn_small_filters``); pools as in Choi et al. (2017),
"Transfer learning for music classification and regression tasks".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._blocks import (
    RandomFeatureNet,
    check_option,
    check_positive_int,
    clamped_max_pool,
    conv2d,
)
from ._fast import (
    conv2d_taps,
    conv_matrix,
    gemm_patches,
    interior,
    max_into,
    padded_map,
)

__all__ = ["VGGNet", "VGG_POOLS", "BATCHNORM"]

#: (time, mel) max-pool of blocks 1-5
VGG_POOLS = ((4, 2), (4, 3), (5, 2), (4, 2), (4, 4))
BATCHNORM = (None, "batch")
BN_EPS = 1e-3  # tf.layers.batch_normalization default


def _batch_norm(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Normalise with the batch's own statistics over ``dims`` (biased variance),
    no learned affine (TF's initial gamma = 1, beta = 0)."""
    var, mean = torch.var_mean(x, dim=dims, keepdim=True, correction=0)
    return (x - mean).mul_(torch.rsqrt(var + BN_EPS))


class VGGNet(RandomFeatureNet):
    """Five [conv 3x3 "same", ELU, max-pool] blocks; per-block channel means, 5 * nf.

    Pools (time x mel) 4x2, 4x3, 5x2, 4x2, 4x4: for 1376 x 96 the pooled maps
    are 344x48, 86x16, 17x8, 4x4 and 1x1. Each pooled map is averaged over time
    and mel per channel.

    Parameters
    ----------
    nf : int
        Filters per layer (32 / 717 at the paper's ~120 / ~3500 widths).
    generator : torch.Generator
        CPU generator; weights are drawn block 1 to 5, layout (nf, c_in, 3, 3).
    batchnorm : {None, "batch"}, default=None
        ``None`` is the paper's network. ``"batch"`` reproduces the batch-norm
        experiment of the paper's section 3.4 (SPEC section 8): as in the
        authors' script, the input log-mel is normalised per mel band and each
        block's ELU output per channel, with the statistics of the current
        batch (mean and biased variance over batch, time and mel; eps = 1e-3,
        TF's default; no learned scale/shift), before the pool. A clip's
        features then depend on the other clips of its batch (and on the batch
        size), which is why the paper drops batch norm.

    Attributes
    ----------
    min_length : int
        1 frame; pools are clamped to the available extent on short inputs
        (no clamping for the paper's 1376 frames).

    Notes
    -----
    Without batch norm the pool is applied before the ELU, which is identical
    (ELU is monotone) and touches 8-16x fewer elements.

    Examples
    --------
    >>> import torch
    >>> net = VGGNet(4, generator=torch.Generator().manual_seed(0))
    >>> net(torch.randn(2, 96, 50)).shape
    torch.Size([2, 20])
    """

    name = "vgg"
    input_kind = "mel"
    min_length = 1

    def __init__(self, nf: int, *, generator, batchnorm: str | None = None):
        super().__init__()
        check_positive_int(nf, "nf")
        check_option(batchnorm, "batchnorm", BATCHNORM)
        self.batchnorm = batchnorm
        self.convs = nn.ModuleList(
            conv2d(1 if i == 0 else nf, nf, 3, padding=1) for i in range(len(VGG_POOLS))
        )
        self._layers = [(f"block{i}", nf) for i in range(1, len(VGG_POOLS) + 1)]
        self._init_random_weights(generator)

    def _maps(self, x: Tensor):
        if self.batchnorm:
            x = _batch_norm(x, (0, 2))  # per mel band
        h = x.transpose(1, 2).unsqueeze(1)  # (batch, 1, n_frames, 96)
        for i, (conv, pool) in enumerate(
            zip(self.convs, VGG_POOLS, strict=True), start=1
        ):
            h = conv(h)
            if self.batchnorm:
                h = clamped_max_pool(_batch_norm(F.elu_(h), (0, 2, 3)), pool)
            else:
                h = F.elu_(clamped_max_pool(h, pool))
            yield f"block{i}", h  # (batch, nf, time, mel)

    def _fast_applies(self, x: Tensor) -> bool:
        return self.batchnorm is None and super()._fast_applies(x)

    def _fast_means(self, x: Tensor):
        """Channels-last fast path for one log-mel ``(96, n_frames)`` (see
        ``_fast.py``). Block 1 (one input channel) is a GEMM on 3x3 patches;
        blocks 2-5 are 9 accumulated GEMMs on row-shifted views of the
        flattened, zero-padded map. Each chunk of conv rows is max-pooled at
        once into the interior of the next block's padded input (the 1376 x 96
        x nf map of block 1 is never stored), then ELU and the means."""
        nf = self.convs[0].out_channels
        height, width = x.shape[1], x.shape[0]  # time, mel
        dt = x.dtype
        h = padded_map((height, width, 1), (1, 1), spare=2, dtype=dt)
        interior(h, (1, 1))[..., 0] = x.t()
        for i, (conv, pool) in enumerate(zip(self.convs, VGG_POOLS, strict=True), 1):
            ph, pw = min(pool[0], height), min(pool[1], width)
            n_h, n_w = height // ph, width // pw
            nxt = padded_map((n_h, n_w, nf), (1, 1), spare=2, dtype=dt)
            dest = interior(nxt, (1, 1))

            total = torch.zeros(nf)

            def pool_into(a, b, o, dest=dest, ph=ph, pw=pw, n_w=n_w, total=total):
                o = o[:, : n_w * pw].unflatten(1, (n_w, pw)).unflatten(0, (-1, ph))
                pooled = dest[a // ph : b // ph]
                windows = [o[:, i, :, j] for i in range(ph) for j in range(pw)]
                max_into(pooled, windows)
                total.add_(F.elu_(pooled).sum((0, 1), dtype=torch.float32))

            w_pad = width + 2
            if i == 1:  # single input channel: copy the 9-value patches

                def patches(a, b, h=h, n_w=n_w, pw=pw, w_pad=w_pad):
                    shape = (b - a, n_w * pw, 3, 3)
                    return h[a:].as_strided(shape, (w_pad, 1, w_pad, 1))

                matrix = conv_matrix(conv.weight, dt)
                gemm_patches(patches, matrix, n_h * ph, n_w * pw, pool_into, align=ph)
            else:
                conv2d_taps(h, conv.weight, n_h * ph, pool_into, align=ph)
            yield f"block{i}", total / (n_h * n_w)
            h, height, width = nxt, n_h, n_w
