"""The log-mel front end against librosa on real recordings."""

import librosa
import numpy as np
import pytest
import torch

from skaudio_random import LogMelSpectrogram, load_audio, log_mel_spectrogram

from .conftest import (
    LIBROSA_EXAMPLES,
    fsdd_files,
    requires_fsdd,
    requires_librosa_examples,
    tone,
)

# Stated tolerance: float32 torch vs librosa agree within 0.01 dB everywhere on real
# audio (measured max ~1.3e-3 dB), and within 1e-4 dB on average.
MAX_DB_ERROR = 0.01
MEAN_DB_ERROR = 1e-4


def librosa_log_mel(y, sr=12000):
    S = librosa.feature.melspectrogram(
        y=y,
        sr=sr,
        n_fft=512,
        hop_length=256,
        n_mels=96,
        power=2.0,
        fmin=0.0,
        fmax=6000.0,
        pad_mode="reflect",
        center=True,
    )
    return librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0)


def assert_matches_librosa(y):
    ours = log_mel_spectrogram(y)
    theirs = librosa_log_mel(y)
    assert ours.shape == theirs.shape == (96, 1 + len(y) // 256)
    err = np.abs(ours - theirs)
    assert err.max() < MAX_DB_ERROR, err.max()
    assert err.mean() < MEAN_DB_ERROR, err.mean()


@requires_librosa_examples
@pytest.mark.parametrize(
    "stem",
    [
        "sorohanro_-_solo-trumpet-06",
        "5703-47212-0000",
        "admiralbob77_-_Choice_-_Drum-bass",
    ],
)
def test_matches_librosa_on_real_music_and_speech(stem):
    y = load_audio(LIBROSA_EXAMPLES / f"{stem}.ogg", sr=12000)
    assert_matches_librosa(y)


@requires_fsdd
def test_matches_librosa_on_spoken_digits():
    files, _ = fsdd_files(n_per_class=2)
    for path in files:
        assert_matches_librosa(load_audio(path))


def test_paper_input_has_1376_frames():
    y = np.zeros((1376 - 1) * 256, dtype=np.float32)
    assert log_mel_spectrogram(y).shape == (96, 1376)


def test_floor_is_80_db_below_each_clips_maximum():
    S = log_mel_spectrogram(tone())
    assert np.isclose(S.max() - S.min(), 80.0, atol=1e-3)


def test_silence_gives_finite_constant_output():
    S = log_mel_spectrogram(np.zeros(4096, dtype=np.float32))
    assert np.isfinite(S).all() and np.all(S == -100.0)


def test_batch_independence(rng):
    # One loud and one quiet clip: each is normalised by its own maximum only.
    batch = rng.standard_normal((8, 12000)).astype(np.float32)
    batch *= np.logspace(-4, 0, 8, dtype=np.float32)[:, None]
    module = LogMelSpectrogram()
    with torch.inference_mode():
        together = module(torch.from_numpy(batch))
        alone = torch.cat(
            [module(torch.from_numpy(batch[i : i + 1])) for i in range(8)]
        )
    assert torch.equal(together, alone)


def test_module_errors():
    module = LogMelSpectrogram()
    with pytest.raises(ValueError, match="at least n_fft=512 samples; got 300"):
        module(torch.zeros(1, 300))
    with pytest.raises(ValueError, match="shape \\(batch, n_times\\)"):
        module(torch.zeros(300))


def test_function_validates_waveform():
    with pytest.raises(ValueError, match="1-D waveform"):
        log_mel_spectrogram(np.zeros((2, 1000), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN or infinite"):
        log_mel_spectrogram(np.full(1000, np.nan, dtype=np.float32))
