"""Test the paper's premise: does random-feature accuracy predict trained accuracy?

Pons & Serra (2019) rank architectures by the accuracy of their random-weight
features, relying on Saxe et al. (2011): that accuracy tends to follow the
accuracy of the same architecture trained end to end. This module measures the
trained side on a study's folds (:func:`evaluate_trained`), the rank
correlation across architectures (:func:`rank_correlation`) and draws one
against the other (:func:`plot_random_vs_trained`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.base import clone

__all__ = [
    "RankCorrelation",
    "rank_correlation",
    "merge_float_ties",
    "plot_random_vs_trained",
    "evaluate_trained",
]

#: Fewest architectures for which a rank correlation is reported.
MIN_ARCHITECTURES = 3

#: Accuracies closer than this are one value when ranked (see
#: :func:`merge_float_ties`).
TIE_TOLERANCE = 1e-9


def merge_float_ties(values, tol: float = TIE_TOLERANCE) -> np.ndarray:
    """Make accuracies that differ only by float rounding exactly equal.

    An accuracy is a ratio of counts (or a mean of such ratios over folds),
    so two architectures with the same correct counts on the same clips have
    the same accuracy; summed in another order, their float means can still
    differ in the last bit (23/96 as 0.23958333333333334 or ...331) and rank
    apart. Two different means of ratios over the same folds differ by at
    least ``1 / (n_folds * lcm(fold sizes))``, far above ``tol`` for real
    test sets, while float rounding errs by about 1e-16 per term.

    Parameters
    ----------
    values : array-like of float
        Accuracies.
    tol : float, default=TIE_TOLERANCE (1e-9)
        Sorted values closer than this to their neighbour form one group.

    Raises
    ------
    ValueError
        If ``values`` is not one-dimensional or holds a NaN or infinity.

    Returns
    -------
    ndarray of float
        ``values``, each replaced by the smallest value of its group. Unlike
        rounding to a number of decimals, no group is split at a rounding
        boundary.

    Examples
    --------
    >>> a = sum([22 / 96, 24 / 96, 23 / 96, 21 / 96, 25 / 96]) / 5
    >>> b = sum([22 / 96, 24 / 96, 21 / 96, 25 / 96, 23 / 96]) / 5
    >>> bool(a == b)
    False
    >>> merged = merge_float_ties([a, b, 0.5])
    >>> bool(merged[0] == merged[1]), float(merged[2])
    (True, 0.5)
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise ValueError(
            f"values must be a 1-d array of finite accuracies; got {values!r}."
        )
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    group = np.concatenate([[0], np.cumsum(np.diff(ranked) > tol)])
    first = np.searchsorted(group, group)  # index of each group's smallest
    merged = np.empty_like(values)
    merged[order] = ranked[first]
    return merged


