"""Frame-level waveform CNNs with random weights (SPEC section 3.2).

Pons & Serra (2019), "Randomly weighted CNNs for (music) audio classification",
ICASSP: a frame-level front end (one 512-sample filter bank, or five filter
lengths in the "many shapes" variant) followed by the residual back end of
Pons et al. (2018), "End-to-end learning for music audio tagging at scale".
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
    conv1d,
    tf_same_padding,
)
from ._fast import conv1d_taps, conv_matrix, max_into, padded_map

__all__ = ["FrameLevelNet", "BACKEND_AVERAGING"]

BACKEND_AVERAGING = ("per_filter", "collapsed")
MANY_KERNELS = (512, 256, 128, 64, 32)
STRIDE = 32


class FrameLevelNet(RandomFeatureNet):
    """Frame-level front end + 3-layer residual back end on the 12 kHz waveform.

    Front end (``many_shapes=False``): conv 512 / stride 32 / **valid**, nf
    filters, ReLU (10 922 frames for 350 000 samples). With
    ``many_shapes=True``: five parallel convs of lengths 512, 256, 128, 64 and
    32, stride 32, TF "same" padding, nf filters each, ReLU, concatenated to
    5 * nf channels (10 938 frames). Back end: conv 7 valid (nf filters over
    all front channels), ReLU -> b1; conv 7 "same" (3 + 3 zeros), ReLU, + b1 ->
    b2; max-pool 2 -> p; conv 7 "same", ReLU, + p -> b3. Features: the front
    maps' per-filter means (each front conv separately), then b1, b2, b3 ->
    4 * nf (8 * nf for many shapes).

    Parameters
    ----------
    nf : int
        Filters per layer (40 / 896 at the paper's widths; 20 / 448 for many
        shapes, per front conv).
    generator : torch.Generator
        CPU generator; weights are drawn front conv(s) first (in kernel order
        512 ... 32), then back-end convs 1, 2, 3.
    backend_averaging : {"per_filter", "collapsed"}, default="per_filter"
        ``"per_filter"`` averages every filter of each back-end layer over
        time, as the paper describes. ``"collapsed"`` reproduces the authors'
        code (SPEC section 3.2, "bug"): it implements the back-end convs as 2-D
        convs spanning the channel axis and transposes, so its per-channel
        averaging sees one channel: each back-end layer contributes the mean
        over time *and* all nf filters, followed by nf - 1 zeros. The vector
        length is unchanged, but only nf + 3 (5 * nf + 3 for many shapes)
        entries are informative; the paper's frame-level numbers were
        produced this way.
    many_shapes : bool, default=False
        Use the five-filter-length front end.

    Attributes
    ----------
    min_length : int
        704 samples (193 for many shapes): the back end's first, valid conv
        needs 7 frames. The max-pool is clamped on a 1-frame map only.

    Examples
    --------
    >>> import torch
    >>> net = FrameLevelNet(4, generator=torch.Generator().manual_seed(0))
    >>> net(torch.randn(2, 2000)).shape
    torch.Size([2, 16])
    """

    input_kind = "waveform"

    def __init__(
        self,
        nf: int,
        *,
        generator,
        backend_averaging: str = "per_filter",
        many_shapes: bool = False,
    ):
        super().__init__()
        check_positive_int(nf, "nf")
        check_option(backend_averaging, "backend_averaging", BACKEND_AVERAGING)
        self.nf = nf
        self.backend_averaging = backend_averaging
        self.many_shapes = bool(many_shapes)
        self.name = "frame_level_many_shapes" if many_shapes else "frame_level"
        # front-end
        if self.many_shapes:
            self.kernels = MANY_KERNELS
            self.min_length = 6 * STRIDE + 1  # ceil(L / 32) >= 7
            self._layers = [(f"front{k}", nf) for k in MANY_KERNELS]
        else:
            self.kernels = (512,)
            self.min_length = 512 + 6 * STRIDE  # (L - 512) // 32 + 1 >= 7
            self._layers = [("front", nf)]
        self.front = nn.ModuleList(
            conv1d(1, nf, k, stride=STRIDE) for k in self.kernels
        )
        # back-end
        self.back1 = conv1d(len(self.kernels) * nf, nf, 7)
        self.back2 = conv1d(nf, nf, 7, padding=3)
        self.back3 = conv1d(nf, nf, 7, padding=3)
        self._layers += [(f"back{i}", nf) for i in (1, 2, 3)]
        self._init_random_weights(generator)

    def _maps(self, x: Tensor):
        x = x.unsqueeze(1)  # (batch, 1, n_times)
        fronts = []
        for k, conv in zip(self.kernels, self.front, strict=True):
            pad = (
                tf_same_padding(x.shape[-1], k, STRIDE) if self.many_shapes else (0, 0)
            )
            h = F.relu_(conv(F.pad(x, pad) if any(pad) else x))  # (batch, nf, n_frames)
            name = f"front{k}" if self.many_shapes else "front"
            yield name, h
            fronts.append(h)
        h = fronts[0] if len(fronts) == 1 else torch.cat(fronts, dim=1)
        del fronts
        b1 = F.relu_(self.back1(h))  # (batch, nf, n_frames - 6)
        del h
        yield "back1", b1
        # residuals out of place: ReLU's backward needs its own output
        b2 = F.relu_(self.back2(b1)) + b1
        yield "back2", b2
        p = clamped_max_pool(b2, (2,))  # (batch, nf, (n_frames - 6) // 2)
        b3 = F.relu_(self.back3(p)) + p
        yield "back3", b3

    def _fast_means(self, y: Tensor):
        """Time-major fast path for one waveform ``(n_times,)`` (see ``_fast.py``).

        The front ends are GEMMs on one matrix of overlapping 512-sample frames
        (the shorter many-shapes kernels are centred column slices of it); the
        back-end convolutions are 7 accumulated GEMMs per chunk, written into
        zero-padded buffers so that the "same" padding costs nothing.
        """
        nf, n, dt = self.nf, y.shape[0], y.dtype
        if self.many_shapes:
            pads = [tf_same_padding(n, k, STRIDE) for k in self.kernels]
            n_frames = -(-n // STRIDE)
        else:
            pads = [(0, 0)]
            n_frames = (n - self.kernels[0]) // STRIDE + 1
        left = max(p[0] for p in pads)
        offsets = [left - p[0] for p in pads]  # where each kernel starts in a frame
        span = max(o + k for o, k in zip(offsets, self.kernels, strict=True))
        size = (n_frames - 1) * STRIDE + span
        if left or size > n:
            padded = y.new_zeros(size)
            padded[left : left + min(n, size - left)] = y[: size - left]
            y = padded
        frames = y.as_strided((n_frames, span), (STRIDE, 1)).contiguous()
        fronts = torch.empty(n_frames, len(self.kernels) * nf, dtype=dt)
        for i, (k, off, conv) in enumerate(
            zip(self.kernels, offsets, self.front, strict=True)
        ):
            h = fronts[:, i * nf : (i + 1) * nf]
            torch.mm(frames[:, off : off + k], conv_matrix(conv.weight, dt), out=h)
            name = f"front{k}" if self.many_shapes else "front"
            yield name, h.relu_().mean(0, dtype=torch.float32)
        del frames
        n1 = n_frames - 6
        b1_pad = padded_map((n1, nf), (3,), dtype=dt)
        b1 = b1_pad[3 : 3 + n1]
        conv1d_taps(fronts, self.back1.weight, n1, lambda a, b, o: o.relu_(), out=b1)
        del fronts
        yield "back1", b1.mean(0, dtype=torch.float32)
        b2 = torch.empty(n1, nf, dtype=dt)

        def residual(a, b, o, b1=b1):  # b1 bound now: it is deleted below
            o.relu_().add_(b1[a:b])

        conv1d_taps(b1_pad, self.back2.weight, n1, residual, out=b2)
        yield "back2", b2.mean(0, dtype=torch.float32)
        del b1_pad, b1
        pool = min(2, n1)
        n2 = n1 // pool
        p_pad = padded_map((n2, nf), (3,), dtype=dt)
        p = p_pad[3 : 3 + n2]
        max_into(p, b2[: n2 * pool].view(n2, pool, nf).unbind(1))
        del b2
        total = torch.zeros(nf)

        def residual_sum(a, b, o):
            total.add_(o.relu_().add_(p[a:b]).sum(0, dtype=torch.float32))

        conv1d_taps(p_pad, self.back3.weight, n2, residual_sum)
        yield "back3", total / n2

    def _summarise_means(self, layer: str, means: Tensor) -> Tensor:
        if self.backend_averaging == "per_filter" or not layer.startswith("back"):
            return means
        out = means.new_zeros(self.nf)
        out[0] = means.mean()
        return out

    def _summarise(self, layer: str, fmap: Tensor) -> Tensor:
        if self.backend_averaging == "per_filter" or not layer.startswith("back"):
            return fmap.mean(dim=2)
        out = fmap.new_zeros(fmap.shape[0], self.nf)
        out[:, 0] = fmap.mean(dim=(1, 2))
        return out

    def feature_names(self) -> list[str]:
        names = super().feature_names()
        if self.backend_averaging == "per_filter":
            return names
        width = len(names[0].rsplit("_", 1)[1])
        n_back = 3 * self.nf
        back = []
        for i in (1, 2, 3):
            back.append(f"{self.name}_back{i}_global")
            back += [
                f"{self.name}_back{i}_zero{c:0{width}d}" for c in range(1, self.nf)
            ]
        return names[:-n_back] + back
