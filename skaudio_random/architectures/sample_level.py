"""Sample-level waveform CNN with random weights (SPEC section 3.2).

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP; front end after Lee et al. (2017), "Sample-level deep convolutional neural
networks for music auto-tagging using raw waveforms".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._blocks import RandomFeatureNet, check_positive_int, clamped_max_pool, conv1d
from ._fast import chunk_units, conv1d_taps, conv_matrix, max_into, padded_map

__all__ = ["SampleLevelNet"]


class SampleLevelNet(RandomFeatureNet):
    """Seven 1-D conv blocks on the raw 12 kHz waveform; 7 * nf features.

    Block 0: conv 3 / stride 3 / valid, ReLU, averaged after the conv. Blocks
    1-6: conv 3 / stride 1 / "same", ReLU, max-pool 3/3, averaged after the
    pool. For 350 000 samples the averaged maps have 116 666, 38 888, 12 962,
    4 320, 1 440, 480 and 160 positions.

    Parameters
    ----------
    nf : int
        Filters per layer (23 at the paper's ~120 width, 512 at ~3500).
    generator : torch.Generator
        CPU generator the weights are drawn from, layer 0 first, then 1-6.

    Attributes
    ----------
    min_length : int
        3 samples. Pools are clamped to the available length on short inputs
        (no clamping at the paper's 350 000 samples).

    Examples
    --------
    >>> import torch
    >>> net = SampleLevelNet(4, generator=torch.Generator().manual_seed(0))
    >>> net(torch.randn(2, 3000)).shape
    torch.Size([2, 28])
    """

    name = "sample_level"
    input_kind = "waveform"
    min_length = 3

    def __init__(self, nf: int, *, generator):
        super().__init__()
        check_positive_int(nf, "nf")
        # front-end: strided conv
        self.conv0 = conv1d(1, nf, 3, stride=3)
        # conv stack
        self.convs = nn.ModuleList(conv1d(nf, nf, 3, padding=1) for _ in range(6))
        self._layers = [(f"layer{i}", nf) for i in range(7)]
        self._init_random_weights(generator)

    def _maps(self, x: Tensor):
        h = F.relu_(self.conv0(x.unsqueeze(1)))  # (batch, nf, (n_times - 3) // 3 + 1)
        yield "layer0", h
        for i, conv in enumerate(self.convs, start=1):
            # max-pool before ReLU: identical (ReLU is monotone), 3x fewer elements
            h = F.relu_(clamped_max_pool(conv(h), (3,)))
            yield f"layer{i}", h

    def _fast_means(self, y: Tensor):
        """Time-major fast path for one waveform ``(n_times,)`` (see ``_fast.py``).

        Layer 0 (116 666 x nf for 350 000 samples) is computed chunk by chunk,
        averaged, and fed straight into layer 1, whose pooled output goes into
        the zero-padded input of layer 2; no full-resolution map is stored.
        """
        nf = self.conv0.out_channels
        n0 = (y.shape[0] - 3) // 3 + 1
        y3 = y[: 3 * n0].view(n0, 3)  # stride-3 frames of 3 samples: no copy
        dt = y.dtype  # float32, or bfloat16 (precision='bfloat16'): means in float32
        w0 = conv_matrix(self.conv0.weight, dt)  # (3, nf)
        pool = min(3, n0)
        n1 = n0 // pool
        nxt = padded_map((n1, nf), (1,), dtype=dt)
        dest = nxt[1 : n1 + 1]
        sum0 = torch.zeros(nf)
        used = n1 * pool  # layer-1 rows that survive the pool
        step = chunk_units(used, 1, nf, pool)
        h0_buf = torch.empty(step + 2, nf, dtype=dt)
        o_buf = torch.empty(step, nf, dtype=dt)
        for a in range(0, used, step):
            b = min(used, a + step)
            lo, hi = max(a - 1, 0), min(b + 1, n0)  # layer-0 rows incl. halo
            h0 = h0_buf[: b - a + 2]
            h0[0].zero_()  # zero padding of layer 1 at the clip edges
            h0[-1].zero_()
            torch.mm(y3[lo:hi], w0, out=h0[lo - a + 1 : hi - a + 1]).relu_()
            sum0 += h0[1 : b - a + 1].sum(0, dtype=torch.float32)

            def pool_into(c, d, o, a=a):
                rows = dest[(a + c) // pool : (a + d) // pool]
                max_into(rows, o.view(-1, pool, nf).unbind(1))  # amax: 2-5x slower

            weight = self.convs[0].weight
            conv1d_taps(h0, weight, b - a, pool_into, align=pool, out=o_buf[: b - a])
        if used < n0:  # layer-0 rows after the last pooled window
            sum0 += (y3[used:] @ w0).relu_().sum(0, dtype=torch.float32)
        yield "layer0", sum0 / n0
        yield "layer1", dest.relu_().mean(0, dtype=torch.float32)
        h, n = nxt, n1
        for i, conv in enumerate(self.convs[1:], start=2):
            pool = min(3, n)
            n_next = n // pool
            nxt = padded_map((n_next, nf), (1,), dtype=dt)
            dest = nxt[1 : n_next + 1]

            def pool_into(a, b, o, dest=dest, pool=pool):
                max_into(dest[a // pool : b // pool], o.view(-1, pool, nf).unbind(1))

            conv1d_taps(h, conv.weight, n_next * pool, pool_into, align=pool)
            yield f"layer{i}", dest.relu_().mean(0, dtype=torch.float32)
            h, n = nxt, n_next
