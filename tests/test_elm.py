"""ELMClassifier (SPEC section 5.2)."""

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.special import expit, softmax
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skaudio_random import ELMClassifier
from skaudio_random.elm import PINV_RTOL, _least_squares

# Decision values of the Cholesky (Gram) path agree with scipy's SVD pinv to this
# relative tolerance (max-abs normalised); see the Notes of ELMClassifier.
GRAM_RTOL = 1e-7

ACTS = {
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": expit,
    "tanh": np.tanh,
    "identity": lambda z: z,
}


def hidden(clf, X):
    """H = g(X W1 + b) in float64 numpy, from the fitted random layer."""
    z = np.asarray(X, dtype=np.float64) @ clf.hidden_weights_.astype(np.float64)
    return ACTS[clf.activation](z + clf.hidden_bias_.astype(np.float64))


def targets(y):
    return LabelBinarizer(neg_label=-1, pos_label=1).fit_transform(y).astype(float)


def reference_pinv(clf, X, y, sample_weight=None):
    """SPEC 5.2 written out: W2 = pinv(H) T with scipy's SVD and the 1e6*eps cut-off."""
    H, T = hidden(clf, X), targets(y)
    if sample_weight is not None:
        root = np.sqrt(sample_weight)[:, None]
        H, T = H * root, T * root
    return scipy.linalg.pinv(H, rtol=PINV_RTOL) @ T


def rel_err(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def data(n_samples=120, n_features=10, n_classes=3, seed=0):
    return make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=min(n_features, 5),
        n_redundant=0,
        n_classes=n_classes,
        random_state=seed,
    )


# -- scikit-learn compatibility ----------------------------------------------


