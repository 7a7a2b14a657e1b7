"""Input forms, streamed decoding and the per-clip feature cache (through MFCC)."""

import os
import threading
import time
import warnings
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
        (
            [np.zeros(10, np.float32), np.zeros((2, 2), np.float32)],
            r"X\[1\] must be a 1-D waveform",
        ),
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
    arrays = AudioInput(
        [y.astype(np.float32), y.astype(np.float32), (y * 2).astype(np.float32)]
    )
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
    for idx, clips in iter_decoded_batches(
        load, list(range(10)), batch_size=3, n_workers=3
    ):
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
    both = MFCC(fix_length="zero", memory=joblib.Memory(cache, verbose=0)).transform(
        wav_files
    )
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
    for f in (cache / "skaudio_random_features").rglob("*.f32"):
        f.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="is truncated"):
        again = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    np.testing.assert_array_equal(again, ref)


def test_bad_memory_parameter(wav_files):
    with pytest.raises(ValueError, match="memory"):
        MFCC(memory=3).transform(wav_files)


def _entries(cache):
    return sorted((cache / "skaudio_random_features").rglob("*.f32"))


def _count_computed(monkeypatch):
    calls = []
    original = MFCC._clip_features

    def counting(self, y):
        calls.append(len(y))
        return original(self, y)

    monkeypatch.setattr(MFCC, "_clip_features", counting)
    return calls


def test_cache_detects_a_flipped_bit(wav_files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    ref = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    entry = _entries(cache)[0]
    data = bytearray(entry.read_bytes())
    data[-5] ^= 0x01  # one bit of the last value's mantissa: still finite
    entry.write_bytes(bytes(data))
    calls = _count_computed(monkeypatch)
    with pytest.warns(UserWarning, match=f"{entry.name} fails its checksum"):
        again = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    np.testing.assert_array_equal(again, ref)
    assert len(calls) == 1  # only the damaged entry was recomputed ...
    MFCC(fix_length="zero", memory=cache).transform(wav_files)
    assert len(calls) == 1  # ... and overwritten with a good one


def test_cache_detects_another_clips_entry(wav_files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    ref = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    first, second = _entries(cache)[:2]
    first.write_bytes(second.read_bytes())  # a valid entry, of another clip
    calls = _count_computed(monkeypatch)
    with pytest.warns(UserWarning, match=f"{first.name} fails its checksum"):
        again = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    np.testing.assert_array_equal(again, ref)
    assert len(calls) == 1


def test_read_only_cache_serves_what_it_has(wav_files, tmp_path, monkeypatch):
    """A partly filled cache that cannot be written: one warning, correct features.

    Tests run as root here, where chmod cannot make a folder read-only, so the
    write fails as on a read-only mount: the temporary file cannot be created.
    """
    import errno

    import skaudio_random._cache as cache_module

    cache = tmp_path / "cache"
    ref = MFCC(fix_length="zero").transform(wav_files)
    MFCC(fix_length="zero", memory=cache).transform(wav_files[:1])
    stored = _entries(cache)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(kwargs.get("dir")))

    monkeypatch.setattr(cache_module.tempfile, "mkstemp", read_only)
    calls = _count_computed(monkeypatch)
    with pytest.warns(UserWarning, match="cannot be written") as record:
        out = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    assert sum("cannot be written" in str(w.message) for w in record) == 1
    np.testing.assert_array_equal(out, ref)
    assert len(calls) == len(wav_files) - 1  # the stored clip was served
    assert _entries(cache) == stored
    assert not list((cache / "skaudio_random_features").rglob("*.tmp"))


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="chmod does not stop root from writing",
)
def test_read_only_cache_folder_by_chmod(wav_files, tmp_path):
    cache = tmp_path / "cache"
    MFCC(fix_length="zero", memory=cache).transform(wav_files[:1])
    for folder in (cache / "skaudio_random_features").rglob("*"):
        if folder.is_dir():
            folder.chmod(0o555)
    try:
        with pytest.warns(UserWarning, match="cannot be written"):
            out = MFCC(fix_length="zero", memory=cache).transform(wav_files)
    finally:
        for folder in (cache / "skaudio_random_features").rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)
    np.testing.assert_array_equal(out, MFCC(fix_length="zero").transform(wav_files))


