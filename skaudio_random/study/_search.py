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
  assume_finite=True)`` once the features were checked finite;
- the precomputed-kernel SVC of a candidate is fit and applied by the libsvm
  calls ``SVC.fit`` and ``SVC.predict`` make (:class:`_LibsvmFit`), with the
  same arguments, without the estimator's checks around them (about 3 ms of
  the 5 ms of a demo fit). Where scikit-learn's private ``_libsvm`` module is
  not as expected, or an SVC parameter would need more of ``SVC``'s logic,
  the ``SVC`` itself is used;
- likewise an :class:`~skaudio_random.ELMClassifier` candidate is fit from the
  split's labels coded once (:class:`_ELMFit`), by the same code ``fit`` and
  ``predict`` run after their input checks.

``tests/test_study.py`` checks selections and scores against ``GridSearchCV``
on the shipped spoken digits.
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from ..elm import ELMClassifier
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


def _single_step(est):
    """``(path, last)``: the estimator inside nested one-step Pipelines."""
    path = ""
    while isinstance(est, Pipeline) and len(est.steps) == 1:
        name, est = est.steps[0]
        path += f"{name}__"
    return path, est


def _kernel_svc(est):
    """``(path, kernel, svc)`` when ``est`` ends in ``make_kernel_svc``'s pair.

    ``path`` is the parameter prefix of the pair (``"svm__"`` for the study's
    ``Pipeline([("svm", make_kernel_svc(...))])``); ``None`` otherwise.
    """
    path, est = _single_step(est)
    if (
        isinstance(est, Pipeline)
        and [n for n, _ in est.steps] == ["kernel", "svc"]
        and isinstance(est.named_steps["kernel"], PrecomputedKernel)
        and isinstance(est.named_steps["svc"], SVC)
        and est.named_steps["svc"].kernel == "precomputed"
    ):
        return path, est.named_steps["kernel"], est.named_steps["svc"]
    return None


class _LibsvmFit:
    """``SVC(kernel="precomputed")``'s fit and predict on one split, as libsvm calls.

    :meth:`sklearn.svm.SVC.fit` validates the kernel and targets, encodes the
    labels with ``np.unique``, computes class weights and calls
    ``sklearn.svm._libsvm.fit``; ``predict`` calls ``_libsvm.predict`` with the
    fitted arrays and maps the indices to labels. This class makes those two
    calls with the same arguments, once the split's labels are encoded, so the
    predictions are bitwise the estimator's (``tests/test_study.py`` compares
    them). :meth:`supports` says when an ``SVC`` can take this path.
    """

    def __init__(self, y_train):
        self.classes, y = np.unique(y_train, return_inverse=True)
        self.y = np.asarray(y, dtype=np.float64, order="C")
        self.y_train = y_train

    @staticmethod
    def supports(svc) -> bool:
        """Whether ``svc`` is an ``SVC`` this path reproduces exactly."""
        try:
            from sklearn.svm import _libsvm
        except ImportError:  # pragma: no cover - private module moved
            return False
        return (
            type(svc) is SVC
            and hasattr(_libsvm, "fit")
            and hasattr(_libsvm, "predict")
            and svc.kernel == "precomputed"
            and svc.probability in (False, "deprecated")
            and not svc.break_ties
            and not svc.verbose
        )

    def accuracy(self, svc, K_train, K_test, y_test) -> float:
        """Accuracy on ``(K_test, y_test)`` of ``svc`` fit on ``K_train``."""
        from sklearn.svm import _libsvm
        from sklearn.utils import check_random_state
        from sklearn.utils.class_weight import compute_class_weight

        if not (
            K_train.dtype == np.float64
            and K_train.flags.c_contiguous
            and K_train.shape == (len(self.y), len(self.y))
        ):
            K_train = np.ascontiguousarray(K_train, dtype=np.float64)
            if K_train.shape != (len(self.y), len(self.y)):
                raise ValueError(
                    "Precomputed matrix must be a square matrix of the training "
                    f"clips; got shape {K_train.shape}."
                )
        class_weight = compute_class_weight(
            svc.class_weight, classes=self.classes, y=self.y_train
        )
        if len(self.classes) < 2:
            raise ValueError(
                "The number of classes has to be greater than one; got "
                f"{len(self.classes)} class"
            )
        # As SVC.fit: a seed drawn from random_state (the global RNG for None).
        seed = check_random_state(svc.random_state).randint(np.iinfo("i").max)
        _libsvm.set_verbosity_wrap(0)  # as SVC.fit (verbose=False); libsvm's own
        # default prints every fit
        (
            support,
            vectors,
            n_support,
            dual_coef,
            intercept,
            prob_a,
            prob_b,
            status,
            _,
        ) = _libsvm.fit(
            K_train,
            self.y,
            svm_type=0,  # c_svc
            sample_weight=np.empty(0, dtype=np.float64),
            class_weight=class_weight,
            kernel="precomputed",
            C=float(svc.C),
            nu=svc.nu,
            probability=False,
            degree=svc.degree,
            shrinking=svc.shrinking,
            tol=svc.tol,
            cache_size=svc.cache_size,
            coef0=svc.coef0,
            gamma=0.0,  # unused with a precomputed kernel; SVC passes 0.0
            epsilon=svc.epsilon,
            max_iter=svc.max_iter,
            random_seed=seed,
        )
        if status == 1:
            warnings.warn(
                f"Solver terminated early (max_iter={svc.max_iter}).  Consider "
                "pre-processing your data with StandardScaler or MinMaxScaler.",
                ConvergenceWarning,
                stacklevel=2,
            )
        if not (np.isfinite(intercept).all() and np.isfinite(dual_coef).all()):
            raise ValueError(
                "The dual coefficients or intercepts are not finite. The input data "
                "may contain large values and need to be preprocessed."
            )
        K_test = np.ascontiguousarray(K_test, dtype=np.float64)
        index = _libsvm.predict(
            K_test,
            support,
            vectors,
            n_support,
            dual_coef,
            intercept,
            prob_a,
            prob_b,
            svm_type=0,
            kernel="precomputed",
            degree=svc.degree,
            coef0=svc.coef0,
            gamma=0.0,
            cache_size=svc.cache_size,
        )
        predicted = self.classes.take(np.asarray(index, dtype=np.intp))
        return float(np.average(predicted == y_test))


