"""Spectrogram models under ``crop`` stream files: whole-clip features, bounded memory.

The 80 dB floor is relative to the whole clip's maximum (SPEC section 2), so the
clips here are loudest after the cropped part: a decoder that stopped at the
crop would give other features.
"""

import numpy as np
import pytest
import soundfile as sf
import torch

import skaudio_random as sr
import skaudio_random._cnn_base as cnn_base
import skaudio_random._input as input_module
import skaudio_random.audio as audio
from skaudio_random import featurize, load_audio
from skaudio_random.audio import iter_audio_blocks
from skaudio_random.spectrogram import (
    LogMelSpectrogram,
    log_mel_crop_of_blocks,
    log_mel_of_clip,
)

N_FRAMES = 60  # 1.3 s at 12 kHz


def write_clip(path, *, sr_native=44100, channels=2, seconds=3.0, loud_at=2.5):
    """A quiet tone over faint noise, and 0.1 s of loud noise at ``loud_at`` s.

    The quiet part spans more than 80 dB, so the burst's maximum sets the floor.
    """
    rng = np.random.default_rng(0)
    n = int(seconds * sr_native)
    t = np.arange(n)[:, None] / sr_native
    y = 0.01 * np.sin(2 * np.pi * 440 * t) + 1e-4 * rng.standard_normal((n, channels))
    start = int(loud_at * sr_native)
    y[start : start + sr_native // 10] = 0.5 * rng.standard_normal(
        (sr_native // 10, channels)
    )
    sf.write(path, y.astype(np.float32), sr_native, subtype="FLOAT")
    return str(path)


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Decode 997 source frames at a time: about one STFT hop per block."""
    monkeypatch.setattr(audio, "DECODE_BLOCK", 997)


@pytest.mark.parametrize("loud_at", [2.5, 0.5], ids=["loud-after-crop", "loud-inside"])
@pytest.mark.parametrize("chunk_frames", [16, 256])
@pytest.mark.parametrize("n_frames", [1, N_FRAMES, 141])  # 141: every frame of 3 s
def test_streamed_crop_equals_the_whole_clip_bitwise(
    tmp_path, tiny_blocks, loud_at, chunk_frames, n_frames
):
    path = write_clip(tmp_path / "a.wav", loud_at=loud_at)
    frontend = LogMelSpectrogram()
    whole = load_audio(path)
    assert len(whole) // 256 + 1 == 141
    ref = log_mel_of_clip(whole, frontend, n_frames, "crop", "a")
    got = log_mel_crop_of_blocks(
        iter_audio_blocks(path), frontend, n_frames, "a", chunk_frames=chunk_frames
    )
    assert got.shape == ref.shape == (96, n_frames)
    assert torch.equal(got, ref)


def test_the_floor_depends_on_the_whole_clip(tmp_path):
    """A decoder stopping at the crop gets another floor: the tests above see it."""
    path = write_clip(tmp_path / "a.wav", loud_at=2.5)
    frontend = LogMelSpectrogram()
    whole = load_audio(path)
    ref = log_mel_of_clip(whole, frontend, N_FRAMES, "crop", "a")
    naive = log_mel_of_clip(
        whole[: 256 * (N_FRAMES + 8)], frontend, N_FRAMES, "crop", "a"
    )
    assert ref.min() > naive.min() + 10  # the burst raises the floor by 20 dB
    streamed = log_mel_crop_of_blocks(iter_audio_blocks(path), frontend, N_FRAMES, "a")
    assert torch.equal(streamed, ref)


def test_reflect_padding_with_blocks_shorter_than_the_padding():
    """Blocks of a few samples, clips just longer than the window or a hop.

    One-frame chunks make the mel GEMM one column wide, which BLAS computes
    with another kernel: equal up to float32 rounding, not bitwise (hence the
    default chunks of at least STREAM_CHUNK_FRAMES frames).
    """
    frontend = LogMelSpectrogram()
    rng = np.random.default_rng(1)
    for n in (512, 513, 767, 768, 769, 2000, 5000):
        y = (0.1 * rng.standard_normal(n)).astype(np.float32)
        y[-3] = 0.9  # the last samples set the maximum through the reflect padding
        n_frames = 1 + n // 256
        ref = log_mel_of_clip(y, frontend, n_frames, "crop", "y")
        blocks = np.array_split(y, max(1, n // 5))
        got = log_mel_crop_of_blocks(blocks, frontend, n_frames, "y")
        assert torch.equal(got, ref), n
        got = log_mel_crop_of_blocks(blocks, frontend, n_frames, "y", chunk_frames=1)
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    "cls, extra",
    [(sr.Vertical7x96, {}), (sr.VGG, {}), (sr.TimbralTemporal, {})],
)
@pytest.mark.parametrize("sr_native, channels", [(44100, 2), (12000, 1)])
def test_transformers_stream_a_file_under_crop(
    tmp_path, tiny_blocks, monkeypatch, cls, extra, sr_native, channels
):
    paths = [
        write_clip(tmp_path / "late.wav", sr_native=sr_native, channels=channels),
        write_clip(tmp_path / "early.wav", loud_at=0.2, sr_native=sr_native),
    ]
    kw = dict(width=8, n_frames=N_FRAMES, random_state=0, device="cpu", **extra)
    decoded = [load_audio(p) for p in paths]  # arrays keep the whole-clip path
    ref = cls(**kw).transform(decoded)

    def no_whole_decode(*args, **kwargs):
        raise AssertionError("the file was decoded whole")

    monkeypatch.setattr(input_module, "load_audio", no_whole_decode)
    monkeypatch.setattr(cnn_base, "load_audio", no_whole_decode)
    np.testing.assert_array_equal(cls(**kw).transform(paths), ref)
    if cls is sr.VGG:  # batch norm: the batched (GPU) code path on the CPU
        bn = cls(**kw, batchnorm="batch", batch_size=2)
        np.testing.assert_array_equal(
            bn.transform(paths),
            cls(**kw, batchnorm="batch", batch_size=2).transform(decoded),
        )


def test_short_files_give_the_crop_errors(tmp_path):
    est = sr.Vertical7x96(width=8, n_frames=N_FRAMES, device="cpu")
    short = write_clip(tmp_path / "short.wav", seconds=1.0, loud_at=0.5)
    with pytest.raises(ValueError, match=r"short\.wav gives 47 frames, fewer than"):
        est.transform([short])
    tiny = str(tmp_path / "tiny.wav")
    sf.write(tiny, np.full(800, 0.1, np.float32), 44100)  # 218 samples at 12 kHz
    with pytest.raises(ValueError, match=r"tiny\.wav has 218 samples, shorter than"):
        est.transform([tiny])


def test_bad_samples_give_load_audios_errors(tmp_path):
    est = sr.Vertical7x96(width=8, n_frames=N_FRAMES, device="cpu")
    y = np.full(3 * 12000, 0.1, np.float32)
    y[30000] = np.nan
    path = str(tmp_path / "nan.wav")
    sf.write(path, y, 12000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"nan\.wav.* holds 1 NaN or infinite"):
        est.transform([path])
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        est.transform([str(tmp_path / "missing.wav")])


def test_files_libsndfile_cannot_stream_are_decoded_whole(tmp_path, monkeypatch):
    path = write_clip(tmp_path / "a.wav")
    kw = dict(width=8, n_frames=N_FRAMES, random_state=0, device="cpu")
    ref = sr.Vertical7x96(**kw).transform([load_audio(path)])

    def damaged(path, sr):  # libsndfile fails part-way, after some blocks
        yield from list(iter_audio_blocks(path, sr))[:3]
        raise audio.AudioStreamUnavailable(path)

    monkeypatch.setattr(cnn_base, "iter_audio_blocks", damaged)
    np.testing.assert_array_equal(sr.Vertical7x96(**kw).transform([path]), ref)


def test_featurize_decoding_whole_files_gives_the_same_features(tmp_path):
    paths = [write_clip(tmp_path / f"{i}.wav", loud_at=0.5 + i) for i in range(3)]
    models = [
        sr.Vertical7x96(width=8, n_frames=N_FRAMES, random_state=0, device="cpu"),
        sr.MFCC(n_samples=12000),
    ]
    together = featurize(models, paths)
    for model, X in zip(models, together, strict=True):
        np.testing.assert_array_equal(model.transform(paths), X)


def test_iter_audio_blocks_is_load_audio_in_pieces(tmp_path, tiny_blocks, monkeypatch):
    path = write_clip(tmp_path / "a.wav")
    blocks = list(iter_audio_blocks(path))
    assert len(blocks) > 100
    np.testing.assert_array_equal(np.concatenate(blocks), load_audio(path))

    def unopenable(*args, **kwargs):
        raise RuntimeError("not a libsndfile format")

    monkeypatch.setattr(audio.sf, "SoundFile", unopenable)
    with pytest.raises(audio.AudioStreamUnavailable):
        next(iter_audio_blocks(path))


def test_only_cpu_transformers_stream_files(tmp_path):
    """On a GPU the decoding threads decode crop files whole (they feed the device)."""
    from skaudio_random._input import AudioInput

    path = write_clip(tmp_path / "a.wav")
    est = sr.Vertical7x96(width=8, n_frames=N_FRAMES, device="cpu").fit([path])
    est._validate_params()
    est._prepare()
    audio_input = AudioInput([path])
    assert isinstance(est._load_clip(audio_input, 0), cnn_base._FileToCrop)
    est._device = torch.device("cuda")  # the policy only; nothing runs on it
    clip = est._load_clip(audio_input, 0)
    assert isinstance(clip, np.ndarray) and clip.shape == (3 * 12000,)
