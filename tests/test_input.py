"""Input forms, streamed decoding and the per-clip feature cache (through MFCC)."""

import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
import soundfile as sf

from skaudio_random._input import AudioInput, iter_decoded_batches
from skaudio_random.mfcc import MFCC


def test_input_forms(wav_files, rng):
    waves = [rng.standard_normal(n).astype(np.float32) for n in (3000, 5000)]
    assert len(AudioInput(wav_files)) == 3
    assert len(AudioInput([Path(p) for p in wav_files])) == 3
    assert len(AudioInput(np.array(wav_files))) == 3
    assert len(AudioInput(waves)) == 2
    assert len(AudioInput(np.stack([waves[0], waves[0]]))) == 2
    mixed = AudioInput([wav_files[0], waves[1]])
    assert mixed.describe(0) == wav_files[0] and mixed.describe(1) == "X[1]"


@pytest.mark.parametrize(
    "X,match",
    [
        ("a.wav", "single path"),
        ([], "holds no clips"),
        (np.zeros(10, np.float32), "got a 1-D array"),
        (np.zeros((2, 3, 4), np.float32), "3-D array"),
        (np.zeros((2, 100), np.int16), "floating-point audio samples; got dtype int16"),
        ([np.zeros(10, np.float32), np.zeros((2, 2), np.float32)], r"X\[1\] must be a 1-D waveform"),
        ([np.zeros(10, np.int32)], r"X\[0\] must hold floating-point"),
        ([np.zeros(0, np.float32)], r"X\[0\] is empty"),
        ([np.array([0.0, np.nan], np.float32)], r"X\[0\] holds 1 NaN"),
        ([np.full(4, np.inf, np.float32)], r"X\[0\] holds 4 NaN or infinite"),
        (42, "got int"),
    ],
)
def test_bad_inputs_are_named(X, match):
    with pytest.raises(ValueError, match=match):
        AudioInput(X)


def test_fingerprint_is_content_based(tmp_path, rng):
    y = rng.standard_normal(4000) * 0.1
    a, b, c = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    sf.write(a, y, 8000)
    sf.write(b, y, 8000)
    sf.write(c, y * 0.5, 8000)
    fps = AudioInput([str(a), str(b), str(c)]).fingerprint
    assert fps(0) == fps(1) != fps(2)
    arrays = AudioInput([y.astype(np.float32), y.astype(np.float32), (y * 2).astype(np.float32)])
    assert arrays.fingerprint(0) == arrays.fingerprint(1) != arrays.fingerprint(2)


def test_batches_keep_order_and_overlap_decoding():
    active, peak = [0], [0]
    lock = threading.Lock()

    def load(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return np.full(3, i, dtype=np.float32)

    seen = []
    for idx, clips in iter_decoded_batches(load, list(range(10)), batch_size=3, n_workers=3):
        assert [int(c[0]) for c in clips] == idx
        seen.extend(idx)
    assert seen == list(range(10))
    assert peak[0] > 1  # several files decode at once


def test_decoding_errors_name_the_file(wav_files, tmp_path):
    missing = str(tmp_path / "gone.wav")
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        MFCC(fix_length="zero").transform(wav_files + [missing])
    corrupt = tmp_path / "bad.wav"
    corrupt.write_bytes(b"not audio at all" * 100)
    with pytest.raises(ValueError, match="bad.wav"):
        MFCC(fix_length="zero", n_jobs=2).transform([wav_files[0], str(corrupt)])


def test_cache_computes_each_clip_once_and_resumes(wav_files, tmp_path, monkeypatch):
    calls = []
    original = MFCC._clip_features

    def counting(self, y):
        calls.append(len(y))
        return original(self, y)

    monkeypatch.setattr(MFCC, "_clip_features", counting)
    cache = tmp_path / "cache"
    first = MFCC(fix_length="zero", memory=cache).transform(wav_files[:2])
    assert len(calls) == 2
    # A second run over more clips computes only the new one, and agrees.
    both = MFCC(fix_length="zero", memory=joblib.Memory(cache, verbose=0)).transform(wav_files)
    assert len(calls) == 3
    np.testing.assert_array_equal(both[:2], first)
    # A parameter that changes the features gets its own entries ...
    MFCC(fix_length="zero", n_mfcc=13, memory=cache).transform(wav_files[:1])
    assert len(calls) == 4
    # ... one that does not (n_jobs, verbose) shares them.
    MFCC(fix_length="zero", n_jobs=2, memory=cache).transform(wav_files)
    assert len(calls) == 4
    np.testing.assert_array_equal(both, MFCC(fix_length="zero").transform(wav_files))


def test_cache_recovers_from_a_damaged_entry(wav_files, tmp_path):
    cache = tmp_path / "cache"
    ref = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    for f in (cache / "skaudio_random_features").rglob("*.npy"):
        f.write_bytes(b"truncated")
    np.testing.assert_array_equal(MFCC(fix_length="zero", memory=cache).transform(wav_files), ref)


def test_bad_memory_parameter(wav_files):
    with pytest.raises(ValueError, match="memory"):
        MFCC(memory=3).transform(wav_files)
