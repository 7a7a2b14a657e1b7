"""The MFCC baseline (SPEC section 4)."""

import subprocess
import sys

import librosa
import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skaudio_random.mfcc import MFCC

from .conftest import fsdd_files, requires_fsdd, tone

# Files are ordered by speaker: shuffle so that folds mix speakers (speaker-dependent).
SHUFFLED = StratifiedKFold(3, shuffle=True, random_state=0)


def reference(y, sr=12000):
    """SPEC section 4 written out with librosa and numpy."""
    m = librosa.feature.mfcc(
        y=y,
        sr=sr,
        n_mfcc=20,
        n_fft=2048,
        hop_length=512,
        n_mels=128,
        pad_mode="reflect",
    )
    d1 = m[:, 1:] - m[:, :-1]
    d2 = d1[:, 1:] - d1[:, :-1]
    return np.concatenate(
        [m.mean(1), m.std(1), d1.mean(1), d1.std(1), d2.mean(1), d2.std(1)]
    )


def test_matches_the_paper_recipe(rng):
    y = (0.1 * rng.standard_normal(30000)).astype(np.float32) + tone(seconds=2.5)[
        :30000
    ]
    out = MFCC().transform([y])
    assert out.shape == (1, 120) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], reference(y), rtol=1e-5, atol=1e-4)


def test_savgol_deltas(rng):
    y = rng.standard_normal(20000).astype(np.float32)
    out = MFCC(delta="savgol").transform([y])[0]
    m = librosa.feature.mfcc(y=y, sr=12000, n_mfcc=20, pad_mode="reflect")
    np.testing.assert_allclose(
        out[40:60], librosa.feature.delta(m).mean(1), rtol=1e-4, atol=1e-4
    )
    assert not np.allclose(out, MFCC().transform([y])[0])


def test_feature_names():
    names = MFCC().get_feature_names_out()
    assert len(names) == 120 == len(set(names))
    assert names[3] == "mfcc_mean_03" and names[79] == "delta_std_19"
    assert len(MFCC(n_mfcc=13).get_feature_names_out()) == 78


def test_length_policies(rng):
    short = rng.standard_normal(1000).astype(np.float32)
    with pytest.raises(
        ValueError, match=r"X\[0\] has 1000 samples, shorter than one MFCC"
    ):
        MFCC().transform([short])
    for mode in ("zero", "repeat"):
        out = MFCC(fix_length=mode).transform([short])
        assert np.isfinite(out).all()
    long = rng.standard_normal(50000).astype(np.float32)
    # n_samples=None lengthens short clips only; it never cuts.
    np.testing.assert_array_equal(
        MFCC(fix_length="zero").transform([long]), MFCC().transform([long])
    )
    cut = MFCC(fix_length="crop", n_samples=20000).transform([long])
    np.testing.assert_allclose(cut, MFCC().transform([long[:20000]]))
    with pytest.raises(ValueError, match="needs an int n_samples"):
        MFCC(fix_length="crop").transform([long])


def test_silence_gives_finite_features():
    out = MFCC().transform([np.zeros(12000, np.float32)])
    assert np.isfinite(out).all()


def test_fitless_and_stateless(rng):
    X = rng.standard_normal((3, 8000)).astype(np.float32)
    np.testing.assert_array_equal(MFCC().fit(X).transform(X), MFCC().transform(X))
    np.testing.assert_array_equal(MFCC().fit_transform(X), MFCC().transform(X))


@requires_fsdd
def test_spoken_digits_beat_chance():
    files, y = fsdd_files(n_per_class=20)
    X = MFCC(fix_length="repeat", n_jobs=2).transform(files)
    assert np.isfinite(X).all()
    acc = cross_val_score(
        make_pipeline(StandardScaler(), SVC()), X, y, cv=SHUFFLED
    ).mean()
    assert acc > 0.6  # chance is 0.1


