"""Sample-level waveform CNN with random weights (SPEC section 3.2).

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP; front end after Lee et al. (2017), "Sample-level deep convolutional neural
networks for music auto-tagging using raw waveforms".
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ._blocks import RandomFeatureNet, check_positive_int, clamped_max_pool, conv1d

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
