"""Audio loading and length fixing: formats, resampling and every bad input."""

import warnings

import numpy as np
import pytest
import soundfile as sf

from skaudio_random import fix_length, load_audio
from skaudio_random.audio import check_waveform, iter_audio_blocks, to_mono
from skaudio_random.mfcc import MFCC

from .conftest import FSDD, LIBROSA_EXAMPLES, requires_fsdd, requires_librosa_examples


def test_load_resamples_and_mixes_to_mono(wav_files):
    y8k, y22k_stereo, y12k = (load_audio(p) for p in wav_files)
    for y in (y8k, y22k_stereo, y12k):
        assert y.dtype == np.float32 and y.ndim == 1
        assert y.shape[0] == 6000  # 0.5 s at 12 kHz
    assert load_audio(wav_files[0], sr=None).shape == (4000,)
    assert load_audio(wav_files[1], sr=None, mono=False).shape == (2, 11025)


def test_mono_is_the_channel_mean(tmp_path):
    left = np.linspace(-0.5, 0.5, 1200)
    right = np.zeros(1200)
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([left, right], axis=1), 12000, subtype="FLOAT")
    np.testing.assert_allclose(
        load_audio(path), (left / 2).astype(np.float32), atol=1e-7
    )


def test_resampling_keeps_a_tone(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    path = tmp_path / "tone.wav"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 1000 * t), sr, subtype="FLOAT")
    y = load_audio(path, sr=12000)
    spectrum = np.abs(np.fft.rfft(y))
    peak_hz = np.argmax(spectrum) * 12000 / len(y)
    assert abs(peak_hz - 1000) < 2
    assert abs(np.sqrt(np.mean(y[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 5e-3


@requires_librosa_examples
@pytest.mark.parametrize("pattern", ["*.hq.ogg"])
def test_real_compressed_files(pattern):
    path = sorted(LIBROSA_EXAMPLES.glob("456440*" + pattern[1:]))[0]  # robin, 2.7 s
    y = load_audio(path)
    assert y.ndim == 1 and np.isfinite(y).all() and abs(y.shape[0] / 12000 - 2.7) < 0.1


@requires_fsdd
def test_real_wav_matches_librosa_load():
    import librosa

    path = sorted((FSDD / "recordings").glob("*.wav"))[0]
    ours = load_audio(path)
    theirs, _ = librosa.load(path, sr=12000, res_type="soxr_hq")
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("ext,fmt", [("au", "AU"), ("ogg", "OGG"), ("mp3", "MP3")])
def test_other_formats(tmp_path, ext, fmt):
    if fmt not in sf.available_formats():
        pytest.skip(f"libsndfile here cannot write {fmt}")
    y = 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    path = tmp_path / f"x.{ext}"
    sf.write(path, y, 16000, format=fmt)
    out = load_audio(path)
    assert abs(out.shape[0] - 12000) < 1200 and np.isfinite(out).all()


# -- bad input --------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav.*does not exist"):
        load_audio(tmp_path / "nope.wav")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.wav.*empty \\(0 bytes\\)"):
        load_audio(path)


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" * 10)
    with pytest.raises(ValueError, match="could not decode audio file .*corrupt.wav"):
        load_audio(path)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        load_audio(tmp_path)


def test_zero_length_audio(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 1)), 8000)
    with pytest.raises(ValueError, match="zero.wav.*(no samples|could not decode)"):
        load_audio(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_file(tmp_path, bad):
    y = np.zeros(4000, dtype=np.float32)
    y[10] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, y, 8000, subtype="FLOAT")
    with pytest.raises(ValueError, match="nan.wav.*NaN or infinite"):
        load_audio(path)


def test_silence_is_valid(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(8000), 8000)
    y = load_audio(path)
    assert y.shape == (12000,) and not y.any()


def test_bad_sr(wav_files):
    with pytest.raises(ValueError, match="sr must be a positive int"):
        load_audio(wav_files[0], sr=0)


@pytest.mark.parametrize(
    "y,match",
    [
        (np.zeros((2, 3), np.float32), "1-D waveform"),
        (np.zeros(5, np.int16), "floating-point"),
        (np.zeros(0, np.float32), "empty"),
        (np.full(5, np.nan, np.float32), "5 NaN or infinite"),
    ],
)
def test_check_waveform_errors(y, match):
    with pytest.raises(ValueError, match=match):
        check_waveform(y, name="clip")


def test_to_mono():
    assert to_mono(np.ones(3)).shape == (3,)
    np.testing.assert_array_equal(
        to_mono(np.array([[1.0, 3.0], [2.0, 4.0]])), [2.0, 3.0]
    )
    with pytest.raises(ValueError, match="1-D or 2-D"):
        to_mono(np.zeros((1, 2, 3)))


# -- fix_length ---------------------------------------------------------------------
def test_fix_length_modes():
    y = np.arange(5.0)
    np.testing.assert_array_equal(fix_length(y, 3, "crop"), [0, 1, 2])
    np.testing.assert_array_equal(
        fix_length(y, 12, "repeat"), [0, 1, 2, 3, 4] * 2 + [0, 1]
    )
    np.testing.assert_array_equal(fix_length(y, 7, "zero"), [0, 1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(fix_length(y, 3, "repeat"), [0, 1, 2])
    np.testing.assert_array_equal(fix_length(y, 3, "zero"), [0, 1, 2])
    assert fix_length(y, 99, "none") is y
    assert fix_length(y, 5, "crop") is y


def test_fix_length_along_frames_axis():
    S = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(
        fix_length(S, 5, "repeat", axis=-1), [[0, 1, 2, 0, 1], [3, 4, 5, 3, 4]]
    )
    np.testing.assert_array_equal(
        fix_length(S, 4, "zero", pad_value=-80.0)[:, 3], [-80, -80]
    )


def test_fix_length_errors():
    with pytest.raises(ValueError, match="clip has 5 samples, fewer than n_samples=10"):
        fix_length(np.zeros(5), 10, "crop", name="clip")
    with pytest.raises(ValueError, match="mode must be one of"):
        fix_length(np.zeros(5), 10, "wrap")
    with pytest.raises(ValueError, match="n_samples must be a positive int"):
        fix_length(np.zeros(5), 0, "zero")
    with pytest.raises(ValueError, match="empty"):
        fix_length(np.zeros(0), 3, "repeat")


def _whole_file_reference(path, sr=12000):
    """The decoder before streaming: the whole file at once, then mono, resample."""
    import soxr

    y, sr_native = sf.read(path, dtype="float32", always_2d=True)
    return soxr.resample(to_mono(y), sr_native, sr, quality="HQ").astype(np.float32)


@pytest.mark.parametrize("sr_native, channels", [(44100, 2), (22050, 1), (12000, 3)])
def test_streamed_decoding_equals_the_whole_file(
    tmp_path, monkeypatch, sr_native, channels
):
    import skaudio_random.audio as audio

    monkeypatch.setattr(audio, "DECODE_BLOCK", 4099)  # many, odd-sized blocks
    rng = np.random.default_rng(0)
    path = tmp_path / "long.wav"
    sf.write(path, 0.3 * rng.standard_normal((5 * sr_native, channels)), sr_native)
    ref = _whole_file_reference(path)
    np.testing.assert_array_equal(load_audio(path), ref)
    for n in (1, 12000, 12001, 30000, len(ref), len(ref) + 5):
        np.testing.assert_array_equal(load_audio(path, max_samples=n), ref[:n])


def test_a_crop_decodes_only_the_start_of_a_long_file(tmp_path, monkeypatch):
    from skaudio_random import MFCC, SampleLevel

    rng = np.random.default_rng(0)
    path = str(tmp_path / "long.wav")
    sf.write(path, 0.3 * rng.standard_normal((60 * 44100, 2)), 44100)
    read = []
    original = sf.SoundFile.read

    def counting(self, frames=-1, *args, **kwargs):
        out = original(self, frames, *args, **kwargs)
        read.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting)
    ref = _whole_file_reference(path)
    crop = dict(fix_length="crop", n_samples=24000)
    for est, ref_est in [
        (MFCC(**crop), MFCC(**crop)),
        (SampleLevel(**crop, random_state=0), SampleLevel(**crop, random_state=0)),
    ]:
        read.clear()
        np.testing.assert_array_equal(est.transform([path]), ref_est.transform([ref]))
        # 2 s at 12 kHz is about 7.4 s at 44.1 kHz: a few blocks of the 60 s file
        assert 0 < sum(read) < 10 * 44100
    read.clear()
    whole = MFCC().transform([path])
    np.testing.assert_array_equal(whole, MFCC().transform([ref]))
    assert sum(read) == 60 * 44100


def test_float_file_at_integer_scale_warns_naming_it(tmp_path, rng):
    """The same check as for arrays (AudioInput): a float WAV of PCM values."""
    pcm = (rng.standard_normal(12000) * 5000).clip(-20000, 20000)
    pcm[100] = 20000.0
    path = tmp_path / "pcm_as_float.wav"
    sf.write(path, pcm.astype(np.float32), 12000, subtype="FLOAT")
    match = r"pcm_as_float\.wav'? peaks at 20000 above 16.*integer PCM"
    with pytest.warns(UserWarning, match=match):
        load_audio(path, sr=None)
    with pytest.warns(UserWarning, match=match):
        list(iter_audio_blocks(path, sr=None))  # the streamed crop of the CNNs
    with pytest.warns(UserWarning, match=match):
        MFCC().transform([str(path)])  # decoded in the decoding threads
    # the same samples at full scale 1.0, and 16-bit files, do not warn
    sf.write(path, (pcm / 32768).astype(np.float32), 12000, subtype="FLOAT")
    sf.write(tmp_path / "int16.wav", pcm / 32768, 12000, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(path)
        MFCC().transform([str(path), str(tmp_path / "int16.wav")])
