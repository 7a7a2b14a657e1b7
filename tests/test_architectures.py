"""Tests of the random-weight architectures, generated from ``ARCHITECTURES``.

Numbers come from SPEC sections 3.1-3.3 (Pons & Serra 2019 and the authors' code).
The numpy references below re-implement SPEC's tables independently (float64,
explicit padding formulas) and are compared with the torch modules on tiny inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skaudio_random.architectures import ARCHITECTURES, count_macs, nf_for_width
from skaudio_random.architectures._blocks import (
    TRUNCATED_STD_RATIO,
    tf_same_padding,
    truncated_normal_,
)

NAMES = list(ARCHITECTURES)  # every registered architecture: the generic tests
WAVE = [n for n in NAMES if ARCHITECTURES[n].input_kind == "waveform"]
MEL = [n for n in NAMES if ARCHITECTURES[n].input_kind == "mel"]

# SPEC 3.3: (nf, length) at the ~120 and ~3500 widths
PAPER = {
    "sample_level": ((23, 161), (512, 3584)),
    "frame_level": ((40, 160), (896, 3584)),
    "frame_level_many_shapes": ((20, 160), (448, 3584)),
    "vertical_7x96": ((160, 160), (3585, 3585)),
    "vertical_7x86": ((160, 160), (3585, 3585)),
    "timbral": ((8, 112), (256, 3584)),
    "temporal": ((8, 112), (256, 3584)),
    "timbral_temporal": ((4, 112), (128, 3584)),
    "time": ((8, 112), (256, 3584)),
    "timbral_time": ((4, 112), (128, 3584)),
    "vgg": ((32, 160), (717, 3585)),
}
# SPEC 3.3: multiply-accumulates per clip at ~3500 width
PAPER_MACS = {
    "frame_level": 158e9,
    "sample_level": 138e9,
    "frame_level_many_shapes": 105e9,
    "vgg": 84e9,
    "vertical_7x86": 33e9,
    "timbral": 19e9,
    "timbral_temporal": 10e9,
    "vertical_7x96": 3.3e9,
    "temporal": 0.3e9,
}
NF = 4  # small width for the numerical tests (temporal r = 1)


def build(name, nf=NF, seed=0, **options):
    gen = torch.Generator().manual_seed(seed)
    return ARCHITECTURES[name].build(nf, generator=gen, **options)


def example(name, batch=2, length=None, seed=0):
    rng = np.random.default_rng(seed)
    if ARCHITECTURES[name].input_kind == "waveform":
        length = 2000 if length is None else length
        return torch.from_numpy(rng.uniform(-1, 1, (batch, length))).float()
    length = 40 if length is None else length
    return torch.from_numpy(rng.uniform(-80, 0, (batch, 96, length))).float()


def paper_length(name):
    return 350000 if ARCHITECTURES[name].input_kind == "waveform" else 1376


# --------------------------------------------------------------------------- widths
@pytest.mark.parametrize("name", list(PAPER))
@pytest.mark.parametrize("which,width", [(0, 120), (1, 3500)])
def test_paper_widths(name, which, width):
    nf, length = PAPER[name][which]
    spec = ARCHITECTURES[name]
    assert spec.paper_nf[width] == nf
    assert nf_for_width(name, width) == nf
    assert spec.n_features(nf) == length
    net = spec.build(nf, generator=torch.Generator().manual_seed(0))
    assert net.n_features == length
    assert len(net.feature_names()) == length


def test_nf_for_width_other_widths():
    assert nf_for_width("vgg", 1000) == 200
    assert nf_for_width("sample_level", 1000) == 143  # 1001 beats 994
    assert nf_for_width("frame_level", 1002) == 250  # 1000 and 1004 tie -> smaller
    assert nf_for_width("vertical_7x96", 77) == 77
    assert nf_for_width("timbral", 1) == 1
    assert nf_for_width("temporal", 1000) == 71  # n_features 15nf - 4(nf // 4)
    assert ARCHITECTURES["temporal"].n_features(71) == 997  # 72 -> 1008
    for name in NAMES:
        spec = ARCHITECTURES[name]
        for width in (1, 50, 700, 5000):
            nf = nf_for_width(name, width)
            # n_features grows with nf: the closest is no farther than its neighbours
            gap = abs(spec.n_features(nf) - width)
            assert nf >= 1 and gap <= abs(spec.n_features(nf + 1) - width)
            assert nf == 1 or gap <= abs(spec.n_features(nf - 1) - width)


@pytest.mark.parametrize("width", [0, -3, 1.5, True, "120"])
def test_nf_for_width_rejects_bad_width(width):
    with pytest.raises(ValueError, match="width must be a positive int"):
        nf_for_width("vgg", width)


def test_nf_for_width_rejects_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        nf_for_width("resnet", 120)


def test_temporal_branch_counts():
    # SPEC 3.3 per-branch counts
    shapes = dict(build("temporal", 256).layer_shapes(1376))
    assert [shapes[f"temporal_{k}"][0] for k in (165, 128, 64, 32)] == [
        192,
        448,
        960,
        1984,
    ]
    shapes = dict(build("timbral_temporal", 128).layer_shapes(1376))
    timbral = [
        shapes[f"timbral_{k}"][0]
        for k in ("7x86", "3x86", "1x86", "7x38", "3x38", "1x38")
    ]
    assert timbral == [128, 256, 512, 128, 256, 512]
    assert [shapes[f"temporal_{k}"][0] for k in (165, 128, 64, 32)] == [
        96,
        224,
        480,
        992,
    ]


# --------------------------------------------------------------------------- shapes
EXPECTED_SHAPES = {
    "sample_level": [
        (f"layer{i}", (NF, n))
        for i, n in enumerate([116666, 38888, 12962, 4320, 1440, 480, 160])
    ],
    "frame_level": [
        ("front", (NF, 10922)),
        ("back1", (NF, 10916)),
        ("back2", (NF, 10916)),
        ("back3", (NF, 5458)),
    ],
    "frame_level_many_shapes": [
        (f"front{k}", (NF, 10938)) for k in (512, 256, 128, 64, 32)
    ]
    + [("back1", (NF, 10932)), ("back2", (NF, 10932)), ("back3", (NF, 5466))],
    "vertical_7x96": [("conv", (NF, 1370))],
    "vertical_7x86": [("pool", (NF, 1370))],
    "timbral": [
        ("timbral_7x86", (NF, 1376)),
        ("timbral_3x86", (2 * NF, 1376)),
        ("timbral_1x86", (4 * NF, 1376)),
        ("timbral_7x38", (NF, 1376)),
        ("timbral_3x38", (2 * NF, 1376)),
        ("timbral_1x38", (4 * NF, 1376)),
    ],
    "temporal": [
        (f"temporal_{k}", (c, 1376))
        for k, c in zip((165, 128, 64, 32), (3, 7, 15, 31), strict=True)
    ],
    "time": [
        (f"time_{k}", (c, 1376))
        for k, c in zip((64, 32, 16, 8), (3, 7, 15, 31), strict=True)
    ],
    "vgg": [
        ("block1", (NF, 344, 48)),
        ("block2", (NF, 86, 16)),
        ("block3", (NF, 17, 8)),
        ("block4", (NF, 4, 4)),
        ("block5", (NF, 1, 1)),
    ],
}
EXPECTED_SHAPES["timbral_temporal"] = (
    EXPECTED_SHAPES["timbral"] + EXPECTED_SHAPES["temporal"]
)
EXPECTED_SHAPES["timbral_time"] = EXPECTED_SHAPES["timbral"] + EXPECTED_SHAPES["time"]


@pytest.mark.parametrize("name", list(EXPECTED_SHAPES))
def test_layer_shapes_at_paper_length(name):
    assert build(name).layer_shapes(paper_length(name)) == EXPECTED_SHAPES[name]


@pytest.mark.parametrize("name", list(EXPECTED_SHAPES))
def test_layer_shapes_match_real_maps(name):
    net = build(name)
    for length in (net.min_length, net.min_length + 37):
        x = example(name, batch=1, length=length)
        maps = net(x, return_maps=True)
        assert [(k, tuple(m.shape[1:])) for k, m in maps.items()] == net.layer_shapes(
            length
        )
        # the averaged maps are exactly what the reference forward concatenates
        # (per_filter modes); the fast CPU path agrees to float32 rounding
        feats = torch.cat([m.flatten(2).mean(2) for m in maps.values()], dim=1)
        torch.testing.assert_close(net(x, reference=True), feats)
        torch.testing.assert_close(
            net(x), feats, rtol=1e-5, atol=1e-5 * feats.abs().max()
        )


def test_tf_same_padding_values():
    # SPEC 3.2: many-shapes front convs, temporal and time branches
    got = [tf_same_padding(350000, k, 32) for k in (512, 256, 128, 64, 32)]
    assert got == [(248, 248), (120, 120), (56, 56), (24, 24), (8, 8)]
    got = [tf_same_padding(1376, k) for k in (165, 128, 64, 32, 16, 8)]
    assert got == [(82, 82), (63, 64), (31, 32), (15, 16), (7, 8), (3, 4)]


@pytest.mark.parametrize("name", list(PAPER_MACS))
def test_macs_at_3500_width(name):
    net = build(name, ARCHITECTURES[name].paper_nf[3500])
    shape = (1, 350000) if name in WAVE else (1, 96, 1376)
    total = sum(count_macs(net, shape).values())
    assert abs(total / PAPER_MACS[name] - 1) < 0.15
    # MACs scale with the batch
    assert sum(count_macs(net, (3, *shape[1:])).values()) == 3 * total


# --------------------------------------------------------------------------- numerics
def np_conv1d(x, w, stride=1, pad=(0, 0)):
    """x (C, T), w (O, C, K) -> (O, T'), cross-correlation with zero padding."""
    x = np.pad(x, ((0, 0), pad))
    win = np.lib.stride_tricks.sliding_window_view(x, w.shape[2], axis=1)[:, ::stride]
    return np.einsum("ctk,ock->ot", win, w)


def np_conv2d(x, w, pad=((0, 0), (0, 0))):
    """x (C, H, W), w (O, C, kh, kw) -> (O, H', W')."""
    x = np.pad(x, ((0, 0), *pad))
    win = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=(1, 2))
    return np.einsum("chwij,ocij->ohw", win, w)