class _ELMFit:
    """:class:`~skaudio_random.ELMClassifier` candidates on one split.

    ``fit`` validates ``X``, checks and codes the labels (a ``LabelBinarizer``)
    and then runs ``_fit_targets``; ``predict`` validates and runs ``_scores``
    and ``_labels``. The labels of a split are coded once here and every
    candidate runs the same ``_fit_targets`` / ``_scores`` / ``_labels`` on the
    study's checked float arrays, so predictions are bitwise those of
    ``clone(est).set_params(**params).fit(X, y).predict(X_test)``.
    """

    def __init__(self, path: str, elm, y_train):
        from sklearn.preprocessing import LabelBinarizer
        from sklearn.utils.multiclass import type_of_target

        self.path = path
        self.params = elm.get_params()
        self.y_train = y_train
        # Labels fit rejects or codes otherwise (continuous, multi-output, a
        # single class) take the estimator's own path and its errors.
        self.direct = (
            type_of_target(y_train) in ("binary", "multiclass")
            and len(np.unique(y_train)) > 1
        )
        if self.direct:
            self.binarizer = LabelBinarizer(neg_label=-1, pos_label=1)
            self.T = self.binarizer.fit_transform(y_train).astype(np.float64)

    @staticmethod
    def supports(est):
        """``(path, elm)`` when ``est`` is (one-step Pipelines around) an ELM."""
        path, last = _single_step(est)
        return (path, last) if type(last) is ELMClassifier else None

    def accuracy(self, params: dict, X_train, X_test, y_test) -> float:
        own = {}
        for key, value in params.items():
            if not key.startswith(self.path) or "__" in key[len(self.path) :]:
                raise ValueError(f"unexpected grid parameter {key!r}")
            own[key[len(self.path) :]] = value
        unknown = own.keys() - self.params.keys()
        if unknown:
            raise ValueError(f"unexpected ELMClassifier parameter in {sorted(unknown)}")
        elm = ELMClassifier(**{**self.params, **own})
        if not self.direct:
            return accuracy(elm.fit(X_train, self.y_train), X_test, y_test)
        elm._fit_targets(X_train, self.binarizer, self.T)
        predicted = elm._labels(elm._scores(X_test))
        return float(np.average(predicted == y_test))


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
        self.libsvm = None  # the direct libsvm path, set up at the first SVC
        self.elm = None
        if self.kernel_svc is None and (found := _ELMFit.supports(est)):
            self.elm = _ELMFit(*found, y_train)

    def score(self, params: dict) -> float:
        X_train, y_train, X_test, y_test = self.data
        if self.elm is not None:
            return self.elm.accuracy(params, X_train, X_test, y_test)
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
        if _LibsvmFit.supports(self.svc):
            if self.libsvm is None:
                self.libsvm = _LibsvmFit(y_train)
            return self.libsvm.accuracy(self.svc, K_train, K_test, y_test)
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
