"""Fast CPU evaluation of the random-weight networks, one clip at a time.

The modules' ``_maps`` are the plain, reference implementation (one torch
convolution per layer, whole maps). For feature extraction only the per-channel
means of the maps are needed, so on the CPU each network also has
``_fast_features(x)``, which computes the same numbers (up to float32 rounding)
with:

- **time-major (channels-last) maps** and convolutions as matrix products: a
  1-D convolution of a ``(time, channels)`` map is the sum over kernel taps of
  ``map[t + j] @ W_j``, each a GEMM on a contiguous row block, accumulated in
  place (no im2col copy); 2-D 3x3 convolutions use the same trick on the
  flattened, zero-padded ``(time, mel, channels)`` map (each tap is a row
  shift), and single-channel convolutions (front ends, timbral, 7x86) copy
  their small patches into a reused buffer;
- **chunking over time** with the activation, the pooling and the running mean
  applied to each chunk while it is in cache, so the largest maps (the 240 MB
  first sample-level layer, VGG's 380 MB first block, the 7x86 and timbral maps
  before their frequency max-pool) are never written whole;
- **zero-padded output buffers**: each layer writes its (pooled) output into
  the interior of the next layer's padded input, so "same" padding costs
  nothing.
- **aligned GEMM widths**: weight matrices with an odd number of output
  columns (717 filters, 3585) get zero columns up to a multiple of 8, which
  MKL's AVX2 kernels run ~1.5x faster (:func:`aligned_columns`).

``precision="bfloat16"`` runs these kernels in bfloat16 only on CPUs with
bfloat16 instructions (:func:`cpu_compute_dtype`).

Peak memory per clip is therefore the (pooled) maps that must be kept plus a
few chunk buffers of :data:`CHUNK_ELEMENTS` floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

__all__ = [
    "CHUNK_ELEMENTS",
    "GEMM_ALIGN",
    "GEMM_MIN_ALIGNED_COLS",
    "PATCH_CHUNK_ELEMENTS",
    "aligned_columns",
    "chunk_units",
    "conv_matrix",
    "conv1d_taps",
    "conv2d_taps",
    "cpu_compute_dtype",
    "cpu_has_bf16",
    "gemm_patches",
    "interior",
    "max_into",
    "padded_map",
]

#: Output elements computed per chunk by the accumulated-tap convolutions:
#: 1 Mi floats = 4 MiB, large enough for efficient GEMMs.
CHUNK_ELEMENTS = 1 << 20
#: Output elements per chunk of the patch GEMMs (timbral, 7x86, VGG block 1),
#: whose outputs are re-read at once by a max-pool: 512 KiB, an AMD Zen 3 L2
#: (on an Intel with 2 MiB L2, 1 MiB was 5-15% faster than 4 MiB on timbral) ...
PATCH_CHUNK_ELEMENTS = 1 << 17
#: ... but at least this many GEMM rows: narrower chunks of a wide output (7x86's
#: 3585 columns) run ~15% slower on AVX2 (253 rows: ~55 GFLOP/s, 506: ~63).
_MIN_PATCH_ROWS = 512
_MIN_CHUNK_ROWS = 256
#: GEMM outputs of at least this many columns are computed :data:`GEMM_ALIGN`
#: columns at a time: the weight matrix gets zero columns up to a multiple of
#: it and the epilogues see the valid columns only. MKL's single-precision GEMM
#: on AVX2 (AMD Zen 3) runs ~35 GFLOP/s for 717 or 3585 output columns and
#: 50-65 for 720 or 3592 (the 3072^2 matmul: ~60), for <1% more FLOPs.
GEMM_MIN_ALIGNED_COLS = 64
GEMM_ALIGN = 8

_MATRICES: WeakIdKeyDictionary = WeakIdKeyDictionary()
_ALIGNED: WeakIdKeyDictionary = WeakIdKeyDictionary()

#: ``/proc/cpuinfo`` flags of the instructions that compute on bfloat16 (dot
#: products into float32): AVX512-BF16 and AMX-BF16 tiles.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def _cpuinfo_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (AVX512-BF16 or AMX-BF16).

    Read from the ``/proc/cpuinfo`` flags; where they cannot be read (not
    Linux), from torch's own CPU feature probe (``torch.cpu``).
    """
    flags = _cpuinfo_flags()
    if flags:
        return bool(flags & BF16_CPU_FLAGS)
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, p, lambda: False)() for p in probes)


def cpu_compute_dtype(precision: str) -> torch.dtype | None:
    """Dtype of the CPU fast path's maps and GEMMs for ``precision``.

    ``"bfloat16"`` computes in bfloat16 only where the CPU has bfloat16
    instructions (:func:`cpu_has_bf16`); elsewhere (e.g. AVX2-only CPUs such as
    AMD Zen 1-3) bfloat16 GEMMs are converted to float32 inside the library and
    run slower than float32, so the fast path runs plain float32 and the
    features are the float32 ones. ``None`` means float32.
    """
    if precision == "bfloat16" and cpu_has_bf16():
        return torch.bfloat16
    return None


