"""The fast CPU path (architectures/_fast.py) against the plain reference modules.

Every architecture's ``_fast_means`` (time-major GEMMs, chunked over time, maps
averaged while in cache) must give the features of the straightforward modules
(``forward(x, reference=True)``: one torch convolution per layer, whole maps) to
float32 rounding: here max |fast - reference| <= 2e-5 * max |reference| (measured
up to ~1e-6). Chunks are made tiny so that every chunk boundary, halo and pool
alignment case is crossed.
"""

import numpy as np
import pytest
import torch

import skaudio_random as sr
import skaudio_random.architectures._fast as fast
from skaudio_random import _cnn_base
from skaudio_random.architectures import ARCHITECTURES, musically_motivated
from skaudio_random.architectures._blocks import RandomFeatureNet
from skaudio_random.features import __all__ as CNN_NAMES

NAMES = list(ARCHITECTURES)
RTOL = 2e-5


def has_fast_path(name):
    """Whether the architecture's module has a hand-written fast CPU path."""
    net = ARCHITECTURES[name].build(1, generator=None)  # meta: structure only
    own = getattr(type(net), "_fast_means", None)
    return own is not None and own is not RandomFeatureNet._fast_means


#: Every registered architecture with a fast path: each is checked against its
#: reference forward; the others run their plain forward only.
FAST = [n for n in NAMES if has_fast_path(n)]


def build(name, nf, **options):
    gen = torch.Generator().manual_seed(3)
    return ARCHITECTURES[name].build(nf, generator=gen, **options)