def test_same_size_rewrite_with_restored_mtime_is_seen(tmp_path, rng):
    """cp -p / rsync -t: new content, same size, old mtime."""
    path = tmp_path / "clip.wav"
    sf.write(path, 0.3 * rng.standard_normal(12000), 12000, subtype="PCM_16")
    cache = tmp_path / "cache"
    first = MFCC(memory=cache).transform([str(path)])  # fingerprinted and cached
    stat = os.stat(path)
    time.sleep(0.05)  # past the kernel's coarse timestamp tick
    sf.write(path, 0.3 * rng.standard_normal(12000), 12000, subtype="PCM_16")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(path).st_size == stat.st_size
    assert os.stat(path).st_mtime_ns == stat.st_mtime_ns
    second = MFCC(memory=cache).transform([str(path)])
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(second, MFCC().transform([str(path)]))


def test_fingerprint_memo_uses_a_strong_file_identity(tmp_path, rng, monkeypatch):
    """Memoised hashes are keyed by inode and ctime, not only size and mtime."""
    import skaudio_random._input as input_module

    path = tmp_path / "clip.wav"
    sf.write(path, 0.3 * rng.standard_normal(12000), 12000, subtype="PCM_16")
    # pretend the file is old enough to be memoised
    monkeypatch.setattr(input_module, "_RACY_NS", -(10**18))
    old = AudioInput([str(path)]).fingerprint(0)
    stat = os.stat(path)
    time.sleep(0.05)
    sf.write(path, 0.3 * rng.standard_normal(12000), 12000, subtype="PCM_16")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert AudioInput([str(path)]).fingerprint(0) != old


def test_huge_samples_are_rejected_with_the_clip_named(rng):
    X = [0.1 * rng.standard_normal(12000).astype(np.float32) for _ in range(2)]
    X[1][5] = 1e30
    with pytest.raises(ValueError, match=r"X\[1\] holds samples up to \|x\| = 1e\+30"):
        MFCC().transform(X)
    with pytest.raises(ValueError, match=r"X\[0\] holds samples up to"):
        MFCC().fit(np.full((1, 12000), 3e9, dtype=np.float32))
    # 2**31 itself (32-bit PCM full scale) is accepted, with the scale warning
    with pytest.warns(UserWarning, match="integer PCM"):
        assert np.isfinite(MFCC().transform(np.full((1, 12000), 2.0**31))).all()


def test_huge_samples_in_a_float_file_are_rejected(tmp_path):
    path = tmp_path / "loud.wav"
    sf.write(path, np.full(12000, 1e30, dtype=np.float32), 12000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"loud.wav'? holds samples up to"):
        MFCC().transform([str(path)])


def test_integer_scale_floats_warn_once_naming_the_input(rng):
    pcm = (rng.standard_normal((3, 12000)) * 3000).clip(-32768, 32767)
    match = r"X\[\d\] peaks at .* and 2 more clip\(s\)"
    with pytest.warns(UserWarning, match=match) as rec:
        MFCC().transform(pcm.astype(np.float32))
    assert sum("integer PCM" in str(w.message) for w in rec) == 1
    # ordinary audio, even unit-variance noise, does not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MFCC().transform(rng.standard_normal((2, 12000)).astype(np.float32))
        MFCC().transform(np.clip(pcm / 32768, -1, 1).astype(np.float32))


def test_dataframe_input():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (12000, 13000)]
    ref = MFCC().transform(waves)
    np.testing.assert_array_equal(MFCC().transform(pd.DataFrame({"audio": waves})), ref)
    square = np.stack([w[:12000] for w in waves])
    np.testing.assert_array_equal(
        MFCC().transform(pd.DataFrame(square)), MFCC().transform(square)
    )
    frame = pd.DataFrame({"path": ["a.wav", "b.wav"], "label": ["x", "y"]})
    match = r"DataFrame with 2 columns \('path', 'label'\)"
    with pytest.raises(ValueError, match=match):
        MFCC().transform(frame)
    assert AudioInput(frame[["path"]]).items == ["a.wav", "b.wav"]
