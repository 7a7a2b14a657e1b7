"""Analytic multiply-accumulate counts of the random-weight networks."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["count_macs"]


def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Multiply-accumulates of every conv layer for one forward of ``input_shape``.

    The module is copied to the meta device and run with forward hooks, so no
    arithmetic is done and any width is cheap to count. A conv's count is
    output elements x in_channels / groups x kernel elements (padding zeros
    included, pooling, activations and means not counted).

    Parameters
    ----------
    module : torch.nn.Module
        A network from :data:`ARCHITECTURES` (or any module of Conv1d/Conv2d).
    input_shape : tuple of int
        Full input shape including the batch, e.g. ``(1, 350000)`` for one
        waveform clip or ``(1, 96, 1376)`` for one log-mel clip.

    Returns
    -------
    dict of str to int
        ``{qualified conv name: MACs}`` in execution order, for the whole batch.

    Examples
    --------
    >>> import torch
    >>> from skaudio_random.architectures import ARCHITECTURES
    >>> net = ARCHITECTURES["vertical_7x96"].build(10, generator=torch.Generator())
    >>> count_macs(net, (1, 96, 1376))
    {'conv': 9206400}
    """
    meta = copy.deepcopy(module).to("meta")
    counts: dict[str, int] = {}

    def hook(name):
        def record(mod, inputs, output):
            per_out = mod.in_channels // mod.groups * math.prod(mod.kernel_size)
            counts[name] = counts.get(name, 0) + output.numel() * per_out

        return record

    handles = [
        m.register_forward_hook(hook(n))
        for n, m in meta.named_modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d))
    ]
    try:
        meta(torch.empty(input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return counts
