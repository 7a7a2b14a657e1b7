"""Extreme Learning Machine classifier, the classifier of Pons & Serra (2019).

An Extreme Learning Machine (ELM; Huang, Zhu & Siew, 2006) is a single hidden layer
network whose hidden weights are drawn at random and never trained; only the output
weights are fit, by linear least squares. Pons & Serra ("Randomly weighted CNNs for
(music) audio classification", ICASSP 2019) put it after their random CNN features,
as the pair "random features + random classifier".
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import torch
from scipy.linalg import blas, lapack
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._utils import make_generator, resolve_device, seed_from_random_state

__all__ = ["ELMClassifier"]


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


# In-place activations g(z), applied to the pre-activations X W1 + b.
ACTIVATIONS = {
    "relu": torch.relu_,
    "sigmoid": torch.sigmoid_,
    "tanh": torch.tanh_,
    "identity": _identity,
}

_DTYPES = {"float32": torch.float32, "float64": torch.float64}

# Relative singular-value cut-off of the pseudo-inverse: scipy.linalg.pinv2's default
# for float64 (cond = 1e6 * eps), the solver of the paper's ELM (SPEC §5.2).
PINV_RTOL = 1e6 * np.finfo(np.float64).eps

# The Gram (normal-equation) path is taken for alpha=0 only when LAPACK's estimate of
# the reciprocal 1-norm condition number of the Gram matrix is at least this. The
# estimate is within a small factor of the true value, so the singular values of H
# then all exceed ~1e-5 * sigma_max: the pinv cut-off (2.2e-10 * sigma_max) discards
# nothing, and the Cholesky solution equals pinv(H) @ T to ~1e-8 relative.
_GRAM_MIN_RCOND = 1e-10


class _HiddenCache:
    """Bounded LRU of drawn hidden layers, keyed by seed, shapes and settings."""

    def __init__(self, max_bytes: int = 256 << 20):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple, draw) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        W, b = draw(key[1])
        W.flags.writeable = b.flags.writeable = False  # shared between estimators
        with self.lock:
            self.entries[key] = (W, b)
            while len(self.entries) > 1 and self.nbytes > self.max_bytes:
                self.entries.popitem(last=False)
        return W, b

    @property
    def nbytes(self) -> int:
        return sum(W.nbytes + b.nbytes for W, b in self.entries.values())


_HIDDEN_CACHE = _HiddenCache()


def _to_tensor(a: np.ndarray, dtype, device: torch.device) -> torch.Tensor:
    """``a`` as a tensor on ``device``, sharing memory where possible."""
    a = np.ascontiguousarray(a, dtype=dtype)
    if not a.flags.writeable:  # e.g. a read-only memmap: torch wants writable memory
        a = a.copy()
    return torch.from_numpy(a).to(device)


def _gram(H: torch.Tensor, *, rows: bool) -> np.ndarray:
    """H^T H (``rows=False``) or H H^T (``rows=True``) as a float64 CPU array."""
    if H.device.type == "cpu":
        Hn = H.numpy()
        # dsyrk fills one triangle only, at half the cost of a general product;
        # Hn.T is Fortran-ordered, so nothing is copied.
        G = blas.dsyrk(1.0, Hn.T, trans=1 if rows else 0, lower=0)
        return np.triu(G) + np.triu(G, 1).T
    G = H @ H.T if rows else H.T @ H
    return G.cpu().numpy()


def _cholesky_solve(G: np.ndarray, B: np.ndarray, *, min_rcond: float | None):
    """Solve G X = B for symmetric positive definite G; None if G is not (safely) PD."""
    c, info = lapack.dpotrf(G, lower=0, clean=1)
    if info != 0:
        return None
    if min_rcond is not None:
        anorm = np.abs(G).sum(axis=0).max()
        rcond, info = lapack.dpocon(c, anorm)
        if info != 0 or not rcond >= min_rcond:
            return None
    return scipy.linalg.cho_solve((c, False), B, check_finite=False)


def _least_squares(H: torch.Tensor, T: torch.Tensor, alpha: float):
    """Output weights for H @ W ~ T, in float64.

    ``alpha == 0``: ``W = pinv(H) @ T`` with the SVD cut-off ``PINV_RTOL``; computed
    through the Gram matrix of the smaller side and a Cholesky factorisation when H is
    well conditioned (the result is then the same), by an SVD otherwise.
    ``alpha > 0``: ridge, ``W = (H^T H + alpha I)^-1 H^T T``, solved on the smaller
    side.

    Returns the weights (numpy, shape (n_hidden, n_outputs)) and the path taken.
    """
    n_samples, n_hidden = H.shape
    if alpha > 0:
        if n_samples >= n_hidden:
            G = _gram(H, rows=False)
            G[np.diag_indices_from(G)] += alpha
            B = (H.T @ T).cpu().numpy()
            W = _cholesky_solve(G, B, min_rcond=None)
            if W is None:  # alpha below rounding level of G: fall back to LU
                W = scipy.linalg.solve(G, B, assume_a="sym")
            return W, "ridge-primal"
        K = _gram(H, rows=True)
        K[np.diag_indices_from(K)] += alpha
        Tn = T.cpu().numpy()
        A = _cholesky_solve(K, Tn, min_rcond=None)
        if A is None:
            A = scipy.linalg.solve(K, Tn, assume_a="sym")
        W = (H.T @ torch.as_tensor(A, device=H.device)).cpu().numpy()
        return W, "ridge-dual"

    # alpha == 0: pseudo-inverse. All-zero rows (zero sample weight) and columns (dead
    # ReLU units) are dropped first; that leaves pinv(H) unchanged.
    W = np.zeros((n_hidden, T.shape[1]))
    nonzero = H != 0
    rows = nonzero.any(dim=1)
    cols = nonzero.any(dim=0)
    del nonzero
    if not bool(rows.any()):
        return W, "pinv-zero"
    if not bool(rows.all()):
        H, T = H[rows], T[rows]
    if not bool(cols.all()):
        H = H[:, cols]
    cols = cols.cpu().numpy()
    n_samples, n_hidden = H.shape
    if n_samples >= n_hidden:
        Wc = _cholesky_solve(
            _gram(H, rows=False),
            (H.T @ T).cpu().numpy(),
            min_rcond=_GRAM_MIN_RCOND,
        )
        path = "pinv-gram-primal"
    else:
        A = _cholesky_solve(
            _gram(H, rows=True), T.cpu().numpy(), min_rcond=_GRAM_MIN_RCOND
        )
        Wc = None if A is None else (H.T @ torch.as_tensor(A, device=H.device))
        Wc = None if Wc is None else Wc.cpu().numpy()
        path = "pinv-gram-dual"
    if Wc is None:
        # Ill-conditioned or rank deficient: the SVD with the paper's cut-off.
        path = "pinv-svd"
        if H.device.type == "cpu":
            # LAPACK gelsd: SVD least squares with singular values <= rtol * s_max
            # treated as zero, i.e. pinv(H) @ T, without forming U (~2x faster).
            Wc = torch.linalg.lstsq(H, T, rcond=PINV_RTOL, driver="gelsd")
            Wc = Wc.solution.numpy()
        else:
            U, S, Vh = torch.linalg.svd(H, full_matrices=False)
            keep = S > PINV_RTOL * S[0]
            U, S, Vh = U[:, keep], S[keep], Vh[keep]
            Wc = (Vh.T @ ((U.T @ T) / S[:, None])).cpu().numpy()
    W[cols] = Wc
    return W, path


class ELMClassifier(ClassifierMixin, BaseEstimator):
    """Extreme Learning Machine classifier (random hidden layer, least-squares output).

    The hidden layer ``H = g(X @ W1 + b)`` has weights ``W1`` and biases ``b`` drawn
    once per :meth:`fit` from ``random_state`` and never trained. The targets are
    coded +1/-1, one column per class, and the output weights ``W2`` solve the linear
    least-squares problem ``H @ W2 ~ T``: with ``alpha=0`` (the paper) by the
    Moore-Penrose pseudo-inverse, ``W2 = pinv(H) @ T``; with ``alpha > 0`` by ridge
    regression, ``W2 = (H^T H + alpha I)^-1 H^T T``. The predicted class is the
    column with the largest score ``g(X @ W1 + b) @ W2``.

    The defaults are the classifier of Pons & Serra (2019): N(0, 1) weights and
    biases, ReLU units, no regularisation, no input scaling; they tune ``n_hidden``
    over ``(100, 250, 500, 1200, 1800, 2500)`` (see :func:`paper_elm_grid`).

    Parameters
    ----------
    n_hidden : int, default=500
        Number of hidden units.

    activation : {"relu", "sigmoid", "tanh", "identity"}, default="relu"
        Hidden-unit non-linearity ``g``. ``"relu"`` is the paper's.

    weight_scale : {"unit", "fan_in"}, default="unit"
        Standard deviation of the hidden weights ``W1``. ``"unit"``: i.i.d.
        N(0, 1), the paper's choice. ``"fan_in"``: N(0, 1 / n_features), the
        scaling the ELM literature uses for wide inputs (it keeps the
        pre-activations of standardised features at unit scale instead of growing
        with the number of features). The biases are N(0, 1) in both cases.

    alpha : float, default=0.0
        Ridge penalty on the output weights. ``0`` uses the pseudo-inverse, as the
        paper does (singular values below ``1e6 * eps * sigma_max`` are cut, the
        default of ``scipy.linalg.pinv2`` that it used).

    dtype : {"float64", "float32"}, default="float64"
        Precision of the hidden layer, i.e. of the two products ``X @ W1`` (in
        :meth:`fit` and at prediction) that dominate the cost. The least-squares
        solve and the scores ``H @ W2`` are float64 in both cases. ``"float32"``
        saves 15-30 % of the CPU time at the paper's largest size (more on a GPU,
        where it is the natural choice); see Notes.

    device : {"auto", "cpu", "cuda"} or str or torch.device, default="auto"
        Where the hidden layer is computed. ``"auto"`` uses CUDA when available.
        The weights are drawn on the CPU, so a seed gives the same model anywhere.

    random_state : int, RandomState instance or None, default=None
        Draws ``W1`` and ``b``. Pass an int for reproducible output across multiple
        function calls. With ``None`` every call to :meth:`fit` draws new weights,
        as in the paper.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (for multi-label targets, ``arange(n_labels)``).

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :meth:`fit`, when ``X`` has string column
        names.

    hidden_weights_ : ndarray of shape (n_features_in_, n_hidden)
        Random input-to-hidden weights ``W1``, in ``dtype``. Read-only when
        ``random_state`` is an int: the draw is shared, through a small
        in-process cache, with the other ELMs of the same seed and shapes.

    hidden_bias_ : ndarray of shape (n_hidden,)
        Random hidden biases ``b``, in ``dtype`` (read-only, as ``hidden_weights_``).

    output_weights_ : ndarray of shape (n_hidden, n_outputs)
        Fitted hidden-to-output weights ``W2`` (float64). ``n_outputs`` is 1 for
        binary targets, else the number of classes or labels.

    solver_ : str
        How ``W2`` was computed: ``"pinv-gram-primal"`` / ``"pinv-gram-dual"``
        (Cholesky on ``H^T H`` / ``H H^T``, used when H is well conditioned),
        ``"pinv-svd"`` (SVD least squares, otherwise), ``"pinv-zero"`` (H is all zeros),
        ``"ridge-primal"`` / ``"ridge-dual"``.

    See Also
    --------
    sklearn.svm.SVC : The paper's other classifier; see :func:`paper_svm_grid`.
    sklearn.kernel_approximation.RBFSampler : Random Fourier features, another
        random-feature model (combine with a linear classifier).

    Notes
    -----
    Numerics. By default everything is float64, as in the paper's NumPy code; a
    row's scores then do not depend on the other rows predicted with it (beyond
    float64 rounding). With ``dtype="float32"``, ``X`` and ``W1`` are cast to
    float32 for the hidden layer: for features that come out of the float32 CNN
    transformers this loses little (decision values move by 1e-6 relative when
    ``H`` is well conditioned, up to 1e-4 when not; no predicted label changed in
    the benchmarks), but a row's scores then depend on the batch it is computed in,
    which scikit-learn's ``check_methods_subset_invariance`` rejects. The Gram
    matrix, the solve and ``H @ W2`` are always float64.

    For ``alpha=0`` the result is the pseudo-inverse solution of the paper. When
    ``H`` (less its all-zero rows and columns, which do not change the
    pseudo-inverse) is well conditioned, every singular value is far above the
    cut-off and ``pinv(H) @ T`` is computed as ``(H^T H)^-1 H^T T`` (or
    ``H^T (H H^T)^-1 T`` when ``n_samples < n_hidden``) with a Cholesky
    factorisation, many times faster than an SVD and equal to it to 1e-7 relative
    or better (the path is taken only when LAPACK's estimate of the reciprocal
    condition number of the Gram matrix is at least 1e-10). Otherwise (e.g.
    ``n_hidden`` close to ``n_samples``, or low-dimensional inputs, which make
    many ReLU units linear in ``X``) an SVD with the cut-off is used (LAPACK's
    ``gelsd`` on the CPU, which skips forming the left singular vectors). ``solver_``
    records the path.

    ``sample_weight`` multiplies the squared error of each sample (weighted least
    squares): a weight of 2 is the same as repeating the sample.

    The whole hidden layer is held in memory (``n_samples x n_hidden`` floats).
    Inside ``GridSearchCV(n_jobs=k)`` every worker runs torch with its own threads;
    limit them (``torch.set_num_threads``) to avoid oversubscription.

    References
    ----------
    .. [1] J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio
       classification", ICASSP 2019. arXiv:1805.00237.
    .. [2] G.-B. Huang, Q.-Y. Zhu and C.-K. Siew, "Extreme learning machine: theory
       and applications", Neurocomputing 70 (2006) 489-501.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skaudio_random import ELMClassifier
    >>> X, y = make_classification(n_samples=300, n_features=20, random_state=0)
    >>> clf = ELMClassifier(n_hidden=50, device="cpu", random_state=0).fit(X, y)
    >>> clf.predict(X[:4]).shape
    (4,)
    >>> float(clf.predict_proba(X[:1]).sum())
    1.0
    >>> bool(clf.score(X, y) > 0.9)
    True

    The paper's model selection, on standardised features here:

    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skaudio_random import paper_elm_grid
    >>> pipe = make_pipeline(StandardScaler(), ELMClassifier(random_state=0))
    >>> search = GridSearchCV(pipe, paper_elm_grid("elmclassifier__"), cv=3)
    >>> search.fit(X, y).best_params_
    {'elmclassifier__n_hidden': 1200}
    """

    _parameter_constraints: dict = {
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "weight_scale": [StrOptions({"unit", "fan_in"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "dtype": [StrOptions(set(_DTYPES))],
        "device": [str, torch.device],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        n_hidden=500,
        activation="relu",
        weight_scale="unit",
        alpha=0.0,
        dtype="float64",
        device="auto",
        random_state=None,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.weight_scale = weight_scale
        self.alpha = alpha
        self.dtype = dtype
        self.device = device
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    # -- hidden layer ---------------------------------------------------------

    def _draw_hidden(self, n_features: int):
        """W1 (n_features, n_hidden) and b (n_hidden,), drawn on the CPU in float64.

        With an int ``random_state`` the draw is a pure function of the seed and
        the shapes, so it is kept in a small in-process cache (read-only arrays):
        a grid search refits the same ELM on every fold, and drawing the weights
        was a large share of its fits. Other ``random_state`` values draw anew.
        """
        seed = self.random_state
        if isinstance(seed, Integral) and not isinstance(seed, bool):
            key = (int(seed), n_features, self.n_hidden, self.weight_scale, self.dtype)
            return _HIDDEN_CACHE.get(key, self._draw_hidden_uncached)
        return self._draw_hidden_uncached(n_features)

    def _draw_hidden_uncached(self, n_features: int):
        gen = make_generator(seed_from_random_state(self.random_state))
        W = torch.randn(n_features, self.n_hidden, generator=gen, dtype=torch.float64)
        b = torch.randn(self.n_hidden, generator=gen, dtype=torch.float64)
        if self.weight_scale == "fan_in":
            W /= math.sqrt(n_features)
        dtype = _DTYPES[self.dtype]
        return W.to(dtype).numpy(), b.to(dtype).numpy()

    def _hidden(self, X: np.ndarray, device: torch.device) -> torch.Tensor:
        """H = g(X @ W1 + b) on ``device``, in the hidden weights' precision."""
        W = _to_tensor(self.hidden_weights_, self.hidden_weights_.dtype, device)
        b = _to_tensor(self.hidden_bias_, self.hidden_weights_.dtype, device)
        H = torch.addmm(b, _to_tensor(X, self.hidden_weights_.dtype, device), W)
        return ACTIVATIONS[self.activation](H)

    # -- fit / predict ----------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Draw the hidden layer and fit the output weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features (finite values).

        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels (binary or multi-class), or a binary indicator matrix
            for multi-label classification.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample in the squared error.

        Returns
        -------
        self : ELMClassifier
            The fitted classifier.

        Raises
        ------
        ValueError
            If ``X`` holds NaN or infinity, if ``y`` has fewer than two classes,
            or if the device is not available.
        """
        X, y = validate_data(
            self, X, y, multi_output=True, dtype=(np.float64, np.float32)
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y")
        if target_type not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(
                "ELMClassifier supports binary, multi-class and multi-label "
                f"(indicator matrix) targets; y is {target_type!r}."
            )
        binarizer = LabelBinarizer(neg_label=-1, pos_label=1)
        T = binarizer.fit_transform(y).astype(np.float64)
        if target_type != "multilabel-indicator" and len(binarizer.classes_) < 2:
            raise ValueError(
                "ELMClassifier needs samples of at least 2 classes in y; got 1 class "
                f"({binarizer.classes_[0]!r})."
            )
        return self._fit_targets(X, binarizer, T, sample_weight)

    def _fit_targets(self, X, binarizer, T, sample_weight=None):
        """The fit once ``X`` is validated and ``y`` coded as ``T`` by ``binarizer``.

        The study's grid search (:mod:`skaudio_random.study._search`) codes the
        labels of a split once and calls this for every candidate.
        """
        device = resolve_device(self.device)
        self._label_binarizer = binarizer
        self.classes_ = binarizer.classes_
        self.hidden_weights_, self.hidden_bias_ = self._draw_hidden(X.shape[1])
        with torch.inference_mode():
            H = self._hidden(X, device).to(torch.float64)
            Tt = torch.from_numpy(T).to(device)
            if sample_weight is not None:
                sw = _check_sample_weight(
                    sample_weight, X, dtype=np.float64, ensure_non_negative=True
                )
                root = torch.from_numpy(np.sqrt(sw)).to(device)[:, None]
                H *= root
                Tt = Tt * root
            self.output_weights_, self.solver_ = _least_squares(
                H, Tt, float(self.alpha)
            )
        return self

    def decision_function(self, X):
        """Scores ``g(X @ W1 + b) @ W2``, one column per class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            For binary targets a 1-D array, positive for ``classes_[1]``;
            otherwise one column per class (or label). The training targets
            were coded +1/-1, so the scores are on that scale.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self._scores(X)

    def _scores(self, X):
        """:meth:`decision_function` of a validated ``X``."""
        device = resolve_device(self.device)
        with torch.inference_mode():
            H = self._hidden(X, device).to(torch.float64)
            W = torch.from_numpy(self.output_weights_).to(device)
            scores = (H @ W).cpu().numpy()
        if scores.shape[1] == 1:
            return scores.ravel()
        return scores

    def predict(self, X):
        """Predict class labels (the class with the largest score).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted labels; for multi-label targets an indicator matrix
            (score > 0).
        """
        return self._labels(self.decision_function(X))

    def _labels(self, scores):
        """Labels from :meth:`decision_function`'s scores."""
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return (scores > 0).astype(int)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def predict_proba(self, X):
        """Class scores mapped to [0, 1]: a softmax of the decision values.

        The ELM is not a probabilistic model; these are monotone transforms of
        :meth:`decision_function`, not calibrated probabilities (wrap the model in
        :class:`sklearn.calibration.CalibratedClassifierCV` for those). Multi-class:
        softmax over the columns. Binary: softmax of ``(-d, d)``, i.e.
        ``sigmoid(2 d)`` for ``classes_[1]``. Multi-label: ``sigmoid(2 d)`` per label.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to 1 (except multi-label, one independent value per label).
        """
        scores = self.decision_function(X)
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return expit(2 * scores)
        if scores.ndim == 1:
            p = expit(2 * scores)
            return np.column_stack([1 - p, p])
        return softmax(scores, axis=1)