def example(name, length, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    if ARCHITECTURES[name].input_kind == "waveform":
        return torch.rand(batch, length, generator=g) * 2 - 1
    return torch.rand(batch, 96, length, generator=g) * -80


def lengths(name, net):
    if ARCHITECTURES[name].input_kind == "waveform":
        base = [1001, 4099] if name != "frame_level" else [1700, 4099]
    else:
        base = [45, 131]
    return [net.min_length, net.min_length + 1, net.min_length + 2, *base]


def assert_matches(got, ref, rtol=RTOL):
    assert got.shape == ref.shape and got.dtype == torch.float32
    scale = ref.abs().max().clamp_min(1e-30)
    assert ((got - ref).abs().max() / scale).item() <= rtol


@pytest.fixture
def tiny_chunks(monkeypatch):
    """A few hundred outputs per chunk: many chunks even on short inputs, and
    every GEMM on zero-padded columns (nf = 5 -> 8, as 717 -> 720 at width 3500)."""
    monkeypatch.setattr(fast, "CHUNK_ELEMENTS", 200)
    monkeypatch.setattr(fast, "PATCH_CHUNK_ELEMENTS", 200)
    monkeypatch.setattr(fast, "_MIN_CHUNK_ROWS", 5)
    monkeypatch.setattr(fast, "_MIN_PATCH_ROWS", 5)
    monkeypatch.setattr(fast, "GEMM_MIN_ALIGNED_COLS", 1)


CASES = [(n, 64) for n in FAST] + [(n, 1) for n in FAST if "timbral" in n]


@pytest.mark.parametrize("name,im2col_min", CASES)
@pytest.mark.parametrize("nf", [1, 5])
def test_fast_path_matches_reference(name, nf, im2col_min, tiny_chunks, monkeypatch):
    # timbral branches below IM2COL_MIN_FILTERS filters use the direct convolution
    monkeypatch.setattr(musically_motivated, "IM2COL_MIN_FILTERS", im2col_min)
    net = build(name, nf)
    for length in lengths(name, net):
        x = example(name, length)
        assert_matches(net(x), net(x, reference=True))


@pytest.mark.parametrize("name", FAST)
def test_fast_path_is_used_and_batch_independent(name, monkeypatch):
    net = build(name, 4)
    wave = ARCHITECTURES[name].input_kind == "waveform"
    x = example(name, 1200 if wave else 200, batch=3)
    calls = []
    original = type(net)._fast_means

    def spy(self, clip):
        calls.append(tuple(clip.shape))
        return original(self, clip)

    monkeypatch.setattr(type(net), "_fast_means", spy)
    together = net(x)
    assert len(calls) == 3  # one fast pass per clip
    for i in range(3):  # bitwise: a clip never sees its batch
        assert torch.equal(net(x[i : i + 1])[0], together[i])


@pytest.mark.parametrize("name", sorted(set(NAMES) - set(FAST)))
def test_architectures_without_a_fast_path_run_their_plain_forward(name):
    net = build(name, 2)
    x = example(name, 2000 if ARCHITECTURES[name].input_kind == "waveform" else 60)
    assert torch.equal(net(x), net(x, reference=True))
    assert torch.isfinite(net(x)).all() and net(x).shape == (2, net.n_features)


@pytest.mark.parametrize(
    "name,options",
    [
        ("frame_level", {"backend_averaging": "collapsed"}),
        ("frame_level_many_shapes", {"backend_averaging": "collapsed"}),
    ],
)
def test_fast_path_options(name, options, tiny_chunks):
    net = build(name, 5, **options)
    x = example(name, 3000)
    got, ref = net(x), net(x, reference=True)
    assert_matches(got, ref)
    assert torch.equal(got == 0, ref == 0)  # the same zero slots


def test_vgg_batchnorm_never_takes_the_fast_path():
    net = build("vgg", 3, batchnorm="batch")
    x = example("vgg", 30, batch=3)
    assert torch.equal(net(x), net(x, reference=True))


def test_autograd_input_takes_the_reference_path():
    net = build("vertical_7x96", 3)
    x = example("vertical_7x96", 20).requires_grad_()
    y = net(x)
    assert y.requires_grad  # reference modules keep the graph
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_weight_matrix_cache_follows_in_place_changes():
    net = build("vertical_7x96", 4)
    x = example("vertical_7x96", 30)
    before = net(x)
    with torch.no_grad():
        net.conv.weight.mul_(2.0)  # bumps the tensor version: cache rebuilt
    assert_matches(net(x), net(x, reference=True))
    assert_matches(net(x), 2 * before)  # ReLU features are positively homogeneous


@pytest.mark.parametrize("name", FAST)
def test_bfloat16_fast_path_is_close(name):
    # bfloat16 maps and GEMM inputs (float32 accumulation, float32 means): about
    # 3 significant digits; measured <= 1e-2 of the largest feature at width 3500.
    net = build(name, 6)
    x = example(name, 2500 if ARCHITECTURES[name].input_kind == "waveform" else 60)
    ref = net(x)
    got = net(x, compute_dtype=torch.bfloat16)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    assert_matches(got, ref, rtol=3e-2)
    assert not torch.equal(got, ref)  # it really ran in bfloat16


# ----------------------------------------------------------------- transformers
CLASSES = [getattr(sr, n) for n in CNN_NAMES]


def short(cls, **params):
    wave = "n_samples" in cls().get_params()
    length = dict(n_samples=6000) if wave else dict(n_frames=40)
    fixed = {"fix_length": "zero", "device": "cpu", "random_state": 0}
    return cls(**{**length, **fixed, **params})


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(5)
    sizes = (6000, 7000, 3000)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in sizes]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_transformer_parallel_clips_restore_threads(cls, clips):
    threads = torch.get_num_threads()
    est = short(cls)
    parallel = est.transform(clips)
    assert torch.get_num_threads() == threads
    alone = np.concatenate([est.transform([c]) for c in clips])
    np.testing.assert_array_equal(parallel, alone)


def test_transformer_serial_equals_parallel(clips, monkeypatch):
    est = short(sr.VGG)
    parallel = est.transform(clips)
    monkeypatch.setattr(_cnn_base, "cpu_workers", lambda: 1)
    np.testing.assert_array_equal(est.transform(clips), parallel)


@pytest.mark.parametrize(
    "cls", [sr.SampleLevel, sr.Timbral, sr.VGG], ids=lambda c: c.__name__
)
def test_transformer_precision(cls, clips, monkeypatch):
    # a CPU with bfloat16 instructions (AMX / AVX512-BF16) computes in bfloat16
    monkeypatch.setattr(fast, "cpu_has_bf16", lambda: True)
    f32 = short(cls).transform(clips)
    np.testing.assert_array_equal(short(cls, precision="tf32").transform(clips), f32)
    bf16 = short(cls, precision="bfloat16").transform(clips)
    assert bf16.dtype == np.float32 and not np.array_equal(bf16, f32)
    np.testing.assert_allclose(bf16, f32, rtol=0, atol=3e-2 * np.abs(f32).max())


