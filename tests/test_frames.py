"""Frame-level features (skaudio_random.frames, transform_frames)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skaudio_random import MFCC, VGG, FrameLevel
from skaudio_random._resolve import make_transformer, model_names
from skaudio_random.frames import window_averages, window_bounds


def _model(name, width=40):
    if name == "mfcc":
        return make_transformer(name, fix_length="none")
    return make_transformer(
        name, width=width, random_state=0, fix_length="none", device="cpu"
    )


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    t = np.arange(12000) / 12000
    noise = 0.1 * rng.standard_normal((2, 12000))
    return (noise + 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("name", model_names())
def test_one_window_over_the_clip_is_the_clip_features(name, clips):
    est = _model(name, width=8)  # the width does not matter here; CNN14 is quick
    clip = est.transform(clips)
    frames = est.transform_frames(clips, window=5.0, hop=1.0)
    assert frames.features.shape == (2, 1, clip.shape[1])
    assert frames.features.dtype == np.float32
    scale = np.abs(clip).max()
    np.testing.assert_allclose(
        frames.features[:, 0], clip, rtol=1e-5, atol=1e-6 * scale
    )
    # several windows from the same pass: shape, times, and not all equal
    many = est.transform_frames(clips, window=0.3, hop=0.1)
    assert many.features.shape == (2, 8, clip.shape[1])
    np.testing.assert_allclose(many.times[:2], [0.15, 0.25])
    assert np.isfinite(many.features).all()


def test_windows_follow_the_signal():
    # silence then a tone, on a bias-free waveform CNN whose receptive fields
    # are about 0.1 s long: windows before the onset are exactly zero
    est = FrameLevel(width=40, random_state=0, fix_length="none", device="cpu")
    t = np.arange(24000) / 12000
    y = np.where(t >= 1.0, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    frames = est.transform_frames([y], window=0.4, hop=0.4).features[0]
    assert frames.shape[0] == 5
    np.testing.assert_array_equal(frames[:2], 0.0)
    assert frames[3].max() > 0


def test_window_bounds_edges_and_short_clips():
    starts, ends, times = window_bounds(2.2, 1.0, 0.5)
    # the last window reaches past the end; centres of the covered parts
    assert len(times) == 4
    np.testing.assert_allclose(times, [0.5, 1.0, 1.5, (1.5 + 2.2) / 2])
    assert starts[0] == -np.inf and ends[-1] == np.inf
    # a clip shorter than one window: one window
    assert len(window_bounds(0.3, 1.0, 0.5)[2]) == 1
    # centred windows: 0, hop, ... up to the end, none past it
    t = window_bounds(1.07, 0.2, 0.05, center=True)[2]
    assert t[0] == 0 and t[-1] <= 1.07 and 1.07 - t[-1] < 0.05
    np.testing.assert_allclose(np.diff(t), 0.05)


def test_window_averages_weights_partial_frames():
    # frames of 1 s centred at 0.5, 1.5, 2.5, 3.5 s with values 1, 2, 3, 4
    fmap = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    starts = np.array([0.0, 1.5, 10.0])
    ends = np.array([2.0, 3.5, 11.0])
    out = window_averages(fmap, 0.5, 1.0, starts, ends)[0, :, 0].numpy()
    # [1.5, 3.5): half of 2, all of 3, half of 4; [10, 11): past the end -> last
    np.testing.assert_allclose(out, [1.5, 3.0, 4.0])


def test_mfcc_windows_use_weighted_moments(clips):
    est = MFCC()
    frames = est.transform_frames(clips[:1], window=0.5, hop=0.25)
    assert frames.features.shape == (1, 3, 120)
    std = frames.features[..., 20:40]
    assert (std >= 0).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 0}, "window must be a positive"),
        ({"hop": -1.0}, "hop must be a positive"),
        ({"window": "1"}, "window must be a positive"),
    ],
)
def test_bad_windows_are_errors(kwargs, match, clips):
    with pytest.raises(ValueError, match=match):
        MFCC().transform_frames(clips, **kwargs)


def test_clips_of_different_lengths_are_an_error():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(12000).astype(np.float32)
    b = rng.standard_normal(24000).astype(np.float32)
    est = VGG(width=40, random_state=0, fix_length="none", device="cpu")
    with pytest.raises(ValueError, match=r"X\[1\] gives 3 windows but X\[0\] gives 1"):
        est.transform_frames([a, b], window=1.0, hop=0.5)


def test_batchnorm_vgg_is_refused(clips):
    est = VGG(width=40, random_state=0, batchnorm="batch", batch_size=2, device="cpu")
    with pytest.raises(ValueError, match="batchnorm"):
        est.transform_frames(clips)


def test_networks_of_unknown_geometry_spread_frames_evenly(clips, monkeypatch):
    # a network whose time grid is neither known nor measurable on the meta
    # device (plug-ins' are: see test_user_network): its frames are spread
    # evenly over the input, which is exact for "same"-padded, unpooled layers
    from skaudio_random import Timbral, frames

    est = Timbral(width=40, random_state=0, fix_length="none", device="cpu")
    known = est.transform_frames(clips, window=0.3, hop=0.1).features
    monkeypatch.setattr(frames, "_cnn_geometry", lambda network, length: {})
    spread = est.transform_frames(clips, window=0.3, hop=0.1).features
    np.testing.assert_allclose(spread, known, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "layers", "tolerance"),
    [
        ("sample_level", ("layer0", "layer1", "layer2", "layer3"), 0.01),
        ("frame_level", ("front",), 0.01),
        ("frame_level", ("back1", "back2"), 0.03),  # receptive fields of 62 ms
        ("vertical_7x86", ("pool",), 0.015),
        ("timbral", ("timbral_1x86",), 0.015),
        ("vgg", ("block1",), 0.045),  # frames of 4 log-mel frames, 85 ms
    ],
)
def test_a_click_is_found_where_it_is(name, layers, tolerance):
    # each layer's frames are mapped to the seconds they see: a 5 ms click at
    # 1.23 s moves the 10 ms window centred there most
    sr, t0 = 12000, 1.23
    y = 1e-4 * np.random.default_rng(0).standard_normal(3 * sr).astype(np.float32)
    y[int(t0 * sr) : int(t0 * sr) + 60] += 0.9 * np.hanning(60).astype(np.float32)
    est = _model(name)
    frames = est.transform_frames([y], window=0.01, hop=0.005, center=True)
    names = est.get_feature_names_out()
    inside = (frames.times > 0.5) & (frames.times < 2.5)  # away from the edges
    for layer in layers:
        cols = [k for k, n in enumerate(names) if f"{layer}_" in n]
        F = frames.features[0][:, cols]
        change = np.abs(F - np.median(F, axis=0)).sum(axis=1) * inside
        found = frames.times[change.argmax()]
        assert abs(found - (t0 + 0.0025)) <= tolerance, (layer, found)


@pytest.mark.parametrize("has_bf16", [False, True])
def test_bfloat16_frames_follow_the_cpu(has_bf16, clips, monkeypatch):
    # bfloat16 only where the CPU computes it (AMX / AVX512-BF16); elsewhere
    # it would be emulated many times slower, so the float32 frames are returned
    import skaudio_random.architectures._fast as fast

    monkeypatch.setattr(fast, "cpu_has_bf16", lambda: has_bf16)
    kwargs = dict(n_frames=40, fix_length="zero", device="cpu", random_state=0)
    f32 = VGG(**kwargs).transform_frames(clips, window=0.3, hop=0.3).features
    bf16 = VGG(**kwargs, precision="bfloat16")
    got = bf16.transform_frames(clips, window=0.3, hop=0.3).features
    assert np.array_equal(got, f32) is not has_bf16
    np.testing.assert_allclose(got, f32, rtol=0, atol=3e-2 * np.abs(f32).max())
