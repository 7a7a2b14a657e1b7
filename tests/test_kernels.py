"""PrecomputedKernel / make_kernel_svc: same SVMs as SVC, kernels cached safely."""

from __future__ import annotations

import csv
import pickle

import joblib
import numpy as np
import pytest
import soundfile as sf
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skaudio_random import (
    PrecomputedKernel,
    clear_kernel_cache,
    kernel_cache_info,
    make_kernel_svc,
    paper_svm_grid,
    set_kernel_cache_limit,
)

from .conftest import FSDD, requires_fsdd


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_kernel_cache()
    limit = set_kernel_cache_limit(1 << 30)
    yield
    set_kernel_cache_limit(limit)
    clear_kernel_cache()


def _unprefix(params):
    return {k.split("__", 1)[-1]: v for k, v in params.items()}


@pytest.fixture(scope="module")
def fsdd_mfcc():
    """MFCC mean/std (40 features) of the 300 clips of FSDD's official test split."""
    if not (FSDD / "recordings").is_dir():
        pytest.skip("../shared/data/fsdd is not available")
    import librosa

    with open(FSDD / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    rows.sort(key=lambda r: r["filename"])
    feats = []
    for row in rows:
        y, sr = sf.read(FSDD / "recordings" / row["filename"], dtype="float32")
        m = librosa.feature.mfcc(
            y=y, sr=sr, n_mfcc=20, n_fft=256, hop_length=128, n_mels=40
        )
        feats.append(np.r_[m.mean(axis=1), m.std(axis=1)])
    X = np.asarray(feats, dtype=np.float32)
    return X, np.array([int(r["label"]) for r in rows])


# --------------------------------------------------------------------------- #
# the kernel values
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("gamma", [0.3, "auto", "scale"])
def test_rbf_matches_sklearn(rng, cache, gamma):
    X, Y = rng.normal(size=(40, 6)), rng.normal(size=(7, 6))
    k = PrecomputedKernel(gamma=gamma, device="cpu", cache=cache)
    K = k.fit_transform(X)
    ref_gamma = SVC(gamma=gamma).fit(X, np.arange(40) % 2)._gamma
    assert k.gamma_ == ref_gamma
    assert_allclose(K, rbf_kernel(X, gamma=ref_gamma), rtol=1e-13, atol=1e-15)
    assert_array_equal(K, K.T)  # exactly symmetric, like libsvm's
    assert_array_equal(np.diag(K), 1.0)  # exactly zero self-distance
    assert_allclose(
        k.transform(Y), rbf_kernel(Y, X, gamma=ref_gamma), rtol=1e-13, atol=1e-15
    )
    assert K.dtype == np.float64 and K.flags.c_contiguous


@pytest.mark.parametrize("cache", [True, False])
def test_linear_matches_sklearn(rng, cache):
    X, Y = rng.normal(size=(30, 5)), rng.normal(size=(4, 5))
    k = PrecomputedKernel(kernel="linear", gamma=123.0, device="cpu", cache=cache)
    K = k.fit_transform(X)
    assert k.gamma_ == 0.0
    assert_allclose(K, linear_kernel(X), rtol=1e-13, atol=1e-13)
    assert_array_equal(K, K.T)
    assert_allclose(k.transform(Y), linear_kernel(Y, X), rtol=1e-13, atol=1e-13)


def test_fit_then_transform_equals_fit_transform(rng):
    X = rng.normal(size=(25, 4))
    k = PrecomputedKernel(gamma=0.2, device="cpu")
    assert_array_equal(k.fit_transform(X), k.fit(X).transform(X))


def test_float32_close_to_float64(rng):
    X = rng.random((30, 8))
    k64 = PrecomputedKernel(gamma=0.5, device="cpu").fit_transform(X)
    k32 = PrecomputedKernel(gamma=0.5, device="cpu", dtype="float32").fit_transform(X)
    assert k32.dtype == np.float32
    assert_allclose(k32, k64, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(rng):
    X, Y = rng.normal(size=(50, 16)), rng.normal(size=(9, 16))
    cpu = PrecomputedKernel(gamma=0.1, device="cpu").fit(X)
    gpu = PrecomputedKernel(gamma=0.1, device="cuda").fit(X)
    assert_allclose(gpu.transform(Y), cpu.transform(Y), rtol=1e-12)
    assert_allclose(gpu.fit_transform(X), cpu.fit_transform(X), rtol=1e-12)


# --------------------------------------------------------------------------- #
# the cache: reuse, no stale hit, bound
# --------------------------------------------------------------------------- #
def test_grid_search_computes_each_row_once(rng):
    X = rng.normal(size=(60, 5))
    y = np.repeat([0, 1, 2], 20)
    grid = paper_svm_grid(precomputed=True)
    GridSearchCV(make_kernel_svc(device="cpu"), grid, cv=3).fit(X, y)
    info = kernel_cache_info()
    assert info["rows_computed"] == 60  # later folds and grid points reuse them
    assert info["rows_reused"] > 32 * 3 * 60
    assert info["n_banks"] == 1 and info["n_rows"] == 60
    assert info["nbytes"] == 8 * 60 * (5 + 2 * 60 + 1)


def test_different_data_same_shape_is_never_a_hit(rng):
    X = rng.normal(size=(20, 4))
    k = PrecomputedKernel(gamma=0.5, device="cpu").fit(X)
    for _ in range(5):  # fresh arrays of one shape, often at the same address
        Y = rng.normal(size=(20, 4))
        assert_allclose(k.transform(Y), rbf_kernel(Y, X, gamma=0.5), rtol=1e-13)
    Y = X.copy()
    Y[3, 2] = np.nextafter(Y[3, 2], np.inf)  # one ulp in one value: a new row
    before = kernel_cache_info()["rows_computed"]
    k.transform(Y)
    assert kernel_cache_info()["rows_computed"] == before + 1
    Y[3, 2] += 1e-6  # a stale hit on X[3] would give exactly 1
    assert 1.0 - 1e-11 < k.transform(Y)[3, 3] < 1.0
    assert_allclose(k.transform(Y), rbf_kernel(Y, X, gamma=0.5), rtol=1e-13)
    # in-place changes after fit: X_fit_ is a copy, the new X is hashed anew
    X_at_fit = X.copy()
    X[0] += 1.0
    assert_allclose(k.transform(X), rbf_kernel(X, X_at_fit, gamma=0.5), rtol=1e-13)
    assert_allclose(k.fit_transform(X), rbf_kernel(X, gamma=0.5), rtol=1e-13)


def test_rows_of_other_widths_and_dtypes_use_other_banks(rng):
    X4, X6 = rng.normal(size=(10, 4)), rng.normal(size=(10, 6))
    PrecomputedKernel(device="cpu").fit_transform(X4)
    PrecomputedKernel(device="cpu").fit_transform(X6)
    PrecomputedKernel(device="cpu", dtype="float32").fit_transform(X6)
    assert kernel_cache_info()["n_banks"] == 3


def test_cache_bound_is_respected_and_results_stay_correct(rng):
    X = rng.normal(size=(100, 8))
    one_bank = 8 * 100 * (8 + 2 * 100 + 1)
    set_kernel_cache_limit(one_bank + 1000)
    k = PrecomputedKernel(gamma=0.1, device="cpu")
    for part in (X[:60], X[40:], X):  # the second call overflows: the bank restarts
        K = k.fit_transform(part)
        assert_allclose(K, rbf_kernel(part, gamma=0.1), rtol=1e-13)
        assert kernel_cache_info()["nbytes"] <= one_bank + 1000
    # a second width evicts the first bank (least recently used)
    PrecomputedKernel(device="cpu").fit_transform(rng.normal(size=(100, 3)))
    assert kernel_cache_info()["n_banks"] == 1
    # too small for one call: computed without the cache, still right
    set_kernel_cache_limit(0)
    assert_allclose(k.fit_transform(X), rbf_kernel(X, gamma=0.1), rtol=1e-13)
    assert kernel_cache_info()["n_rows"] == 0


def test_set_kernel_cache_limit_validates_and_returns_previous():
    previous = set_kernel_cache_limit(12345)
    assert set_kernel_cache_limit(previous) == 12345
    with pytest.raises(InvalidParameterError, match="max_bytes"):
        set_kernel_cache_limit(-1)


# --------------------------------------------------------------------------- #
# same selection and scores as plain GridSearchCV(SVC) on real features
# --------------------------------------------------------------------------- #
def _assert_same_search(plain, fast):
    assert _unprefix(fast.best_params_) == _unprefix(plain.best_params_)
    assert [_unprefix(p) for p in fast.cv_results_["params"]] == [
        _unprefix(p) for p in plain.cv_results_["params"]
    ]
    assert_array_equal(
        fast.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    for k in range(plain.n_splits_):
        key = f"split{k}_test_score"
        assert_array_equal(fast.cv_results_[key], plain.cv_results_[key])


@requires_fsdd
def test_paper_grid_same_as_plain_svc_on_fsdd_mfcc(fsdd_mfcc):
    X, y = fsdd_mfcc
    cv = StratifiedKFold(n_splits=10)
    plain = GridSearchCV(SVC(), paper_svm_grid(), cv=cv).fit(X, y)
    fast = GridSearchCV(
        make_kernel_svc(device="cpu"), paper_svm_grid(precomputed=True), cv=cv
    ).fit(X, y)
    scores = plain.cv_results_["mean_test_score"]
    assert np.ptp(scores) > 0.3 and plain.best_score_ > 0.5  # worth choosing from
    _assert_same_search(plain, fast)
    assert kernel_cache_info()["rows_computed"] == len(X)
    # the refitted models agree too
    assert_array_equal(fast.predict(X), plain.predict(X))
    assert_allclose(
        fast.decision_function(X), plain.decision_function(X), rtol=1e-7, atol=1e-7
    )


@requires_fsdd
def test_paper_grid_with_scaler_in_front_on_fsdd_mfcc(fsdd_mfcc):
    X, y = fsdd_mfcc
    cv = StratifiedKFold(n_splits=5)
    plain = GridSearchCV(
        make_pipeline(StandardScaler(), SVC()), paper_svm_grid("svc__"), cv=cv
    ).fit(X, y)
    fast_pipe = Pipeline(
        [("scaler", StandardScaler()), *make_kernel_svc(device="cpu").steps]
    )
    fast = GridSearchCV(fast_pipe, paper_svm_grid(precomputed=True), cv=cv).fit(X, y)
    assert np.ptp(plain.cv_results_["mean_test_score"]) > 0.3
    assert plain.best_score_ > 0.7
    _assert_same_search(plain, fast)


@requires_fsdd
def test_worker_processes_give_the_same_search(fsdd_mfcc):
    X, y = fsdd_mfcc
    grid = paper_svm_grid(precomputed=True)[1:2] + paper_svm_grid(precomputed=True)[-1:]
    one = GridSearchCV(make_kernel_svc(device="cpu"), grid, cv=4).fit(X, y)
    two = GridSearchCV(make_kernel_svc(device="cpu"), grid, cv=4, n_jobs=2).fit(X, y)
    assert one.best_params_ == two.best_params_
    assert_array_equal(
        one.cv_results_["mean_test_score"], two.cv_results_["mean_test_score"]
    )


def test_threads_share_the_cache_safely(rng):
    X = rng.normal(size=(80, 6))
    y = np.repeat([0, 1, 2, 3], 20)
    grid = paper_svm_grid(precomputed=True)
    one = GridSearchCV(make_kernel_svc(device="cpu"), grid, cv=4).fit(X, y)
    clear_kernel_cache()
    set_kernel_cache_limit(8 * 70 * (6 + 2 * 70 + 1))  # restarts while threads run
    with joblib.parallel_backend("threading", n_jobs=4):
        threads = GridSearchCV(make_kernel_svc(device="cpu"), grid, cv=4).fit(X, y)
    assert_array_equal(
        one.cv_results_["mean_test_score"], threads.cv_results_["mean_test_score"]
    )


# --------------------------------------------------------------------------- #
# estimator API
# --------------------------------------------------------------------------- #
@parametrize_with_checks([PrecomputedKernel(device="cpu")])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_params_clone_and_paper_grid_keys():
    pipe = make_kernel_svc(kernel="linear", C=8.0, device="cpu", cache=False, tol=1e-4)
    assert [name for name, _ in pipe.steps] == ["kernel", "svc"]
    params = pipe.get_params()
    assert params["kernel__kernel"] == "linear" and params["svc__C"] == 8.0
    assert params["svc__kernel"] == "precomputed" and params["svc__tol"] == 1e-4
    assert params["kernel__cache"] is False
    cloned = clone(pipe)
    assert cloned.get_params()["kernel__kernel"] == "linear"
    for point in ParameterGrid(paper_svm_grid(precomputed=True)):
        clone(pipe).set_params(**point)  # every key of the paper grid is accepted
    assert set(PrecomputedKernel().get_params()) == {
        "kernel",
        "gamma",
        "device",
        "dtype",
        "cache",
    }


def test_pickle_round_trip(rng):
    X, y = rng.normal(size=(40, 5)), np.repeat([0, 1], 20)
    pipe = make_kernel_svc(gamma="auto", device="cpu").fit(X, y)
    again = pickle.loads(pickle.dumps(pipe))
    Y = rng.normal(size=(6, 5))
    clear_kernel_cache()  # the cache is per process: a fresh one must work too
    assert_array_equal(again.decision_function(Y), pipe.decision_function(Y))
    assert_array_equal(again.predict(Y), SVC(gamma="auto").fit(X, y).predict(Y))


def test_feature_names_out(rng):
    k = PrecomputedKernel(device="cpu").fit(rng.normal(size=(3, 2)))
    assert list(k.get_feature_names_out()) == [
        "precomputedkernel0",
        "precomputedkernel1",
        "precomputedkernel2",
    ]


def test_transform_before_fit_raises():
    with pytest.raises(NotFittedError):
        PrecomputedKernel().transform(np.ones((2, 3)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"kernel": "poly"}, "'kernel' parameter of PrecomputedKernel must be"),
        ({"gamma": -1.0}, "'gamma' parameter of PrecomputedKernel must be"),
        ({"gamma": "large"}, "'gamma' parameter of PrecomputedKernel must be"),
        ({"dtype": "float16"}, "'dtype' parameter of PrecomputedKernel must be"),
        ({"cache": "yes"}, "'cache' parameter of PrecomputedKernel must be"),
    ],
)
def test_bad_parameters_raise(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        PrecomputedKernel(**params).fit(np.ones((3, 2)))


def test_bad_device_raises_at_fit():
    with pytest.raises(ValueError, match="device='nope' is not a device name"):
        PrecomputedKernel(device="nope").fit(np.ones((3, 2)))


def test_wrong_width_at_transform_raises(rng):
    k = PrecomputedKernel(device="cpu").fit(rng.normal(size=(5, 3)))
    msg = "X has 4 features, but PrecomputedKernel is expecting 3"
    with pytest.raises(ValueError, match=msg):
        k.transform(rng.normal(size=(2, 4)))


def test_make_kernel_svc_rejects_kernel_options():
    with pytest.raises(TypeError, match=r"\['coef0', 'degree'\] that the precomputed"):
        make_kernel_svc(gamma=0.1, coef0=1.0, degree=2)
    with pytest.raises(InvalidParameterError, match="'C' parameter of make_kernel_svc"):
        make_kernel_svc(C=0.0)
    msg = "'kernel' parameter of make_kernel_svc"
    with pytest.raises(InvalidParameterError, match=msg):
        make_kernel_svc(kernel="sigmoid")