@dataclass
class RankCorrelation:
    """Rank correlation between random-feature and trained accuracy.

    Attributes
    ----------
    names : list of str
        Architectures, in the order given.
    random, trained : ndarray of shape (n,)
        Their accuracies.
    spearman, spearman_pvalue : float
        Spearman's rho and its p-value (``scipy.stats.spearmanr``: t
        approximation, rough for a handful of architectures).
    kendall, kendall_pvalue : float
        Kendall's tau-b and its p-value (``scipy.stats.kendalltau``: exact for
        small n without ties, normal approximation otherwise).
    alternative : str
        The alternative hypothesis of both p-values.
    notes : list of str
        Why a value is NaN, and ties (tied accuracies share their mean rank;
        tau-b discounts tied pairs).
    """

    names: list[str]
    random: np.ndarray
    trained: np.ndarray
    spearman: float
    spearman_pvalue: float
    kendall: float
    kendall_pvalue: float
    alternative: str = "two-sided"
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.names)

    def __str__(self) -> str:
        def fmt(x: float) -> str:
            return "n/a" if math.isnan(x) else f"{x:+.3f}"

        def fmt_p(x: float) -> str:
            return "n/a" if math.isnan(x) else f"{x:.3g}"

        lines = [
            f"rank correlation over {self.n} architectures ({self.alternative}):",
            f"  Spearman rho = {fmt(self.spearman)} "
            f"(p = {fmt_p(self.spearman_pvalue)})",
            f"  Kendall tau-b = {fmt(self.kendall)} (p = {fmt_p(self.kendall_pvalue)})",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _tie_note(values: np.ndarray, what: str) -> str | None:
    _, counts = np.unique(values, return_counts=True)
    tied = counts[counts > 1]
    if len(tied) == 0:
        return None
    return (
        f"{int(tied.sum())} of {len(values)} {what} accuracies are tied "
        f"({len(tied)} group(s)); tied values share their mean rank."
    )


def rank_correlation(
    random_accuracy: Mapping[str, float],
    trained_accuracy: Mapping[str, float],
    *,
    alternative: str = "two-sided",
) -> RankCorrelation:
    """Spearman and Kendall rank correlation across architectures.

    Parameters
    ----------
    random_accuracy : mapping of str to float
        Architecture name -> accuracy of its random-weight features (e.g. with
        the paper's SVM).
    trained_accuracy : mapping of str to float
        Architecture name -> accuracy of the same architecture trained end to
        end; the same names.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        Alternative hypothesis of the p-values. The premise predicts a
        positive correlation: ``"greater"`` tests it one-sided.

    Returns
    -------
    RankCorrelation
        Accuracies that differ by less than :data:`TIE_TOLERANCE` (float
        rounding of the same counts, see :func:`merge_float_ties`) are tied,
        in the ranks, the tie note and the all-equal check; ``random`` and
        ``trained`` keep the values as given. With fewer than 3
        architectures, or when either side's accuracies are all equal (no
        ranking), the coefficients and p-values are NaN and ``notes`` says
        why.

    Raises
    ------
    ValueError
        If the two mappings name different architectures, or an accuracy is
        not a finite number in [0, 1].

    Examples
    --------
    >>> r = rank_correlation({"a": .6, "b": .7, "c": .8, "d": .9},
    ...                      {"a": .7, "b": .75, "c": .9, "d": .95})
    >>> round(r.spearman, 3), round(r.kendall, 3), round(r.kendall_pvalue, 3)
    (1.0, 1.0, 0.083)
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(
            "alternative must be 'two-sided', 'greater' or 'less'; got "
            f"{alternative!r}."
        )
    names = list(random_accuracy)
    only_random = sorted(set(names) - set(trained_accuracy))
    only_trained = sorted(set(trained_accuracy) - set(names))
    if only_random or only_trained:
        raise ValueError(
            "random_accuracy and trained_accuracy must name the same architectures; "
            f"only random: {only_random}, only trained: {only_trained}."
        )
    random = np.array([random_accuracy[k] for k in names], dtype=float)
    trained = np.array([trained_accuracy[k] for k in names], dtype=float)
    for what, values in (("random_accuracy", random), ("trained_accuracy", trained)):
        bad = {
            k: float(v)
            for k, v in zip(names, values, strict=True)
            if not (0.0 <= v <= 1.0)
        }
        if bad:
            raise ValueError(f"{what} must hold accuracies in [0, 1]; got {bad}.")
    nan = math.nan
    result = RankCorrelation(names, random, trained, nan, nan, nan, nan, alternative)
    random, trained = merge_float_ties(random), merge_float_ties(trained)
    if len(names) < MIN_ARCHITECTURES:
        result.notes.append(
            f"a rank correlation needs at least {MIN_ARCHITECTURES} architectures; "
            f"got {len(names)}."
        )
        return result
    constant = [
        what
        for what, v in (("random", random), ("trained", trained))
        if np.all(v == v[0])
    ]
    if constant:
        result.notes.append(
            f"all {' and '.join(constant)} accuracies are equal: no ranking to "
            "correlate."
        )
        return result
    result.notes += [
        n for n in (_tie_note(random, "random"), _tie_note(trained, "trained")) if n
    ]
    rho = stats.spearmanr(random, trained, alternative=alternative)
    tau = stats.kendalltau(random, trained, alternative=alternative)
    result.spearman, result.spearman_pvalue = float(rho.statistic), float(rho.pvalue)
    result.kendall, result.kendall_pvalue = float(tau.statistic), float(tau.pvalue)
    return result


def plot_random_vs_trained(
    random_accuracy: Mapping[str, float],
    trained_accuracy: Mapping[str, float],
    *,
    ax=None,
    title: str | None = None,
):
    """Scatter plot: random-feature accuracy (x) against trained accuracy (y).

    One labelled point per architecture, the identity line (points above it
    gained from training), and the rank correlations in the title.

    Parameters
    ----------
    random_accuracy, trained_accuracy : mapping of str to float
        As for :func:`rank_correlation`.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        Title; the correlations are appended on a second line.

    Returns
    -------
    matplotlib.axes.Axes
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the extras
        raise ImportError(
            "plot_random_vs_trained needs matplotlib: pip install "
            "'skaudio-random[plots]'."
        ) from exc
    corr = rank_correlation(random_accuracy, trained_accuracy)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    x, y = 100 * corr.random, 100 * corr.trained
    ax.scatter(x, y, color="C0", zorder=3)
    for name, xi, yi in zip(corr.names, x, y, strict=True):
        ax.annotate(
            name, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8
        )
    lo = min(x.min(), y.min())
    hi = max(x.max(), y.max())
    pad = max(1.0, 0.05 * (hi - lo))
    lims = (max(0.0, lo - pad), min(100.0, hi + pad))
    ax.plot(lims, lims, color="0.5", linestyle="--", linewidth=1, label="y = x")
    ax.set_xlim(lims)
    ax.set_ylim(lims)
    ax.set_aspect("equal")
    ax.set_xlabel("random-feature accuracy (%)")
    ax.set_ylabel("trained accuracy (%)")
    if math.isnan(corr.spearman):
        stats_line = corr.notes[0] if corr.notes else ""
    else:
        stats_line = (
            f"Spearman {corr.spearman:+.2f} (p={corr.spearman_pvalue:.2g}), "
            f"Kendall {corr.kendall:+.2f} (p={corr.kendall_pvalue:.2g})"
        )
    ax.set_title(f"{title}\n{stats_line}" if title else stats_line, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def evaluate_trained(data, estimator, *, verbose: bool = False) -> dict:
    """Accuracy of a trained network on a study's folds and protocol.

    Parameters
    ----------
    data : Bunch
        A dataset bunch as :func:`skaudio_random.run_study` takes it:
        ``filenames``, ``target``, ``cv``, ``protocol`` (and ``groups``,
        passed to ``cv.split``); for ``protocol="validation"`` also
        ``test_filenames`` and ``test_target``.
    estimator : TrainedNetworkClassifier
        Cloned for every fold.
    verbose : bool, default=False
        Print each fold's accuracy.

    Returns
    -------
    dict
        ``scores`` (per fold), ``score`` (their mean), ``score_kind``
        (``"test"`` or ``"cv_mean"``), ``n_train``, ``n_test``, ``epochs`` and
        ``best_epochs`` (per fold) and ``fit_seconds``.

    Notes
    -----
    ``"validation"``: fit on the training split of ``data.cv``, early
    stopping on its validation split (where the SVM grid is selected), and
    the test split is scored once. ``"cv"``: one fit per fold of ``data.cv``
    on the training folds (early stopping on a held-out part of them, see
    ``validation_fraction``), scored on the test fold; ``score`` is the mean.
    Unlike the random-feature SVM's ``"cv"`` score (the best grid point's
    mean, selected on those same folds), nothing here is chosen on the test
    folds.
    """
    need = ["filenames", "target", "cv", "protocol"]
    absent = [k for k in need if getattr(data, k, None) is None]
    if absent:
        raise ValueError(
            f"data must be a dataset bunch with {need}; it lacks {absent}."
        )
    if data.protocol not in ("validation", "cv"):
        raise ValueError(
            f"data.protocol must be 'validation' or 'cv'; got {data.protocol!r}."
        )
    files = list(data.filenames)  # paths or waveforms

    def take(idx):
        return [files[i] for i in idx]

    y = np.asarray(data.target)
    groups = getattr(data, "groups", None)
    groups = None if groups is None else np.asarray(groups)
    splits = list(data.cv.split(np.zeros(len(y)), y, groups))
    t0 = time.perf_counter()
    scores, epochs, best = [], [], []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The groups parameter is ignored")
        if data.protocol == "validation":
            for name in ("test_filenames", "test_target"):
                if getattr(data, name, None) is None:
                    raise ValueError(
                        f"data.protocol='validation' needs data.{name}; it is absent."
                    )
            train, val = splits[0]
            est = clone(estimator).fit(
                take(train), y[train], X_val=take(val), y_val=y[val]
            )
            scores.append(float(est.score(list(data.test_filenames), data.test_target)))
            epochs.append(est.n_epochs_)
            best.append(est.best_epoch_)
            n_train, n_test = len(train), len(data.test_target)
        else:
            for k, (train, test) in enumerate(splits):
                est = clone(estimator).fit(take(train), y[train])
                scores.append(float(est.score(take(test), y[test])))
                epochs.append(est.n_epochs_)
                best.append(est.best_epoch_)
                if verbose:
                    print(f"fold {k + 1}/{len(splits)}: {100 * scores[-1]:.2f}%")
            n_train, n_test = len(y), 0
    return {
        "scores": scores,
        "score": float(np.mean(scores)),
        "score_kind": "test" if data.protocol == "validation" else "cv_mean",
        "n_train": n_train,
        "n_test": n_test,
        "epochs": epochs,
        "best_epochs": best,
        "fit_seconds": time.perf_counter() - t0,
    }