@pytest.mark.parametrize(
    "cls", [sr.SampleLevel, sr.Timbral, sr.VGG], ids=lambda c: c.__name__
)
def test_bfloat16_runs_float32_without_bf16_instructions(cls, clips, monkeypatch):
    # AVX2-only CPUs (AMD Zen 1-3, older Intel) emulate bfloat16 GEMMs 30-60x
    # slower than float32: precision="bfloat16" computes the float32 features
    monkeypatch.setattr(fast, "cpu_has_bf16", lambda: False)
    f32 = short(cls).transform(clips)
    np.testing.assert_array_equal(
        short(cls, precision="bfloat16").transform(clips), f32
    )


@pytest.mark.parametrize(
    "flags,probe,expected",
    [
        ({"avx2", "fma", "avx512_bf16"}, False, True),
        ({"avx2", "fma", "amx_bf16", "amx_tile"}, False, True),
        ({"avx2", "fma", "avx512f"}, True, False),  # the flags win when readable
        (set(), True, True),  # no /proc/cpuinfo: torch's CPU probe
        (set(), False, False),
    ],
)
def test_cpu_compute_dtype_dispatch(flags, probe, expected, monkeypatch):
    monkeypatch.setattr(fast, "_cpuinfo_flags", lambda: frozenset(flags))
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: probe)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert fast.cpu_has_bf16() is expected
    assert fast.cpu_compute_dtype("bfloat16") == (torch.bfloat16 if expected else None)
    assert fast.cpu_compute_dtype("float32") is None
    assert fast.cpu_compute_dtype("tf32") is None


def test_transformer_precision_is_validated(clips):
    with pytest.raises(ValueError, match="precision"):
        short(sr.Temporal, precision="float16").transform(clips)


@pytest.mark.parametrize("precision", ["float32", "tf32"])
def test_precision_context_sets_and_restores_tf32_flags(precision):
    # the flags exist without a GPU: check the CUDA branch's bookkeeping
    before = _cnn_base._get_tf32()
    with _cnn_base.precision_context(torch.device("cuda"), precision):
        assert _cnn_base._get_tf32() == (precision == "tf32",) * 2
    assert _cnn_base._get_tf32() == before
    with _cnn_base.precision_context(torch.device("cpu"), precision):
        assert _cnn_base._get_tf32() == before  # CPU: nothing to switch


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    "precision,tol", [("float32", 1e-4), ("tf32", 1e-2), ("bfloat16", 3e-2)]
)
def test_cuda_precision_close_to_cpu(precision, tol, clips):
    cpu = short(sr.VGG).transform(clips)
    flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    gpu = short(sr.VGG, device="cuda", precision=precision).transform(clips)
    after = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    assert after == flags  # restored
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=tol * np.abs(cpu).max())


def test_wide_gemm_outputs_are_computed_on_aligned_columns():
    # 717 output columns (VGG at width 3500) run as 720: MKL's AVX2 SGEMM is
    # ~1.5x faster there; the zero columns never reach the epilogue
    matrix = torch.randn(9, 717)
    padded = fast.aligned_columns(matrix)
    assert padded.shape == (9, 720) and torch.equal(padded[:, :717], matrix)
    assert not padded[:, 717:].any()
    assert fast.aligned_columns(matrix) is padded  # cached
    assert fast.aligned_columns(torch.randn(9, 720)).shape == (9, 720)
    assert fast.aligned_columns(torch.randn(9, 13)).shape == (9, 13)  # narrow: as is
    x = torch.randn(40, 717)
    weight = torch.randn(717, 717, 3)
    seen = []
    fast.conv1d_taps(x, weight, 38, lambda a, b, o: seen.append(o.clone()))
    got = torch.cat(seen)
    ref = torch.nn.functional.conv1d(x.t()[None], weight)[0].t()
    assert got.shape == (38, 717)
    assert_matches(got, ref)


def test_bfloat16_cache_key_records_whether_bfloat16_ran(monkeypatch):
    """A cache shared by CPUs with and without bfloat16 keeps their features apart."""
    est = sr.Timbral(width=16, precision="bfloat16", device="cpu")
    est._prepare()
    monkeypatch.setattr(fast, "cpu_has_bf16", lambda: False)
    without = est._cache_key()
    monkeypatch.setattr(fast, "cpu_has_bf16", lambda: True)
    with_bf16 = est._cache_key()
    assert without["bfloat16_math"] is False and with_bf16["bfloat16_math"] is True
    plain = sr.Timbral(width=16, device="cpu")
    plain._prepare()
    assert "bfloat16_math" not in plain._cache_key()  # float32 keys unchanged