def conv_matrix(weight: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """A conv weight ``(O, C, *kernel)`` as a ``(n_taps * C, O)`` matrix.

    Rows are ordered kernel position first (row-major over the kernel), then
    input channel, so rows ``[j * C, (j + 1) * C)`` are tap ``j``'s ``(C, O)``
    matrix and the whole matrix multiplies patches copied from a time-major map.
    Cached per weight tensor and ``dtype`` (default: the weight's), and rebuilt
    when the weight is modified in place.
    """
    dtype = weight.dtype if dtype is None else dtype
    key = (weight._version, weight.data_ptr(), weight.device)
    cache = _MATRICES.get(weight)
    if cache is None or cache[0] != key:
        cache = _MATRICES[weight] = (key, {})
    if dtype not in cache[1]:
        w = weight.detach()
        matrix = w.flatten(2).permute(2, 1, 0).reshape(-1, w.shape[0])
        cache[1][dtype] = matrix.to(dtype, memory_format=torch.contiguous_format)
    return cache[1][dtype]


def aligned_columns(matrix: Tensor) -> Tensor:
    """``matrix`` (K, O) with zero columns up to a multiple of
    :data:`GEMM_ALIGN` when ``O >= GEMM_MIN_ALIGNED_COLS`` (else itself).

    Cached per matrix (those of :func:`conv_matrix` are cached per weight).
    """
    n_out = matrix.shape[1]
    if n_out < GEMM_MIN_ALIGNED_COLS or n_out % GEMM_ALIGN == 0:
        return matrix
    padded = _ALIGNED.get(matrix)
    if padded is None:
        width = -(-n_out // GEMM_ALIGN) * GEMM_ALIGN
        padded = matrix.new_zeros(matrix.shape[0], width)
        padded[:, :n_out] = matrix
        _ALIGNED[matrix] = padded
    return padded


def chunk_units(
    n_units: int,
    unit_rows: int,
    n_out: int,
    align: int = 1,
    elements: int | None = None,
    min_rows: int | None = None,
) -> int:
    """Units (time steps) per chunk: about ``elements`` (default
    :data:`CHUNK_ELEMENTS`) outputs but at least ``min_rows`` (default
    ``_MIN_CHUNK_ROWS``) rows, a multiple of ``align`` (the pool), at least one
    aligned group."""
    elements = CHUNK_ELEMENTS if elements is None else elements
    min_rows = _MIN_CHUNK_ROWS if min_rows is None else min_rows
    rows = max(min_rows, elements // max(1, n_out))
    units = max(1, rows // unit_rows)
    units = max(align, units // align * align)
    return min(units, max(align, n_units))


def gemm_patches(
    patches: Callable[[int, int], Tensor],
    matrix: Tensor,
    n_units: int,
    unit_rows: int,
    epilogue: Callable[[int, int, Tensor], None],
    align: int = 1,
) -> None:
    """``patches(a, b) @ matrix`` for units ``[a, b)``, chunk by chunk.

    ``patches(a, b)`` returns a (usually overlapping, strided) view holding
    ``(b - a) * unit_rows`` rows of ``K`` values in any shape; it is copied into
    a reused buffer (im2col) and multiplied by ``matrix`` (K, O). ``epilogue(a,
    b, out)`` receives ``out`` of shape ``(b - a, unit_rows, O)``; it is
    overwritten by the next chunk.
    """
    k, n_out = matrix.shape
    matrix = aligned_columns(matrix)
    n_cols = matrix.shape[1]
    step = chunk_units(
        n_units, unit_rows, n_cols, align, PATCH_CHUNK_ELEMENTS, _MIN_PATCH_ROWS
    )
    in_buf = torch.empty(step * unit_rows * k, dtype=matrix.dtype)
    out_buf = torch.empty(step * unit_rows * n_cols, dtype=matrix.dtype)
    for a in range(0, n_units, step):
        b = min(n_units, a + step)
        rows = (b - a) * unit_rows
        view = patches(a, b)
        p = in_buf[: rows * k].view(view.shape)
        p.copy_(view)
        out = out_buf[: rows * n_cols].view(rows, n_cols)
        torch.mm(p.view(rows, k), matrix, out=out)
        epilogue(a, b, out[:, :n_out].unflatten(0, (b - a, unit_rows)))


def conv1d_taps(
    x: Tensor,
    weight: Tensor,
    n_out: int,
    epilogue: Callable[[int, int, Tensor], None],
    align: int = 1,
    out: Tensor | None = None,
) -> None:
    """Stride-1 1-D convolution of a time-major map as accumulated GEMMs.

    ``x`` is ``(T_in, C)`` contiguous and already zero-padded; output row ``t``
    is ``sum_j x[t + j] @ W_j`` for ``t < n_out`` (needs ``T_in >= n_out + k - 1``).
    Rows are computed in chunks of a multiple of ``align``; ``epilogue(a, b, o)``
    gets the ``(b - a, O)`` rows. With ``out`` (``(n_out, O)`` contiguous) the rows
    are written there, otherwise into a reused buffer.
    """
    matrix = aligned_columns(conv_matrix(weight, x.dtype))
    n_taps = weight.shape[-1]
    c = x.shape[1]
    o_ch, n_cols = weight.shape[0], matrix.shape[1]
    step = chunk_units(n_out, 1, n_cols, align)
    direct = out is not None and n_cols == o_ch  # else via a padded buffer
    buf = None if direct else torch.empty(step, n_cols, dtype=x.dtype)
    for a in range(0, n_out, step):
        b = min(n_out, a + step)
        o = out[a:b] if direct else buf[: b - a]
        torch.mm(x[a:b], matrix[:c], out=o)
        for j in range(1, n_taps):
            o.addmm_(x[a + j : b + j], matrix[j * c : (j + 1) * c])
        if direct:
            epilogue(a, b, o)
        elif out is not None:
            epilogue(a, b, out[a:b].copy_(o[:, :o_ch]))
        else:
            epilogue(a, b, o[:, :o_ch])


def conv2d_taps(
    x: Tensor,
    weight: Tensor,
    n_rows: int,
    epilogue: Callable[[int, int, Tensor], None],
    align: int = 1,
) -> None:
    """Stride-1 2-D convolution of a zero-padded channels-last map.

    ``x`` is ``(H_pad, W_pad, C)`` contiguous with at least ``kw - 1`` spare
    zero elements after it in memory (see :func:`padded_map`). With the map
    flattened to ``(H_pad * W_pad, C)``, tap ``(i, j)`` of output position
    ``(t, f)`` reads flat row ``(t + i) * W_pad + f + j``: every tap is one GEMM
    on a contiguous row block. Output rows ``t < n_rows`` are computed for all
    ``W_pad`` columns, of which the first ``W_pad - kw + 1`` are valid;
    ``epilogue(a, b, o)`` gets ``o`` of shape ``(b - a, W_pad, O)``.
    """
    matrix = aligned_columns(conv_matrix(weight, x.dtype))
    kh, kw = weight.shape[2:]
    h_pad, w_pad, c = x.shape
    o_ch, n_cols = weight.shape[0], matrix.shape[1]
    flat = x.as_strided((h_pad * w_pad + kw - 1, c), (c, 1))
    step = chunk_units(n_rows, w_pad, n_cols, align)
    buf = torch.empty(step * w_pad, n_cols, dtype=x.dtype)
    for a in range(0, n_rows, step):
        b = min(n_rows, a + step)
        lo, hi = a * w_pad, b * w_pad
        o = buf[: hi - lo]
        for i in range(kh):
            for j in range(kw):
                tap = matrix[(i * kw + j) * c : (i * kw + j + 1) * c]
                src = flat[lo + i * w_pad + j : hi + i * w_pad + j]
                if i == 0 and j == 0:
                    torch.mm(src, tap, out=o)
                else:
                    o.addmm_(src, tap)
        epilogue(a, b, o[:, :o_ch].unflatten(0, (b - a, w_pad)))


def max_into(out: Tensor, views: list[Tensor]) -> Tensor:
    """Element-wise maximum of same-shaped ``views`` written into ``out``.

    A chain of ``torch.maximum`` calls on strided views: much faster than
    ``amax`` over several non-adjacent dims of a channels-last map (the pool
    windows of VGG).
    """
    if len(views) == 1:
        return out.copy_(views[0])
    torch.maximum(views[0], views[1], out=out)
    for v in views[2:]:
        torch.maximum(out, v, out=out)
    return out


def padded_map(
    shape: tuple[int, ...],
    pad: tuple[int, ...],
    spare: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """A map of ``shape`` grown by ``pad`` zeros on both sides of each leading
    dim (the last dim is channels), plus ``spare`` zero rows of slack in memory.

    Only the borders are zeroed: the caller must write the whole interior
    (``interior(padded, pad)``).
    """
    full = tuple(s + 2 * p for s, p in zip(shape[:-1], pad, strict=True)) + shape[-1:]
    storage = torch.empty(math.prod(full) + spare * shape[-1], dtype=dtype)
    storage[math.prod(full) :].zero_()
    padded = storage[: math.prod(full)].view(full)
    for dim, p in enumerate(pad):  # zero the borders only; the interior is written
        if p:
            padded.narrow(dim, 0, p).zero_()
            padded.narrow(dim, padded.shape[dim] - p, p).zero_()
    return padded


def interior(padded: Tensor, pad: tuple[int, ...]) -> Tensor:
    """The unpadded part of a map made by :func:`padded_map`."""
    index = tuple(slice(p, s - p) for p, s in zip(pad, padded.shape, strict=False))
    return padded[index]
