"""The study's grid searches, without scikit-learn's per-candidate machinery.

A study runs thousands of tiny fits (the demo: 168 searches, about 10,000
fits of a few hundred clips). :class:`~sklearn.model_selection.GridSearchCV`
spends most of that time on machinery around each fit (parameter validation,
input checks, target-type detection, scorers, cloning, result tables), not on
the fits. :func:`grid_search` gives the numbers ``GridSearchCV`` gives, for the
study's own pipelines, with a plain loop:

- the same splits (``cv.split(X, y, groups)``), candidates in
  :class:`~sklearn.model_selection.ParameterGrid` order, the same fits
  (clones of the estimator with the candidate's parameters), accuracy as the
  score, ``np.average`` over splits and the first best candidate on ties;
- for the precomputed-kernel SVM (:func:`~skaudio_random.make_kernel_svc`) the
  kernel of a split is computed once per kernel setting and shared by the C
  values, in the order ``GridSearchCV`` first asks for it, so the kernel
  cache holds bitwise the same matrices;
- fits run under ``sklearn.config_context(skip_parameter_validation=True,
  assume_finite=True)`` once the features were checked finite.

``tests/test_study.py`` checks selections and scores against ``GridSearchCV``
on the shipped spoken digits.
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from ..kernels import PrecomputedKernel

__all__ = ["check_finite", "grid_search", "refit", "refit_score", "accuracy"]


def check_finite(X: np.ndarray, name: str = "X") -> None:
    """Raise as scikit-learn would if ``X`` holds NaN or infinity."""
    if not np.isfinite(X).all():
        raise ValueError(
            f"Input {name} contains NaN or infinity: the study's features must be "
            "finite."
        )


def _fast():
    return sklearn.config_context(skip_parameter_validation=True, assume_finite=True)


def accuracy(model, X, y) -> float:
    """``model.score(X, y)`` of a classifier: the fraction of right predictions."""
    return float(np.average(model.predict(X) == y))  # as accuracy_score


def _kernel_svc(est):
    """``(path, kernel, svc)`` when ``est`` ends in ``make_kernel_svc``'s pair.

    ``path`` is the parameter prefix of the pair (``"svm__"`` for the study's
    ``Pipeline([("svm", make_kernel_svc(...))])``); ``None`` otherwise.
    """
    path = ""
    while isinstance(est, Pipeline) and len(est.steps) == 1:
        name, est = est.steps[0]
        path += f"{name}__"
    if (
        isinstance(est, Pipeline)
        and [n for n, _ in est.steps] == ["kernel", "svc"]
        and isinstance(est.named_steps["kernel"], PrecomputedKernel)
        and isinstance(est.named_steps["svc"], SVC)
        and est.named_steps["svc"].kernel == "precomputed"
    ):
        return path, est.named_steps["kernel"], est.named_steps["svc"]
    return None


class _SplitScorer:
    """Fits and scores the candidates on one split, sharing kernels across C."""

    def __init__(self, est, X_train, y_train, X_test, y_test):
        self.est = est
        self.data = X_train, y_train, X_test, y_test
        self.kernel_svc = _kernel_svc(est)
        self.kernels: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.svc = None  # one SVC per split; its parameters set per candidate
        if self.kernel_svc is not None:
            self.svc_names = set(self.kernel_svc[2].get_params())

    def score(self, params: dict) -> float:
        X_train, y_train, X_test, y_test = self.data
        if self.kernel_svc is None:
            model = clone(self.est).set_params(**params).fit(X_train, y_train)
            return accuracy(model, X_test, y_test)
        path, kernel, svc = self.kernel_svc
        k_params, s_params = {}, {}
        for key, value in params.items():
            if not key.startswith(path):
                raise ValueError(f"unexpected grid parameter {key!r}")
            step, _, name = key[len(path) :].partition("__")
            {"kernel": k_params, "svc": s_params}[step][name] = value
        if not s_params.keys() <= self.svc_names:
            raise ValueError(f"unexpected SVC parameter in {sorted(s_params)}")
        k_key = tuple(sorted(k_params.items(), key=lambda kv: kv[0]))
        if k_key not in self.kernels:
            k = clone(kernel).set_params(**k_params)
            K_train = k.fit_transform(X_train)  # Pipeline.fit's order, then score's
            self.kernels[k_key] = K_train, k.transform(X_test)
        K_train, K_test = self.kernels[k_key]
        if self.svc is None:
            self.svc = clone(svc)
        for name, value in s_params.items():  # refit from scratch: same as a clone
            setattr(self.svc, name, value)
        return accuracy(self.svc.fit(K_train, y_train), K_test, y_test)


def grid_search(est, grid, X, y, splits) -> tuple[dict, float]:
    """``(best_params_, best_score_)`` of ``GridSearchCV(est, grid, cv=splits)``.

    Parameters
    ----------
    est : estimator
        A classifier (the study's pipelines).
    grid : dict or list of dict
        A ``param_grid``.
    X : ndarray of shape (n_samples, n_features)
        Finite features.
    y : ndarray of shape (n_samples,)
        Labels.
    splits : list of (train, test) index arrays
        The splits, as ``cv.split(X, y, groups)`` yields them.

    Returns
    -------
    best_params : dict
        The first candidate with the highest mean accuracy over the splits.
    best_score : float
        Its mean accuracy.
    """
    candidates = list(ParameterGrid(grid))
    scores = np.empty((len(candidates), len(splits)))
    with _fast():
        for j, (train, test) in enumerate(splits):
            split = _SplitScorer(est, X[train], y[train], X[test], y[test])
            for i, params in enumerate(candidates):
                scores[i, j] = split.score(params)
    means = np.average(scores, axis=1)  # as GridSearchCV's cv_results_
    best = int(np.argmax(means))  # rank "min" then argmin: the first best
    return candidates[best], float(means[best])


def refit(est, params: dict, X, y):
    """``clone(est).set_params(**params).fit(X, y)``, as ``GridSearchCV`` refits."""
    with _fast():
        return clone(est).set_params(**params).fit(X, y)


def refit_score(est, params: dict, X, y, X_test, y_test) -> float:
    """Accuracy on ``(X_test, y_test)`` of ``est`` with ``params`` fit on ``(X, y)``."""
    model = refit(est, params, X, y)
    with _fast():
        return accuracy(model, X_test, y_test)
