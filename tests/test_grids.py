"""The paper's hyper-parameter grids (SPEC sections 5.1 and 5.2)."""

import librosa
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import make_classification
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skaudio_random import ELMClassifier, paper_elm_grid, paper_svm_grid
from skaudio_random.grids import PAPER_ELM_N_HIDDEN, PAPER_SVM_C, PAPER_SVM_GAMMAS

from .conftest import fsdd_files, requires_fsdd

C = [0.1, 2, 8, 32]
GAMMAS = [2**-3, 2**-5, 2**-7, 2**-9, 2**-11, 2**-13, "auto"]


def paper_order(gammas=GAMMAS):
    """SPEC 5.1: C outer, gamma inner for rbf, then the linear block."""
    rbf = [("rbf", c, g) for c in C for g in gammas]
    return rbf + [("linear", c, None) for c in C]


def as_tuples(points, kernel="kernel", c="C", gamma="gamma"):
    return [(p[kernel], p[c], p.get(gamma)) for p in points]


def test_constants():
    assert PAPER_SVM_C == (0.1, 2, 8, 32)
    assert PAPER_SVM_GAMMAS == tuple(GAMMAS)
    assert PAPER_ELM_N_HIDDEN == (100, 250, 500, 1200, 1800, 2500)


def test_svm_grid_has_the_32_points_in_the_paper_order():
    points = list(ParameterGrid(paper_svm_grid()))
    assert len(points) == 32
    assert as_tuples(points) == paper_order()
    assert sum(p["kernel"] == "rbf" for p in points) == 28
    assert all("gamma" not in p for p in points if p["kernel"] == "linear")


def test_svm_grid_prefix_and_n_features():
    points = list(ParameterGrid(paper_svm_grid("clf__", n_features=64)))
    assert {k for p in points for k in p} == {"clf__kernel", "clf__C", "clf__gamma"}
    gammas = [g for g in GAMMAS[:-1]] + [1 / 64]
    assert as_tuples(points, "clf__kernel", "clf__C", "clf__gamma") == paper_order(
        gammas
    )


def test_svm_grid_precomputed_keys_keep_the_order():
    points = list(ParameterGrid(paper_svm_grid("m__", precomputed=True)))
    assert len(points) == 32
    assert set(points[0]) == {"m__kernel__kernel", "m__kernel__gamma", "m__svc__C"}
    assert set(points[-1]) == {"m__kernel__kernel", "m__svc__C"}
    got = as_tuples(points, "m__kernel__kernel", "m__svc__C", "m__kernel__gamma")
    assert got == paper_order()


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "64"])
def test_svm_grid_rejects_bad_n_features(bad):
    with pytest.raises(ValueError, match="n_features must be a positive int"):
        paper_svm_grid(n_features=bad)


def test_prefix_must_be_a_string():
    with pytest.raises(TypeError, match="prefix must be a str"):
        paper_svm_grid(1)
    with pytest.raises(TypeError, match="prefix must be a str"):
        paper_elm_grid(None)


def test_elm_grid():
    assert paper_elm_grid() == {"n_hidden": [100, 250, 500, 1200, 1800, 2500]}
    assert list(paper_elm_grid("elm__")) == ["elm__n_hidden"]


class _Kernel(TransformerMixin, BaseEstimator):
    """Minimal Gram-matrix step (stands in for the package's kernel transformer)."""

    def __init__(self, kernel="rbf", gamma="auto"):
        self.kernel = kernel
        self.gamma = gamma

    def fit(self, X, y=None):
        self.X_fit_ = np.asarray(X, dtype=float)
        return self

    def transform(self, X):
        if self.kernel == "linear":
            return linear_kernel(X, self.X_fit_)
        gamma = 1 / self.X_fit_.shape[1] if self.gamma == "auto" else self.gamma
        return rbf_kernel(X, self.X_fit_, gamma=gamma)


def test_grids_run_in_gridsearchcv_with_a_pipeline_prefix():
    X, y = make_classification(n_samples=90, n_features=8, random_state=0)
    cv = StratifiedKFold(3)
    direct = GridSearchCV(
        make_pipeline(StandardScaler(), SVC()), paper_svm_grid("svc__"), cv=cv
    ).fit(X, y)
    assert len(direct.cv_results_["params"]) == 32
    got = as_tuples(direct.cv_results_["params"], "svc__kernel", "svc__C", "svc__gamma")
    assert got == paper_order()

    # the same 32 points through a precomputed-kernel pipeline give the same scores
    pre = Pipeline([("kernel", _Kernel()), ("svc", SVC(kernel="precomputed"))])
    outer = Pipeline([("scale", StandardScaler()), ("m", pre)])
    precomputed = GridSearchCV(
        outer, paper_svm_grid("m__", precomputed=True), cv=cv
    ).fit(X, y)
    np.testing.assert_allclose(
        precomputed.cv_results_["mean_test_score"],
        direct.cv_results_["mean_test_score"],
    )

    elm = GridSearchCV(
        make_pipeline(StandardScaler(), ELMClassifier(random_state=0)),
        paper_elm_grid("elmclassifier__"),
        cv=cv,
    ).fit(X, y)
    assert [p["elmclassifier__n_hidden"] for p in elm.cv_results_["params"]] == list(
        PAPER_ELM_N_HIDDEN
    )
    assert elm.best_estimator_[-1].n_hidden in PAPER_ELM_N_HIDDEN


@pytest.fixture(scope="module")
def fsdd_mfcc():
    """Real features: mean and std of 20 MFCCs of 200 FSDD digits (20 per digit)."""
    files, labels = fsdd_files(n_per_class=20)
    feats = []
    for path in files:
        y, sr = librosa.load(path, sr=None)
        m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, n_fft=512, hop_length=128)
        feats.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    return np.array(feats), labels


@requires_fsdd
def test_both_classifiers_learn_real_features_in_gridsearchcv(fsdd_mfcc):
    X, y = fsdd_mfcc
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    # the paper's setting: raw features straight into the classifiers
    elm = GridSearchCV(
        Pipeline([("elm", ELMClassifier(random_state=0))]),
        paper_elm_grid("elm__"),
        cv=cv,
    ).fit(X, y)
    svm = GridSearchCV(
        make_pipeline(StandardScaler(), SVC()), paper_svm_grid("svc__"), cv=cv
    ).fit(X, y)
    # chance is 0.1 (ten digits)
    assert elm.best_score_ > 0.6, elm.best_score_
    assert svm.best_score_ > 0.6, svm.best_score_
    assert svm.best_params_["svc__C"] in PAPER_SVM_C
