"""featurize: several transformers over the same clips, each file decoded once."""

import numpy as np
import pytest
import torch

import skaudio_random as sr
from skaudio_random import featurize
from skaudio_random._input import AudioInput
from skaudio_random.architectures import ARCHITECTURES
from skaudio_random.study import MODELS


def _transformers(memory=None):
    short = {"n_frames": 47, "n_samples": 12000}
    out = [sr.MFCC(fix_length="repeat", memory=memory, verbose=False)]
    for name in ARCHITECTURES:
        cls = MODELS[name]
        accepted = cls().get_params()
        kw = {k: v for k, v in short.items() if k in accepted}
        out.append(
            cls(
                width=8,
                random_state=2,
                fix_length="repeat",
                device="cpu",
                memory=memory,
                verbose=False,
                batch_size=3,
                **kw,
            )
        )
    return out


def test_same_features_and_cache_entries_as_each_transform(tmp_path):
    files = list(sr.datasets.load_spoken_digits().filenames[:7])
    alone = [t.transform(files) for t in _transformers(tmp_path / "alone")]
    loads = []
    real_load = AudioInput.load

    def load(self, i, rate):
        loads.append(i)
        return real_load(self, i, rate)

    mp = pytest.MonkeyPatch()
    mp.setattr(AudioInput, "load", load)
    try:
        shared, seconds = featurize(
            _transformers(tmp_path / "shared"), files, return_seconds=True
        )
    finally:
        mp.undo()
    assert sorted(loads) == list(range(7))  # every file decoded once
    assert len(shared) == len(alone) == len(ARCHITECTURES) + 1
    for a, b in zip(alone, shared, strict=True):
        np.testing.assert_array_equal(a, b)  # bitwise
    assert len(seconds["transformers"]) == len(shared) and seconds["decode"] >= 0
    # the cache holds the same entries, byte for byte
    names = sorted(
        p.relative_to(tmp_path / "alone")
        for p in (tmp_path / "alone").rglob("*")
        if p.is_file()
    )
    assert names == sorted(
        p.relative_to(tmp_path / "shared")
        for p in (tmp_path / "shared").rglob("*")
        if p.is_file()
    )
    for name in names:
        assert (tmp_path / "alone" / name).read_bytes() == (
            tmp_path / "shared" / name
        ).read_bytes()
    # a second call decodes nothing: every clip is cached for every transformer
    loads.clear()
    mp.setattr(AudioInput, "load", load)
    try:
        again = featurize(_transformers(tmp_path / "shared"), files)
    finally:
        mp.undo()
    assert loads == []
    for a, b in zip(alone, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_rejects_other_objects():
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(TypeError, match="StandardScaler"):
        featurize([sr.MFCC(), StandardScaler()], ["a.wav"])


def _clips(rng, seconds=(1.0, 2.5, 3.0, 1.7, 2.2)):
    return [
        (0.1 * rng.standard_normal(int(12000 * s))).astype(np.float32) for s in seconds
    ]


def _mixed_front_ends():
    """Spectrogram models with shared and with different front ends, plus MFCC
    and a waveform model. Front-end groups at 12 kHz: {crop, repeat, none}
    models; zero-padding to 47 frames; zero-padding to 80 frames (alone); a
    16 kHz model (alone); VGG with batch norm computes its own."""
    kw = dict(width=8, random_state=3, device="cpu", verbose=False)
    return [
        sr.Vertical7x96(fix_length="crop", n_frames=40, batch_size=2, **kw),
        sr.MFCC(),
        sr.Timbral(fix_length="repeat", n_frames=100, batch_size=3, **kw),
        sr.Temporal(fix_length="none", **kw),
        sr.VGG(fix_length="crop", n_frames=40, **kw),
        sr.Time(fix_length="zero", n_frames=47, batch_size=2, **kw),
        sr.SampleLevel(n_samples=6000, fix_length="repeat", **kw),
        sr.TimbralTime(fix_length="zero", n_frames=47, **kw),
        sr.Vertical7x86(fix_length="zero", n_frames=80, **kw),
        sr.TimbralTemporal(fix_length="crop", n_frames=40, sr=16000, **kw),
        sr.VGG(fix_length="crop", n_frames=40, batchnorm="batch", batch_size=2, **kw),
    ]


def _count_front_end_calls(monkeypatch):
    calls = []
    real = sr.LogMelSpectrogram.forward

    def forward(self, y):
        calls.append(y.shape)
        return real(self, y)

    monkeypatch.setattr(sr.LogMelSpectrogram, "forward", forward)
    return calls


def test_log_mel_once_per_clip_and_front_end(rng, monkeypatch):
    clips = _clips(rng)
    calls = _count_front_end_calls(monkeypatch)
    alone = [t.transform(clips) for t in _mixed_front_ends()]
    assert len(calls) == 9 * len(clips)  # each spectrogram model its own
    calls.clear()
    shared, seconds = featurize(_mixed_front_ends(), clips, return_seconds=True)
    # four groups with a shared log-mel ({crop, repeat, none}, zero to 47 frames)
    # or alone (zero to 80 frames, 16 kHz), and VGG with batch norm: 5 per clip
    assert len(calls) == 5 * len(clips)
    for a, b in zip(alone, shared, strict=True):
        np.testing.assert_array_equal(a, b)  # bitwise
    assert seconds["log_mel"] > 0 and seconds["log_mel_cpu"] > 0


def test_front_end_keys():
    models = _mixed_front_ends()
    for m in models:
        m._prepare()
    keys = [getattr(m, "_whole_mel_key", lambda: "no hook")() for m in models]
    whole, zero47 = keys[0], keys[5]
    assert keys[2] == keys[3] == keys[4] == whole  # crop, repeat, none: one
    assert keys[7] == zero47 != whole
    assert keys[8] not in (whole, zero47)  # zero-padding to another length
    assert keys[9] not in (whole, zero47, keys[8])  # another sample rate
    assert keys[1] == "no hook" and keys[6] is None  # MFCC; SampleLevel: waveform
    assert keys[10] is None  # batch norm: the log-mel on the caller's threads


def test_short_clips_are_left_to_each_model(rng, monkeypatch):
    # A clip shorter than one STFT window is tiled by "repeat" and padded by
    # "zero" before the front end: each model computes its own log-mel of it.
    clips = _clips(rng, (0.02, 1.5, 0.03))  # 240 and 360 samples < n_fft=512
    kw = dict(width=8, random_state=1, device="cpu", verbose=False)

    def models():
        return [
            sr.Timbral(fix_length="repeat", n_frames=47, **kw),
            sr.Temporal(fix_length="repeat", n_frames=60, **kw),
            sr.Time(fix_length="zero", n_frames=47, **kw),
            sr.TimbralTime(fix_length="zero", n_frames=47, **kw),
        ]

    alone = [t.transform(clips) for t in models()]
    calls = _count_front_end_calls(monkeypatch)
    shared = featurize(models(), clips)
    for a, b in zip(alone, shared, strict=True):
        np.testing.assert_array_equal(a, b)
    # the zero models pad every clip to the same length first, so they share
    # all three; the repeat models share the 1.5-s clip, not the short ones
    assert len(calls) == 3 + 1 + 2 * 2


def test_a_crop_error_still_names_the_clip(rng):
    # the shared log-mel skips the front end, not the frame rule's checks
    clips = _clips(rng, (2.0, 0.5))
    kw = dict(width=8, random_state=1, device="cpu", verbose=False)
    models = [
        sr.Timbral(fix_length="crop", n_frames=40, **kw),
        sr.Temporal(fix_length="crop", n_frames=40, **kw),
    ]
    with pytest.raises(ValueError, match=r"X\[1\] gives 24 frames, fewer than"):
        featurize(models, clips)


def test_a_model_computing_its_own_log_mel_refuses_one(rng):
    clip = _clips(rng, (1.0,))[0]
    vgg = sr.VGG(n_frames=40, batchnorm="batch", batch_size=1, width=8)
    vgg._prepare()
    mel = sr.LogMelSpectrogram()(torch.from_numpy(clip)[None])[0]
    with pytest.raises(ValueError, match="computes its own log-mel"):
        vgg._transform_clips([clip], ["clip"], mels=[mel])