def test_n_mfcc_is_capped_by_the_mel_bands(rng):
    """librosa returns at most n_mels coefficients: names and output must agree."""
    X = rng.standard_normal((1, 12000)).astype(np.float32)
    top = MFCC(n_mfcc=128)
    assert top.transform(X).shape == (1, len(top.get_feature_names_out())) == (1, 768)
    for call in (MFCC(n_mfcc=129).transform, MFCC(n_mfcc=129).fit):
        with pytest.raises(ValueError, match="n_mfcc=129 exceeds the n_mels=128"):
            call(X)
    with pytest.raises(ValueError, match="n_mfcc=129"):
        MFCC(n_mfcc=129).get_feature_names_out()


def _clips(rng, n=5, seconds=(8.0, 3.0, 10.0, 0.5, 6.0)):
    return [
        (0.1 * rng.standard_normal(int(12000 * s))).astype(np.float32)
        for s in seconds[:n]
    ]


def test_features_do_not_depend_on_the_blas_threads(rng):
    # The mel filter bank product goes through BLAS, whose last bits depend on its
    # thread count: MFCC holds BLAS to one thread, so a 1-core and a 2-core
    # machine give the same features.
    from threadpoolctl import threadpool_limits

    clips = _clips(rng)
    with threadpool_limits(2, user_api="blas"):
        two = MFCC().transform(clips)
    with threadpool_limits(1, user_api="blas"):
        one = MFCC().transform(clips)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one[0], reference(clips[0]), rtol=1e-4, atol=1e-4)


def test_clips_in_parallel_equal_one_at_a_time(rng, monkeypatch):
    import torch

    from skaudio_random import _cnn_base

    clips = _clips(rng)
    workers = []
    real_pool = _cnn_base._worker_pool

    def pool(n):
        workers.append(n)
        return real_pool(n)

    monkeypatch.setattr(_cnn_base, "_worker_pool", pool)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = MFCC().transform(clips)
        assert workers == []  # one worker: the calling thread
        torch.set_num_threads(3)
        parallel = MFCC().transform(clips)
        assert workers == [3]
    finally:
        torch.set_num_threads(saved)
    np.testing.assert_array_equal(serial, parallel)  # bitwise


def test_a_bad_clip_is_named_before_any_work(rng, monkeypatch):
    clips = _clips(rng, 3)
    clips[1] = clips[1][:100]
    called = []
    monkeypatch.setattr(MFCC, "_clip_features", lambda self, y: called.append(y))
    with pytest.raises(ValueError, match=r"X\[1\] has 100 samples"):
        MFCC().transform(clips)
    assert called == []


@pytest.mark.parametrize("n", [2048, 2049, 2100, 2560, 5000, 22050, 100000])
@pytest.mark.parametrize("n_fft, hop", [(2048, 512), (512, 256), (400, 160)])
def test_mfcc_and_delta_are_librosa_features_bitwise(n, n_fft, hop):
    """The MFCC path (skaudio_random._librosa_mfcc) gives librosa.feature's numbers."""
    from skaudio_random import _librosa_mfcc

    y = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    kw = dict(sr=12000, n_mfcc=20, n_fft=n_fft, hop_length=hop, n_mels=40)
    ref = librosa.feature.mfcc(y=y, pad_mode="reflect", **kw)
    got = _librosa_mfcc.mfcc(y, **kw)
    assert got.dtype == ref.dtype and np.array_equal(got, ref)
    width = min(9, ref.shape[1] if ref.shape[1] % 2 else ref.shape[1] - 1)
    for order in (1, 2):
        expected = librosa.feature.delta(ref, width=width, order=order)
        assert np.array_equal(
            _librosa_mfcc.delta(ref, width=width, order=order), expected
        )
    with pytest.raises(ValueError, match="odd integer >= 3"):
        _librosa_mfcc.delta(ref, width=4, order=1)


def test_mfcc_does_not_compile_librosas_numba_kernels():
    """librosa.feature / librosa.util.utils compile numba kernels on import (20-30 s
    with an empty cache); the MFCC transformer needs none of them."""
    code = (
        "import sys, numpy as np\n"
        "from skaudio_random import MFCC\n"
        "y = np.random.default_rng(0).standard_normal(30000).astype(np.float32)\n"
        "MFCC(verbose=False).transform([0.1 * y])\n"
        "print(sorted(m for m in ('librosa.feature', 'librosa.util.utils')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
