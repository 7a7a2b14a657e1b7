"""The hyper-parameter grids of Pons & Serra (2019), ready for ``GridSearchCV``.

SVM (SPEC §5.1): 32 points, 28 RBF (C x gamma) and 4 linear (C). ELM (SPEC §5.2): six
hidden-layer sizes. The lists keep the paper's iteration order, which matters
because ``GridSearchCV`` breaks ties in favour of the first best point: C outer,
gamma inner for the RBF kernel, then the linear block.
"""

from __future__ import annotations

from numbers import Integral

__all__ = [
    "PAPER_SVM_C",
    "PAPER_SVM_GAMMAS",
    "PAPER_ELM_N_HIDDEN",
    "paper_svm_grid",
    "paper_elm_grid",
]

#: SVM penalties C, in the paper's order.
PAPER_SVM_C = (0.1, 2.0, 8.0, 32.0)

#: RBF kernel widths gamma, in the paper's order: 2**-3, 2**-5, ..., 2**-13, then
#: "auto", which is 1 / n_features (scikit-learn's meaning, and the paper's).
PAPER_SVM_GAMMAS = (2.0**-3, 2.0**-5, 2.0**-7, 2.0**-9, 2.0**-11, 2.0**-13, "auto")

#: ELM hidden-layer sizes.
PAPER_ELM_N_HIDDEN = (100, 250, 500, 1200, 1800, 2500)


def _check_prefix(prefix) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str such as 'svc__'; got {prefix!r}.")
    return prefix


def paper_svm_grid(prefix="", *, n_features=None, precomputed=False):
    """The paper's 32-point SVM grid, as a ``param_grid`` for ``GridSearchCV``.

    RBF kernel with gamma in ``2**-3, 2**-5, ..., 2**-13`` and ``"auto"``
    (1 / n_features) for each C in ``0.1, 2, 8, 32`` (28 points, C outer, gamma
    inner), then the linear kernel for each C (4 points). Iterating the returned
    list (``sklearn.model_selection.ParameterGrid``) gives the points in that order.

    Parameters
    ----------
    prefix : str, default=""
        Prepended to every key, for an SVC inside a pipeline: ``"svc__"`` for
        ``make_pipeline(..., SVC())``.

    n_features : int, default=None
        When given, ``"auto"`` is written as the float ``1 / n_features`` (useful
        when the SVM does not see the features directly, e.g. with
        ``precomputed=True`` and a kernel step that does not know "auto").

    precomputed : bool, default=False
        Address a pipeline (or pipeline fragment) with a step ``"kernel"`` that
        computes the Gram matrix (parameters ``kernel`` in {"rbf", "linear"} and
        ``gamma``) followed by a step ``"svc"``, ``SVC(kernel="precomputed")``
        (parameter ``C``). The keys become ``{prefix}kernel__kernel``,
        ``{prefix}kernel__gamma`` and ``{prefix}svc__C``; the 32 points are the
        same. The linear points carry no gamma.

    Returns
    -------
    param_grid : list of dict
        Eight dicts (four RBF blocks of seven gammas, one per C, then four linear
        points), which ``GridSearchCV`` expands to the 32 points in the paper's
        order.

    Raises
    ------
    ValueError
        If ``n_features`` is not a positive integer.

    See Also
    --------
    paper_elm_grid : The ELM grid.

    Examples
    --------
    >>> from sklearn.model_selection import ParameterGrid
    >>> from skaudio_random import paper_svm_grid
    >>> points = list(ParameterGrid(paper_svm_grid("svc__")))
    >>> len(points)
    32
    >>> points[0]
    {'svc__C': 0.1, 'svc__gamma': 0.125, 'svc__kernel': 'rbf'}
    >>> points[-1]
    {'svc__C': 32.0, 'svc__kernel': 'linear'}
    """
    prefix = _check_prefix(prefix)
    gammas = list(PAPER_SVM_GAMMAS)
    if n_features is not None:
        if (
            not isinstance(n_features, Integral)
            or isinstance(n_features, bool)
            or n_features < 1
        ):
            raise ValueError(
                "n_features must be a positive int (the width of X); "
                f"got {n_features!r}."
            )
        gammas = [1.0 / int(n_features) if g == "auto" else g for g in gammas]
    if precomputed:
        k_kernel = f"{prefix}kernel__kernel"
        k_gamma = f"{prefix}kernel__gamma"
        k_c = f"{prefix}svc__C"
    else:
        k_kernel = f"{prefix}kernel"
        k_gamma = f"{prefix}gamma"
        k_c = f"{prefix}C"

    # One dict per C keeps the C-outer / gamma-inner order under ParameterGrid,
    # which loops over a dict's keys in sorted order: with the precomputed keys
    # ("kernel__gamma" < "svc__C") a single dict would put gamma outermost.
    grid = [{k_kernel: ["rbf"], k_c: [c], k_gamma: list(gammas)} for c in PAPER_SVM_C]
    grid += [{k_kernel: ["linear"], k_c: [c]} for c in PAPER_SVM_C]
    return grid


def paper_elm_grid(prefix=""):
    """The paper's ELM grid: ``n_hidden`` in 100, 250, 500, 1200, 1800, 2500.

    Parameters
    ----------
    prefix : str, default=""
        Prepended to the key, for an :class:`ELMClassifier` inside a pipeline
        (``"elmclassifier__"`` for ``make_pipeline(..., ELMClassifier())``).

    Returns
    -------
    param_grid : dict
        ``{prefix + "n_hidden": [100, 250, 500, 1200, 1800, 2500]}``.

    See Also
    --------
    paper_svm_grid : The SVM grid.

    Examples
    --------
    >>> from skaudio_random import paper_elm_grid
    >>> paper_elm_grid("elm__")
    {'elm__n_hidden': [100, 250, 500, 1200, 1800, 2500]}
    """
    return {f"{_check_prefix(prefix)}n_hidden": list(PAPER_ELM_N_HIDDEN)}
