"""The paper's protocols: its classifiers and grids, scored on a feature matrix."""

from __future__ import annotations

import json
import math
import time

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from ..elm import ELMClassifier
from ..grids import paper_elm_grid, paper_svm_grid
from ..kernels import make_kernel_svc
from . import _search


def classifier(name: str, run: int, fast_svm: bool, device: str, svm_params: dict):
    """(pipeline, param_grid) of the paper's classifier and grid."""
    if name == "svm":
        if fast_svm:
            return (
                Pipeline([("svm", make_kernel_svc(device=device, **svm_params))]),
                paper_svm_grid("svm__", precomputed=True),
            )
        return Pipeline([("svm", SVC(**svm_params))]), paper_svm_grid("svm__")
    return (
        Pipeline([("elm", ELMClassifier(device=device, random_state=run))]),
        paper_elm_grid("elm__"),
    )


def _plain_params(params: dict) -> dict:
    """``svm__kernel__gamma`` -> ``gamma``: the same keys with and without fast_svm."""
    out = {}
    for k, v in params.items():
        key = k.rsplit("__", 1)[-1]
        out[key] = v.item() if isinstance(v, np.generic) else v
    return dict(sorted(out.items()))


def _groups(data):
    g = getattr(data, "groups", None)
    return None if g is None else np.asarray(g)


def _inner_cv(data, n_splits: int, groups):
    """Inner splitter of the nested CV.

    Grouped when the outer folds keep groups apart (e.g. UrbanSound8K's recordings).
    """
    if groups is not None:
        apart = all(
            not set(groups[tr]) & set(groups[te])
            for tr, te in data.cv.split(np.zeros(len(groups)), data.target, groups)
        )
        if apart:
            return StratifiedGroupKFold(n_splits, shuffle=True, random_state=0), True
    return StratifiedKFold(n_splits, shuffle=True, random_state=0), False


def evaluate(X, y, X_test, y_test, data, est, grid, *, nested, inner_splits):
    """Scores of one classifier on one feature matrix, with the data's protocol.

    The searches are :func:`._search.grid_search`: ``GridSearchCV``'s
    selections and scores without its per-candidate overhead.
    """
    groups = _groups(data)
    _search.check_finite(X)
    if X_test is not None:
        _search.check_finite(X_test, "X_test")
    res = {}
    t0 = time.perf_counter()
    splits = list(data.cv.split(X, y, groups))
    best_params, best_score = _search.grid_search(est, grid, X, y, splits)
    res["best_params"] = _plain_params(best_params)
    res["selection_score"] = best_score
    if data.protocol == "validation":
        train = splits[0][0]
        res["score"] = _search.refit_score(
            est, best_params, X[train], y[train], X_test, y_test
        )
        res["score_kind"] = "test"
        res["n_train"], res["n_test"] = len(train), len(y_test)
    else:
        res["score"] = res["selection_score"]
        res["score_kind"] = "best_cv"
        res["n_train"], res["n_test"] = len(y), 0
    res["fit_seconds"] = time.perf_counter() - t0
    res["nested_score"], res["nested_params"], res["nested_seconds"] = (
        math.nan,
        "",
        math.nan,
    )
    if nested and data.protocol == "cv":
        t0 = time.perf_counter()
        inner, grouped = _inner_cv(data, inner_splits, groups)
        scores, chosen = [], []
        for train, test in splits:
            smallest = np.bincount(np.unique(y[train], return_inverse=True)[1]).min()
            if smallest < inner_splits:
                raise ValueError(
                    f"nested CV: a training fold holds only {smallest} clip(s) of "
                    f"some class, fewer than inner_splits={inner_splits}; lower "
                    "inner_splits or use nested=False."
                )
            inner_groups = groups[train] if grouped else None
            inner_splits_ = list(inner.split(X[train], y[train], inner_groups))
            params, _ = _search.grid_search(
                est, grid, X[train], y[train], inner_splits_
            )
            scores.append(
                _search.refit_score(est, params, X[train], y[train], X[test], y[test])
            )
            chosen.append(_plain_params(params))
        res["nested_score"] = float(np.mean(scores))
        res["nested_params"] = json.dumps(chosen)
        res["nested_seconds"] = time.perf_counter() - t0
    return res