@parametrize_with_checks(
    [
        ELMClassifier(device="cpu"),
        ELMClassifier(
            n_hidden=50,
            activation="tanh",
            weight_scale="fan_in",
            alpha=1e-3,
            device="cpu",
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# -- the paper's solver: pseudo-inverse ----------------------------------------


@pytest.mark.parametrize(
    "n_samples, n_hidden, path",
    [(300, 40, "pinv-gram-primal"), (40, 300, "pinv-gram-dual")],
)
def test_gram_path_equals_svd_pinv(n_samples, n_hidden, path):
    X, y = data(n_samples + 100)
    Xtr, ytr, Xte = X[:n_samples], y[:n_samples], X[n_samples:]
    clf = ELMClassifier(
        n_hidden=n_hidden, weight_scale="fan_in", device="cpu", random_state=0
    )
    clf.fit(Xtr, ytr)
    assert clf.solver_ == path
    W = reference_pinv(clf, Xtr, ytr)
    assert rel_err(clf.output_weights_, W) < GRAM_RTOL
    assert rel_err(clf.decision_function(Xte), hidden(clf, Xte) @ W) < GRAM_RTOL


@pytest.mark.parametrize("log_cond", [1, 3, 4, 5, 6, 8, 12])
@pytest.mark.parametrize("tall", [True, False])
def test_solver_switch_keeps_pinv_accuracy(log_cond, tall):
    # H with singular values from 1 down to 10**-log_cond: whichever path the solver
    # picks, the fitted scores equal scipy's pinv (SPEC cut-off) to GRAM_RTOL.
    rng = np.random.default_rng(log_cond)
    n, h = (400, 120) if tall else (120, 400)
    U = np.linalg.qr(rng.standard_normal((max(n, h), min(n, h))))[0]
    V = np.linalg.qr(rng.standard_normal((min(n, h), min(n, h))))[0]
    s = np.logspace(0, -log_cond, min(n, h))
    H = (U * s) @ V.T if tall else ((U * s) @ V.T).T
    T = rng.choice([-1.0, 1.0], (n, 3))
    W, path = _least_squares(torch.from_numpy(H.copy()), torch.from_numpy(T), 0.0)
    gram = "pinv-gram-" + ("primal" if tall else "dual")
    assert path == ("pinv-svd" if log_cond >= 5 else gram)
    ref = scipy.linalg.pinv(H, rtol=PINV_RTOL) @ T
    # two SVD implementations (torch's, scipy's) agree to ~1e-6 when singular
    # values come near the cut-off; the Gram path to GRAM_RTOL.
    tol = GRAM_RTOL if path != "pinv-svd" else 1e-6
    assert rel_err(H @ W, H @ ref) < tol
    if log_cond < 9:  # no cut-off at work: the weights themselves agree
        assert rel_err(W, ref) < tol * 10


def test_rank_deficient_uses_svd_with_the_paper_cutoff():
    # identity units on 5 features: H has rank 6 (5 + bias) < 200 columns
    X, y = data(100, n_features=5)
    clf = ELMClassifier(
        n_hidden=200, activation="identity", device="cpu", random_state=1
    )
    clf.fit(X[:80], y[:80])
    assert clf.solver_ == "pinv-svd"
    W = reference_pinv(clf, X[:80], y[:80])
    np.testing.assert_allclose(clf.output_weights_, W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        clf.decision_function(X[80:]), hidden(clf, X[80:]) @ W, rtol=1e-6, atol=1e-9
    )
    # the cut-off matters here: without it the solution would be noise
    assert np.abs(clf.output_weights_).max() < 1


def test_dead_units_get_zero_output_weight():
    # positive inputs and very negative biases: some ReLU units never fire
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (150, 4))
    y = (X[:, 0] > 0.5).astype(int)
    clf = ELMClassifier(n_hidden=60, device="cpu", random_state=3).fit(X, y)
    dead = ~(hidden(clf, X) > 0).any(axis=0)
    assert dead.sum() > 3
    assert np.all(clf.output_weights_[dead] == 0)
    W = reference_pinv(clf, X, y)
    np.testing.assert_allclose(clf.output_weights_, W, rtol=1e-6, atol=1e-8)


# -- ridge --------------------------------------------------------------------


@pytest.mark.parametrize("n_samples, n_hidden", [(200, 30), (30, 200)])
def test_ridge_closed_form(n_samples, n_hidden):
    X, y = data(n_samples)
    clf = ELMClassifier(
        n_hidden=n_hidden, alpha=0.5, weight_scale="fan_in", random_state=0
    )
    clf.fit(X, y)
    H, T = hidden(clf, X), targets(y)
    W = np.linalg.solve(H.T @ H + 0.5 * np.eye(n_hidden), H.T @ T)
    np.testing.assert_allclose(clf.output_weights_, W, rtol=1e-8, atol=1e-10)
    assert clf.solver_.startswith("ridge")


# -- randomness ----------------------------------------------------------------


def test_seeded_draw_is_reproducible_and_unseeded_is_fresh():
    X, y = data()
    a = ELMClassifier(n_hidden=50, random_state=7).fit(X, y)
    b = ELMClassifier(n_hidden=50, random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.hidden_weights_, b.hidden_weights_)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    # the paper's setting: a new random layer at every fit
    c = ELMClassifier(n_hidden=50)
    w1 = c.fit(X, y).hidden_weights_.copy()
    w2 = c.fit(X, y).hidden_weights_
    assert not np.allclose(w1, w2)


def test_seeded_draws_are_cached_read_only_and_equal_to_a_fresh_draw():
    from skaudio_random.elm import _HIDDEN_CACHE

    X, y = data()
    a = ELMClassifier(n_hidden=40, random_state=3).fit(X, y)
    b = ELMClassifier(n_hidden=40, random_state=3).fit(X, y)
    assert a.hidden_weights_ is b.hidden_weights_  # one draw, shared
    assert not a.hidden_weights_.flags.writeable
    assert not a.hidden_bias_.flags.writeable
    W, bias = ELMClassifier(n_hidden=40, random_state=3)._draw_hidden_uncached(
        X.shape[1]
    )
    np.testing.assert_array_equal(a.hidden_weights_, W)
    np.testing.assert_array_equal(a.hidden_bias_, bias)
    # other seeds, sizes and precisions are other entries
    c = ELMClassifier(n_hidden=40, random_state=4).fit(X, y)
    d = ELMClassifier(n_hidden=41, random_state=3, dtype="float32").fit(X, y)
    assert not np.allclose(c.hidden_weights_, a.hidden_weights_)
    assert d.hidden_weights_.dtype == np.float32 and d.hidden_weights_.shape[1] == 41
    # bounded: a draw larger than the bound does not stay beside the others
    previous = _HIDDEN_CACHE.max_bytes
    try:
        _HIDDEN_CACHE.max_bytes = a.hidden_weights_.nbytes
        ELMClassifier(n_hidden=400, random_state=5).fit(X, y)
        assert len(_HIDDEN_CACHE.entries) == 1
    finally:
        _HIDDEN_CACHE.max_bytes = previous


def test_weight_distributions():
    X, y = data(n_features=400, n_samples=60)
    unit = ELMClassifier(n_hidden=500, random_state=0).fit(X, y)
    assert unit.hidden_weights_.shape == (400, 500)
    assert unit.hidden_bias_.shape == (500,)
    assert abs(unit.hidden_weights_.std() - 1) < 0.01
    assert abs(unit.hidden_weights_.mean()) < 0.01
    assert abs(unit.hidden_bias_.std() - 1) < 0.1
    fan_in = ELMClassifier(n_hidden=500, weight_scale="fan_in", random_state=0).fit(
        X, y
    )
    np.testing.assert_allclose(fan_in.hidden_weights_ * 20, unit.hidden_weights_)
    np.testing.assert_array_equal(fan_in.hidden_bias_, unit.hidden_bias_)


@pytest.mark.parametrize("activation", sorted(ACTS))
def test_activations(activation):
    X, y = data(200)
    clf = ELMClassifier(
        n_hidden=30, activation=activation, weight_scale="fan_in", random_state=0
    )
    clf.fit(X, y)
    H = hidden(clf, X)
    np.testing.assert_allclose(
        clf.decision_function(X), H @ clf.output_weights_, rtol=1e-10, atol=1e-10
    )
    assert clf.score(X, y) > 0.6


def test_float32_hidden_layer_is_close_to_float64():
    X, y = data(300, n_features=20)
    f64 = ELMClassifier(n_hidden=100, weight_scale="fan_in", random_state=0).fit(X, y)
    f32 = ELMClassifier(
        n_hidden=100, weight_scale="fan_in", dtype="float32", random_state=0
    )
    f32.fit(X, y)
    assert f32.hidden_weights_.dtype == np.float32
    assert f32.output_weights_.dtype == np.float64
    np.testing.assert_allclose(f32.hidden_weights_, f64.hidden_weights_, rtol=1e-6)
    assert rel_err(f32.decision_function(X), f64.decision_function(X)) < 1e-4
    assert np.mean(f32.predict(X) == f64.predict(X)) > 0.99


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(
    "params, path",
    [
        (dict(n_hidden=100), "pinv-gram-primal"),
        (dict(n_hidden=300), "pinv-gram-dual"),
        (dict(n_hidden=100, activation="identity"), "pinv-svd"),
        (dict(n_hidden=100, alpha=1.0), "ridge-primal"),
    ],
)
def test_cuda_matches_cpu(params, path):
    X, y = data(200)
    cpu = ELMClassifier(**params, device="cpu", random_state=0).fit(X, y)
    gpu = ELMClassifier(**params, device="cuda", random_state=0).fit(X, y)
    assert cpu.solver_ == gpu.solver_ == path
    np.testing.assert_array_equal(cpu.hidden_weights_, gpu.hidden_weights_)
    assert rel_err(gpu.decision_function(X), cpu.decision_function(X)) < 1e-6


# -- target types and outputs --------------------------------------------------


def test_binary_outputs():
    X, y = data(150, n_classes=2)
    labels = np.array(["no", "yes"])[y]
    clf = ELMClassifier(n_hidden=40, weight_scale="fan_in", random_state=0).fit(
        X, labels
    )
    d = clf.decision_function(X)
    assert d.shape == (150,)
    assert clf.output_weights_.shape == (40, 1)
    np.testing.assert_array_equal(clf.classes_, ["no", "yes"])
    np.testing.assert_array_equal(clf.predict(X), np.where(d > 0, "yes", "no"))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], expit(2 * d))
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert clf.score(X, labels) > 0.8


