"""A PANNs CNN14-style stack with random weights, on the paper's log-mel input.

Q. Kong et al. (2020), "PANNs: Large-scale pretrained audio neural networks for
audio pattern recognition", IEEE/ACM TASLP: CNN14 is six blocks of two 3x3
convolutions with 2x2 average pooling (none after the sixth), with 64 to 2048
filters. Here without batch normalisation: Pons & Serra (2019), "Randomly
weighted CNNs for (music) audio classification", ICASSP, show that batch
statistics make a random network's features depend on the batch (SPEC section
8). A plain ``nn.Module`` registered through
:func:`~skaudio_random.architectures.plugin`: the features are the per-channel
averages of the six block outputs, the weights the paper's draw.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ._blocks import check_positive_int

__all__ = ["CNN14Net"]

#: (time, mel) average pool after each block, as in PANNs (none after block 6)
CNN14_POOLS = ((2, 2),) * 5 + ((1, 1),)


class ConvBlock(nn.Module):
    """Two 3x3 "same" convolutions (no bias), each followed by ReLU, then
    average pooling."""

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return F.avg_pool2d(x, self.pool) if self.pool != (1, 1) else x


class CNN14Net(nn.Module):
    """CNN14-style random network: six blocks with nf, 2nf, ..., 32nf filters.

    ``63 * nf`` features (126 at nf=2 for width 120, 3528 at nf=56 for width
    3500; PANNs' CNN14 is nf=64). Needs at least 32 frames (five 2x2 pools).

    Parameters
    ----------
    nf : int, default=2
        Filters of the first block; block ``i`` has ``nf * 2 ** (i - 1)``.
    """

    input_kind = "mel"

    def __init__(self, nf: int = 2) -> None:
        super().__init__()
        check_positive_int(nf, "nf")
        c_in = 1
        for i, pool in enumerate(CNN14_POOLS, start=1):
            self.add_module(f"block{i}", ConvBlock(c_in, nf * 2 ** (i - 1), pool))
            c_in = nf * 2 ** (i - 1)

    def forward(self, x: Tensor) -> Tensor:
        h = x.transpose(1, 2).unsqueeze(1)  # (batch, 1, n_frames, 96), as PANNs
        for block in self.children():
            h = block(h)  # (batch, channels, time, mel)
        return h.mean((2, 3))  # (batch, 32 * nf)