def np_pool(x, kernel):
    """Floor max-pool of the trailing dims (kernel clamped to the extent)."""
    for axis, k in zip(range(x.ndim - len(kernel), x.ndim), kernel, strict=True):
        k = min(k, x.shape[axis])
        n = x.shape[axis] // k
        x = np.take(x, range(n * k), axis=axis)
        x = x.reshape(x.shape[:axis] + (n, k) + x.shape[axis + 1 :]).max(axis=axis + 1)
    return x


def relu(x):
    return np.maximum(x, 0)


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def same(length, k, stride=1):  # SPEC 3.1 rule, written out independently
    total = max((math.ceil(length / stride) - 1) * stride + k - length, 0)
    return (total // 2, total - total // 2)


def W(conv):
    return conv.weight.double().numpy()


def reference(name, net, x):
    """Features of one clip (numpy float64) following SPEC 3.2 literally."""
    means = []
    if name == "sample_level":
        h = relu(np_conv1d(x[None], W(net.conv0), 3))
        means.append(h.mean(1))
        for conv in net.convs:
            h = np_pool(relu(np_conv1d(h, W(conv), 1, (1, 1))), (3,))
            means.append(h.mean(1))
    elif name.startswith("frame_level"):
        fronts = []
        for k, conv in zip(net.kernels, net.front, strict=True):
            pad = same(len(x), k, 32) if net.many_shapes else (0, 0)
            fronts.append(relu(np_conv1d(x[None], W(conv), 32, pad)))
            means.append(fronts[-1].mean(1))
        b1 = relu(np_conv1d(np.concatenate(fronts), W(net.back1)))
        b2 = relu(np_conv1d(b1, W(net.back2), 1, (3, 3))) + b1
        p = np_pool(b2, (2,))
        b3 = relu(np_conv1d(p, W(net.back3), 1, (3, 3))) + p
        means += [b.mean(1) for b in (b1, b2, b3)]
    elif name.startswith("vertical"):
        w = W(net.conv)
        if w.ndim == 3:  # (nf, 96, 7) over mel channels == (nf, 1, 7, 96) 2-D kernel
            w = w.transpose(0, 2, 1)[:, None]
        h = relu(np_conv2d(x.T[None], w))  # (nf, T - 6, 96 - f + 1)
        means.append(np_pool(h, (1, h.shape[2]))[:, :, 0].mean(1))
    elif name == "vgg":
        h = x.T[None]
        for conv, pool in zip(
            net.convs, [(4, 2), (4, 3), (5, 2), (4, 2), (4, 4)], strict=True
        ):
            h = np_pool(elu(np_conv2d(h, W(conv), ((1, 1), (1, 1)))), pool)
            means.append(h.mean((1, 2)))
    else:
        for conv in net.timbral:
            t = conv.kernel_size[0]
            h = relu(np_conv2d(x.T[None], W(conv), ((t // 2, t // 2), (0, 0))))
            means.append(h.max(2).mean(1))
        env = x.mean(0)
        for conv in net.temporal:
            k = conv.kernel_size[0]
            means.append(
                relu(np_conv1d(env[None], W(conv), 1, same(len(env), k))).mean(1)
            )
    return np.concatenate(means)


@pytest.mark.parametrize("name", list(PAPER))  # the independent references
def test_matches_numpy_reference(name):
    net = build(name, 3)
    # 1001 samples: odd TF "same" totals for the many-shapes front (asymmetric pads)
    length = {"frame_level": 1700, "frame_level_many_shapes": 1001}.get(name, 1300)
    x = example(name, batch=2, length=length if name in WAVE else 45)
    got = net(x).numpy()
    for i in range(2):
        ref = reference(name, net, x[i].double().numpy())
        np.testing.assert_allclose(
            got[i], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max()
        )


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_given_seed(name):
    before = torch.get_rng_state()
    a, b, c = build(name, seed=7), build(name, seed=7), build(name, seed=8)
    assert torch.equal(torch.get_rng_state(), before)  # global RNG untouched
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert all(not torch.equal(sa[k], sc[k]) for k in sa)
    x = example(name)
    assert torch.equal(a(x), b(x))
    assert not torch.allclose(a(x), c(x))
    assert not any(p.requires_grad for p in a.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_items(name):
    # Not bitwise on CPU: oneDNN picks batch-size-dependent conv kernels (seen up to
    # ~1e-6 relative); each clip is still processed independently.
    net = build(name)
    x = example(name, batch=3)
    batched = net(x)
    single = torch.cat([net(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(
        batched, single, rtol=1e-5, atol=1e-5 * batched.abs().max()
    )


@pytest.mark.parametrize("name", NAMES)
def test_short_inputs_are_finite(name):
    net = build(name)
    for length in (net.min_length, net.min_length + 1, net.min_length + 100):
        y = net(example(name, length=length))
        assert y.shape == (2, ARCHITECTURES[name].n_features(NF))
        assert y.dtype == torch.float32 and torch.isfinite(y).all()
    with pytest.raises(ValueError, match=f"min_length={net.min_length}"):
        net(example(name, length=net.min_length - 1))


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_and_arguments(name):
    net = build(name)
    bad = torch.zeros(2, 96, 50) if name in WAVE else torch.zeros(2, 50)
    with pytest.raises(ValueError, match="x must be"):
        net(bad)
    if name in MEL:
        with pytest.raises(ValueError, match=r"\(batch, 96, n_frames\)"):
            net(torch.zeros(2, 64, 50))
    with pytest.raises(ValueError, match="floating-point"):
        net(torch.zeros((2, 2000) if name in WAVE else (2, 96, 50), dtype=torch.int64))
    for nf in (0, -1, 2.0):
        with pytest.raises(ValueError, match="nf must be a positive int"):
            build(name, nf)
    with pytest.raises(ValueError, match="generator must be a CPU torch.Generator"):
        ARCHITECTURES[name].build(NF, generator=0)


@pytest.mark.parametrize("name", NAMES)
def test_feature_names(name):
    for nf in (1, NF, 11):
        net = build(name, nf)
        names = net.feature_names()
        assert len(names) == net.n_features == ARCHITECTURES[name].n_features(nf)
        assert len(set(names)) == len(names)
    assert build("vgg", 717).feature_names()[2 * 717 + 17] == "vgg_block3_017"
    assert build("sample_level").feature_names()[5 % NF] == "sample_level_layer0_001"


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "name,n_front", [("frame_level", 1), ("frame_level_many_shapes", 5)]
)
def test_frame_level_collapsed_backend(name, n_front):
    nf = 5
    paper = build(name, nf, backend_averaging="per_filter")
    legacy = build(name, nf, backend_averaging="collapsed")
    x = example(name, length=3000)
    y, z = paper(x), legacy(x)
    front = n_front * nf
    torch.testing.assert_close(z[:, :front], y[:, :front])
    for i in range(3):
        block = slice(front + i * nf, front + (i + 1) * nf)
        # one global mean (time and filters) = mean of the per-filter means ...
        torch.testing.assert_close(z[:, block][:, 0], y[:, block].mean(1))
        # ... followed by nf - 1 zeros
        assert torch.equal(z[:, block][:, 1:], torch.zeros(2, nf - 1))
    informative = z.shape[1] - 3 * (nf - 1)
    assert informative == (nf + 3 if n_front == 1 else 5 * nf + 3)
    assert (z != 0).sum(1).max() <= informative
    names = legacy.feature_names()
    assert len(set(names)) == len(names) == 4 * nf + (n_front - 1) * nf
    assert names[front] == f"{name}_back1_global"
    with pytest.raises(ValueError, match="backend_averaging must be one of"):
        build(name, nf, backend_averaging="mean")


def test_vgg_batchnorm_depends_on_batch():
    net = build("vgg", batchnorm="batch")
    x = example("vgg", batch=3)
    alone = net(x[:1])
    together = net(x)
    assert torch.isfinite(alone).all() and torch.isfinite(together).all()
    assert not torch.allclose(alone[0], together[0], rtol=1e-3, atol=1e-3)
    # the paper's network (no batch norm) does not depend on the batch
    plain = build("vgg")
    torch.testing.assert_close(plain(x[:1])[0], plain(x)[0], rtol=1e-5, atol=1e-5)
    # batch norm changes values only, not the map shapes
    assert net.layer_shapes(1376) == EXPECTED_SHAPES["vgg"]
    with pytest.raises(ValueError, match="batchnorm must be one of"):
        build("vgg", batchnorm="layer")


def test_vgg_batchnorm_reference():
    net = build("vgg", 3, batchnorm="batch")
    x = example("vgg", batch=3, length=30).double().numpy()

    def bn(h, axes):
        return (h - h.mean(axes, keepdims=True)) / np.sqrt(
            h.var(axes, keepdims=True) + 1e-3
        )

    h = bn(x, (0, 2)).transpose(0, 2, 1)[:, None]  # (batch, 1, T, 96)
    means = []
    for conv, pool in zip(
        net.convs, [(4, 2), (4, 3), (5, 2), (4, 2), (4, 4)], strict=True
    ):
        h = np.stack([np_conv2d(c, W(conv), ((1, 1), (1, 1))) for c in h])
        h = np_pool(bn(elu(h), (0, 2, 3)), pool)
        means.append(h.mean((2, 3)))
    ref = np.concatenate(means, axis=1)
    np.testing.assert_allclose(
        net(torch.from_numpy(x).float()).numpy(), ref, rtol=1e-4, atol=1e-4
    )


# --------------------------------------------------------------------------- init
def test_truncated_normal_statistics():
    sigma = math.sqrt(2.6 / 300)
    w = truncated_normal_(
        torch.empty(2000, 500), sigma, torch.Generator().manual_seed(0)
    )
    assert abs(w.mean().item()) < 3e-3 * sigma
    assert w.std().item() == pytest.approx(TRUNCATED_STD_RATIO * sigma, rel=5e-3)
    assert w.abs().max().item() <= 2 * sigma * (1 + 1e-6)
    z = (w / sigma).abs()
    assert (z > 1.999).float().mean().item() < 1e-3  # no pile-up at the cut
    # P(|z| < 1 | |z| < 2) = 0.6827 / 0.9545
    assert (z < 1).float().mean().item() == pytest.approx(0.71523, abs=3e-3)
    again = truncated_normal_(
        torch.empty(2000, 500), sigma, torch.Generator().manual_seed(0)
    )
    assert torch.equal(w, again)


@pytest.mark.parametrize("name", NAMES)
def test_module_weights_follow_he_truncated_normal(name):
    net = build(name, ARCHITECTURES[name].paper_nf[120])
    for conv in (
        m for m in net.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))
    ):
        assert conv.bias is None  # biases are zero in the paper: omitted
        sigma = math.sqrt(2.6 / (conv.in_channels * math.prod(conv.kernel_size)))
        w = conv.weight
        assert w.abs().max().item() <= 2 * sigma * (1 + 1e-6)
        if w.numel() > 20000:
            assert w.std().item() == pytest.approx(
                TRUNCATED_STD_RATIO * sigma, rel=0.03
            )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name):
    net = build(name)
    x = example(name)
    expected = net(x)
    got = net.to("cuda")(x.to("cuda")).cpu()
    torch.testing.assert_close(
        got, expected, rtol=1e-3, atol=1e-3 * expected.abs().max()
    )