def test_multiclass_outputs():
    X, y = data(200, n_classes=4)
    clf = ELMClassifier(n_hidden=60, weight_scale="fan_in", random_state=0).fit(
        X, y + 10
    )
    d = clf.decision_function(X)
    assert d.shape == (200, 4)
    np.testing.assert_array_equal(clf.predict(X), 10 + d.argmax(axis=1))
    np.testing.assert_allclose(clf.predict_proba(X), softmax(d, axis=1))
    # the +1/-1 coding: on training data the scores approximate it
    T = targets(y)
    assert np.mean((d - T) ** 2) < np.mean(T**2)


def test_multilabel_outputs():
    X, Y = make_multilabel_classification(n_samples=150, n_classes=4, random_state=0)
    clf = ELMClassifier(n_hidden=80, weight_scale="fan_in", random_state=0).fit(X, Y)
    d = clf.decision_function(X)
    assert d.shape == (150, 4)
    np.testing.assert_array_equal(clf.classes_, np.arange(4))
    np.testing.assert_array_equal(clf.predict(X), (d > 0).astype(int))
    np.testing.assert_allclose(clf.predict_proba(X), expit(2 * d))
    assert clf.score(X, Y) > 0.5  # subset accuracy on training data


def test_sample_weight_is_weighted_least_squares():
    X, y = data(200)
    sw = np.random.default_rng(0).integers(0, 4, 200)
    clf = ELMClassifier(n_hidden=30, weight_scale="fan_in", random_state=0)
    weighted = clf.fit(X, y, sample_weight=sw).decision_function(X)
    W = reference_pinv(clf, X, y, sw)
    np.testing.assert_allclose(clf.output_weights_, W, rtol=1e-7, atol=1e-12)
    repeated = clf.fit(np.repeat(X, sw, 0), np.repeat(y, sw)).decision_function(X)
    np.testing.assert_allclose(weighted, repeated, rtol=1e-8, atol=1e-9)


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_X_is_rejected(bad):
    X, y = data()
    X[3, 2] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        ELMClassifier().fit(X, y)
    clf = ELMClassifier(n_hidden=20).fit(*data())
    with pytest.raises(ValueError, match="Input X contains"):
        clf.predict(X)


def test_single_class_is_rejected():
    X, _ = data()
    with pytest.raises(ValueError, match="at least 2 classes in y; got 1 class"):
        ELMClassifier().fit(X, np.zeros(len(X)))


@pytest.mark.parametrize(
    "params, match",
    [
        (
            dict(n_hidden=0),
            "'n_hidden' parameter of ELMClassifier must be an int in "
            r"the range \[1, inf\). Got 0",
        ),
        (dict(n_hidden=2.5), "'n_hidden' parameter"),
        (dict(activation="elu"), "'activation' parameter"),
        (dict(weight_scale="xavier"), "'weight_scale' parameter"),
        (dict(alpha=-1.0), "'alpha' parameter"),
        (dict(dtype="float16"), "'dtype' parameter"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        ELMClassifier(**params).fit(*data())


def test_bad_targets_and_device():
    X, y = data()
    with pytest.raises(ValueError, match="Unknown label type"):
        ELMClassifier().fit(X, y + 0.5)
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        ELMClassifier().fit(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="device='tpu' is not a device name"):
        ELMClassifier(device="tpu").fit(X, y)
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        ELMClassifier().fit(X, y, sample_weight=-np.ones(len(y)))
