"""Precomputed SVM kernels in torch, shared across a grid search.

The paper's SVM grid (Pons & Serra, 2019, "Randomly weighted CNNs for (music)
audio classification", ICASSP; SPEC section 5.1) fits 32 ``SVC`` configurations
on each of 10 folds. With a few thousand clips and a few thousand features,
libsvm spends nearly all of that time recomputing the same dot products. This
module moves that work out of libsvm:

- :class:`PrecomputedKernel` is a transformer: ``fit`` keeps the training rows,
  ``transform(X)`` returns the kernel matrix ``K(X, X_fit)``. Followed by
  ``SVC(kernel="precomputed")`` (see :func:`make_kernel_svc`), it is the same
  classifier as ``SVC(kernel=..., gamma=..., C=...)``.
- The dot products come from an in-process, bounded cache of Gram matrices
  ("banks"), one per feature width, keyed by a SHA-256 digest of every row. A
  grid search therefore computes each row's dot products once, and every later
  fit (other ``C``, other ``gamma``, other fold) only slices its rows out of the
  cached matrix and applies ``exp``.

Use :func:`clear_kernel_cache`, :func:`kernel_cache_info` and
:func:`set_kernel_cache_limit` to manage the cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted, validate_data

from ._utils import resolve_device

__all__ = [
    "PrecomputedKernel",
    "make_kernel_svc",
    "clear_kernel_cache",
    "kernel_cache_info",
    "set_kernel_cache_limit",
]

#: Default bound on the memory held by the kernel cache (bytes, on ``device``).
DEFAULT_CACHE_BYTES = 1 << 30

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


# --------------------------------------------------------------------------- #
# row digests
# --------------------------------------------------------------------------- #
def _row_digests(X: np.ndarray) -> list[bytes]:
    """SHA-256 digest of the bytes of each row of a C-contiguous float64 array.

    Two rows share a digest only if they are bitwise identical (up to a SHA-256
    collision), so a cache lookup by digest can never return another row's dot
    products. Hashing reads the data once (about 2 GB/s with SHA extensions).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    return [hashlib.sha256(row).digest() for row in X]


def _as_tensor(X: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A tensor on ``device`` from a numpy array (copied if it is read-only)."""
    t = torch.from_numpy(X) if X.flags.writeable else torch.tensor(X)
    return t.to(device=device, dtype=dtype)


def _sq_dist(sq_a: torch.Tensor, sq_b: torch.Tensor, dot: torch.Tensor) -> torch.Tensor:
    """libsvm's squared distance ``(sq_a[i] + sq_b[j]) - 2 * dot[i, j]``."""
    if dot.device.type == "cpu":  # numpy: no thread-pool latency on small blocks
        out = np.add.outer(sq_a.numpy(), sq_b.numpy())
        out -= 2.0 * dot.numpy()
        return torch.from_numpy(out)
    out = sq_a[:, None] + sq_b[None, :]
    return out.sub_(dot, alpha=2)


def _symmetric_gram(A: torch.Tensor, block: int = 512) -> torch.Tensor:
    """``A @ A.T`` made exactly symmetric (upper triangle copied to the lower).

    A BLAS product need not be bitwise symmetric; libsvm's kernels are, because
    ``dot(x, y)`` and ``dot(y, x)`` add the same products in the same order.
    """
    G = A @ A.T
    for i in range(block, G.shape[0], block):
        G[i : i + block, :i] = G[:i, i : i + block].T
    for i in range(0, G.shape[0], block):  # the diagonal blocks
        j = min(i + block, G.shape[0])
        G[i:j, i:j] = torch.triu(G[i:j, i:j]) + torch.triu(G[i:j, i:j], diagonal=1).T
    return G


def _exp_neg_(D: torch.Tensor, gamma: float) -> torch.Tensor:
    """``exp(-gamma * D)`` in place, as libsvm computes the RBF kernel."""
    if D.device.type == "cpu":
        Dn = D.numpy()
        np.multiply(Dn, -gamma, out=Dn)
        np.exp(Dn, out=Dn)
        return D
    return D.mul_(-gamma).exp_()


# --------------------------------------------------------------------------- #
# the cache
# --------------------------------------------------------------------------- #
class _GramBank:
    """Rows of one width seen so far, on ``device``, with their dot products.

    ``rows[i]`` has digest ``digests[i]``; ``gram[i, j] = rows[i] @ rows[j]``,
    ``sq[i] = gram[i, i]`` and ``dist[i, j] = (sq[i] + sq[j]) - 2 * gram[i, j]``
    (libsvm's squared distance, exactly zero on the diagonal). New rows are
    appended with their dot products against all stored rows, so a row's dot
    products are computed once.
    """

    def __init__(self, n_features: int, dtype: torch.dtype, device: torch.device):
        self.n_features = n_features
        self.dtype = dtype
        self.device = device
        self.itemsize = torch.empty((), dtype=dtype).element_size()
        self.reset()

    def reset(self) -> None:
        self.index: dict[bytes, int] = {}
        empty = {"dtype": self.dtype, "device": self.device}
        self.rows = torch.empty((0, self.n_features), **empty)
        self.gram = torch.empty((0, 0), **empty)
        self.dist = torch.empty((0, 0), **empty)
        self.sq = torch.empty((0,), **empty)

    @property
    def n_rows(self) -> int:
        return self.rows.shape[0]

    def nbytes_for(self, n_rows: int) -> int:
        """Bytes held by a bank of ``n_rows`` rows (rows, two n x n matrices, norms)."""
        return self.itemsize * n_rows * (self.n_features + 2 * n_rows + 1)

    @property
    def nbytes(self) -> int:
        return self.nbytes_for(self.n_rows)

    def missing(self, requests) -> dict[bytes, tuple[int, int]]:
        """Digests of the requested rows not in the bank: (request, row) of each."""
        out: dict[bytes, tuple[int, int]] = {}
        for k, (digests, _) in enumerate(requests):
            for r, dg in enumerate(digests):
                if dg not in self.index and dg not in out:
                    out[dg] = (k, r)
        return out

    def append(self, requests, missing: dict[bytes, tuple[int, int]]) -> None:
        """Add the ``missing`` rows and their dot products with every stored row."""
        if not missing:
            return
        per_request: dict[int, list[int]] = {}
        for k, r in missing.values():
            per_request.setdefault(k, []).append(r)
        order = sorted(per_request.items())
        new_np = np.concatenate([requests[k][1][rows] for k, rows in order])
        new_digests = [requests[k][0][r] for k, rows in order for r in rows]
        new = _as_tensor(new_np, self.device, self.dtype)
        n, m = self.n_rows, new.shape[0]
        like = {"dtype": self.dtype, "device": self.device}
        gram = torch.empty((n + m, n + m), **like)
        dist = torch.empty((n + m, n + m), **like)
        gram[:n, :n] = self.gram
        dist[:n, :n] = self.dist
        self.gram = self.dist = None  # free before the new blocks are computed
        block = _symmetric_gram(new)
        sq_new = torch.diagonal(block).clone()
        gram[n:, n:] = block
        dist[n:, n:] = _sq_dist(sq_new, sq_new, block)
        if n:
            cross = new @ self.rows.T  # (m, n)
            gram[n:, :n] = cross
            gram[:n, n:] = cross.T
            cross = _sq_dist(sq_new, self.sq, cross)
            dist[n:, :n] = cross
            dist[:n, n:] = cross.T
        self.gram, self.dist = gram, dist
        self.sq = torch.cat([self.sq, sq_new])
        self.rows = torch.cat([self.rows, new])
        for i, dg in enumerate(new_digests):
            self.index[dg] = n + i

    def positions(self, digests: list[bytes]) -> np.ndarray:
        return np.fromiter((self.index[dg] for dg in digests), dtype=np.int64)

    def block(self, name: str, ia: np.ndarray, ib: np.ndarray) -> torch.Tensor:
        """A new tensor ``matrix[ia][:, ib]`` of ``gram`` or ``dist``."""
        matrix = getattr(self, name)
        if self.device.type == "cpu":  # numpy's row take and column take are faster
            m = matrix.numpy()
            return torch.from_numpy(np.take(m[ia], ib, axis=1))
        ia_t = torch.from_numpy(ia).to(self.device)
        ib_t = torch.from_numpy(ib).to(self.device)
        return matrix.index_select(0, ia_t).index_select(1, ib_t)


class _KernelCache:
    """Bounded LRU collection of :class:`_GramBank`, one per (width, dtype, device)."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.max_bytes = int(max_bytes)
        self.banks: OrderedDict[tuple, _GramBank] = OrderedDict()
        self.lock = threading.RLock()
        self.rows_computed = 0
        self.rows_reused = 0

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.banks.values())

    def clear(self) -> None:
        with self.lock:
            self.banks.clear()
            self.rows_computed = 0
            self.rows_reused = 0

    def _evict_others(self, keep: tuple, needed: int) -> None:
        """Drop least recently used banks (not ``keep``) until ``needed`` more fit."""
        for key in list(self.banks):
            if self.nbytes + needed <= self.max_bytes:
                return
            if key != keep:
                del self.banks[key]

    def block(self, name: str, requests, dtype: torch.dtype, device: torch.device):
        """``matrix[rows of requests[0]][:, rows of requests[-1]]``, from the cache.

        ``name`` is ``"gram"`` or ``"dist"``; ``requests`` is a list of one or
        two ``(digests, rows)`` with ``rows`` a float64 array. Missing rows are
        added to the bank first. Returns a new tensor, or ``None`` when the rows
        of this one call do not fit in the cache (the caller then computes them
        directly). The whole operation holds the lock, so threads never see a
        bank in the middle of growing or restarting.
        """
        n_features = requests[0][1].shape[1]
        key = (n_features, dtype, str(device))
        with self.lock:
            bank = self.banks.get(key)
            if bank is None:
                bank = self.banks[key] = _GramBank(n_features, dtype, device)
            self.banks.move_to_end(key)
            missing = bank.missing(requests)
            if missing:
                growth = bank.nbytes_for(bank.n_rows + len(missing)) - bank.nbytes
                self._evict_others(key, growth)
                if self.nbytes + growth > self.max_bytes:
                    # Start this bank afresh with the rows of this call only.
                    bank.reset()
                    missing = bank.missing(requests)
                    if self.nbytes + bank.nbytes_for(len(missing)) > self.max_bytes:
                        del self.banks[key]
                        return None
                try:
                    bank.append(requests, missing)
                except BaseException:  # e.g. out of memory: never keep a half bank
                    del self.banks[key]
                    raise
            n_asked = sum(len(d) for d, _ in requests)
            self.rows_computed += len(missing)
            self.rows_reused += n_asked - len(missing)
            ia = bank.positions(requests[0][0])
            ib = ia if len(requests) == 1 else bank.positions(requests[-1][0])
            return bank.block(name, ia, ib)


_CACHE = _KernelCache()


def clear_kernel_cache() -> None:
    """Empty the in-process kernel cache of :class:`PrecomputedKernel`.

    Frees the cached Gram matrices and resets the counters reported by
    :func:`kernel_cache_info`.

    Examples
    --------
    >>> from skaudio_random import clear_kernel_cache, kernel_cache_info
    >>> clear_kernel_cache()
    >>> kernel_cache_info()["n_rows"]
    0
    """
    _CACHE.clear()


def kernel_cache_info() -> dict:
    """Describe the in-process kernel cache of :class:`PrecomputedKernel`.

    Returns
    -------
    info : dict
        ``n_banks`` (one per feature width, dtype and device), ``n_rows`` (rows
        held), ``nbytes`` (memory held: rows, n x n matrices, norms), ``max_bytes``
        (the bound, see :func:`set_kernel_cache_limit`), ``rows_computed`` (rows
        whose dot products were computed since the last clear) and
        ``rows_reused`` (rows served from the cache).

    Examples
    --------
    >>> from skaudio_random import kernel_cache_info
    >>> sorted(kernel_cache_info())
    ['max_bytes', 'n_banks', 'n_rows', 'nbytes', 'rows_computed', 'rows_reused']
    """
    with _CACHE.lock:
        return {
            "n_banks": len(_CACHE.banks),
            "n_rows": sum(b.n_rows for b in _CACHE.banks.values()),
            "nbytes": _CACHE.nbytes,
            "max_bytes": _CACHE.max_bytes,
            "rows_computed": _CACHE.rows_computed,
            "rows_reused": _CACHE.rows_reused,
        }


@validate_params(
    {"max_bytes": [Interval(Integral, 0, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def set_kernel_cache_limit(max_bytes: int) -> int:
    """Bound the memory of the in-process kernel cache.

    Parameters
    ----------
    max_bytes : int
        Most bytes the cache may hold on each process (rows, Gram and squared
        distance matrices, norms, on the estimators' ``device``). ``0`` disables
        caching. A bank of ``n`` rows of ``d`` float64 features needs
        ``8 * n * (d + 2 * n + 1)`` bytes (4180 x 3584: 400 MB). Banks in excess
        are dropped, least recently used first.

    Returns
    -------
    previous : int
        The previous bound, so that it can be restored.

    Examples
    --------
    >>> from skaudio_random import set_kernel_cache_limit
    >>> previous = set_kernel_cache_limit(2**31)
    >>> _ = set_kernel_cache_limit(previous)
    """
    with _CACHE.lock:
        previous = _CACHE.max_bytes
        _CACHE.max_bytes = int(max_bytes)
        _CACHE._evict_others(keep=None, needed=0)
        return previous


# --------------------------------------------------------------------------- #
# the transformer
# --------------------------------------------------------------------------- #
class PrecomputedKernel(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Kernel matrix against the training rows, for ``SVC(kernel="precomputed")``.

    ``fit(X)`` stores the training rows ``X_fit_``; ``transform(X)`` returns
    ``K(X, X_fit_)`` of shape ``(n_samples, n_fit)``, computed in torch on
    ``device``. Followed by ``SVC(kernel="precomputed", C=C)`` it is the same
    classifier as ``SVC(kernel=kernel, gamma=gamma, C=C)`` (see
    :func:`make_kernel_svc`), but a grid search over ``C``, ``gamma`` and folds
    computes every dot product once instead of once per fit.

    Parameters
    ----------
    kernel : {"rbf", "linear"}, default="rbf"
        ``"rbf"``: ``exp(-gamma * ||x - y||^2)``; ``"linear"``: ``x @ y``.

    gamma : {"scale", "auto"} or float, default="scale"
        RBF coefficient, as in :class:`sklearn.svm.SVC`: ``"scale"`` uses
        ``1 / (n_features * X.var())`` of the training rows, ``"auto"`` uses
        ``1 / n_features``. Ignored by the linear kernel.

    device : {"auto", "cpu", "cuda"} or str or torch.device, default="auto"
        Where the dot products are computed and cached. ``"auto"`` picks CUDA
        when available.

    dtype : {"float64", "float32"}, default="float64"
        Precision of the computation. ``"float64"`` matches libsvm (which
        computes its kernels in double) to about 1e-15; ``"float32"`` is faster
        on GPUs but can change which hyper-parameters a grid selects.

    cache : bool, default=True
        Share dot products through the in-process cache (see Notes). ``False``
        computes ``K`` from scratch at every call.

    Attributes
    ----------
    X_fit_ : ndarray of shape (n_fit, n_features_in_)
        A float64 copy of the training rows.

    gamma_ : float
        The RBF coefficient in use (``gamma`` with ``"scale"``/``"auto"``
        resolved); ``0.0`` for the linear kernel.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    make_kernel_svc : This transformer followed by ``SVC(kernel="precomputed")``.
    sklearn.svm.SVC : The classifier it stands in for.
    sklearn.metrics.pairwise.rbf_kernel : The same RBF kernel in numpy.

    Notes
    -----
    **Cache.** With ``cache=True`` the rows are identified by the SHA-256 digest
    of their float64 bytes, so only bitwise-identical rows share cached values:
    a stale hit for different data is impossible, whatever the array's identity,
    shape or history. Each process keeps, per feature width, dtype and device,
    one "bank": all distinct rows it has seen, their Gram matrix and their
    squared distances. New rows are appended with their dot products against
    the stored ones; each ``fit_transform`` or ``transform`` slices its block
    out and, for the RBF kernel, applies ``exp``. The cache holds at most
    :func:`set_kernel_cache_limit` bytes (default 1 GiB; 4180 rows x 3584
    features take 400 MB, and growing a bank briefly needs the old matrices
    besides the new ones). When a call's rows do not fit, the bank restarts from
    them, or the kernel is computed without the cache.

    Reuse needs the rows reaching the kernel to be the same across folds: a
    :class:`~sklearn.model_selection.GridSearchCV` with ``n_jobs=1`` over raw
    features (the paper's setting) computes each row's dot products once.
    Worker processes (``n_jobs > 1``) each keep their own cache: correct, with
    less reuse. A fold-fitted step before the kernel (e.g. a ``StandardScaler``)
    gives every fold new rows: results stay correct, but the bank grows by the
    whole data set per fold, and once that exceeds the bound it is rebuilt at
    almost every call and saves nothing. Scale outside the search then.

    **Equivalence with libsvm.** Distances are formed as libsvm forms them,
    ``sq[i] + sq[j] - 2 * dot(x_i, x_j)`` with ``sq[i] = dot(x_i, x_i)``, and
    kernel matrices of a row set with itself are exactly symmetric with an
    exactly unit diagonal. The dot products differ from libsvm's only in
    summation order (about 1e-16 relative), and libsvm stores its training
    kernel in single precision, so the fitted SVMs, their predictions and the
    scores of a grid search agree with plain ``SVC``.

    References
    ----------
    .. [1] J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio
       classification", ICASSP 2019, arXiv:1805.00237.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import PrecomputedKernel
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> K = PrecomputedKernel(gamma=0.5, device="cpu").fit_transform(X)
    >>> K.shape
    (3, 3)
    >>> np.round(K[0], 4)
    array([1.    , 0.3679, 0.6065])
    """

    _parameter_constraints: dict = {
        "kernel": [StrOptions({"rbf", "linear"})],
        "gamma": [
            StrOptions({"scale", "auto"}),
            Interval(Real, 0.0, None, closed="left"),
        ],
        "device": [str, torch.device],
        "dtype": [StrOptions(set(_DTYPES))],
        "cache": ["boolean"],
    }

    def __init__(
        self, kernel="rbf", gamma="scale", *, device="auto", dtype="float64", cache=True
    ):
        self.kernel = kernel
        self.gamma = gamma
        self.device = device
        self.dtype = dtype
        self.cache = cache

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Store the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows.

        y : None
            Ignored.

        Returns
        -------
        self : PrecomputedKernel
            The fitted transformer.
        """
        resolve_device(self.device)  # device problems surface at fit
        X = validate_data(self, X, dtype=np.float64, order="C", copy=True)
        if self.kernel == "linear":
            self.gamma_ = 0.0
        elif self.gamma == "scale":  # as sklearn.svm.SVC computes it
            X_var = X.var()
            self.gamma_ = 1.0 / (X.shape[1] * X_var) if X_var != 0 else 1.0
        elif self.gamma == "auto":
            self.gamma_ = 1.0 / X.shape[1]
        else:
            self.gamma_ = float(self.gamma)
        self.X_fit_ = X
        self._fit_digests = _row_digests(X) if self.cache else None
        self._n_features_out = X.shape[0]
        return self

    def fit_transform(self, X, y=None):
        """Fit, then return the kernel matrix of the training rows with themselves.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows.

        y : None
            Ignored.

        Returns
        -------
        K : ndarray of shape (n_samples, n_samples)
            ``K(X, X)``: symmetric, with a unit diagonal for the RBF kernel.
        """
        self.fit(X, y)
        return self._kernel(self.X_fit_, self._fit_digests, same=True)

    def transform(self, X):
        """Kernel matrix between ``X`` and the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to compare with the training rows.

        Returns
        -------
        K : ndarray of shape (n_samples, n_fit)
            ``K[i, j] = k(X[i], X_fit_[j])``, float64 (float32 with
            ``dtype="float32"``).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, order="C", reset=False)
        digests = _row_digests(X) if self._fit_digests is not None else None
        return self._kernel(X, digests, same=False)

    def _kernel(self, X: np.ndarray, digests, same: bool) -> np.ndarray:
        device = resolve_device(self.device)
        dtype = _DTYPES[self.dtype]
        rbf = self.kernel == "rbf"
        with torch.inference_mode():
            K = None
            if digests is not None:
                requests = [(digests, X)]
                if not same:
                    requests.append((self._fit_digests, self.X_fit_))
                K = _CACHE.block("dist" if rbf else "gram", requests, dtype, device)
            if K is None:
                A = _as_tensor(X, device, dtype)
                if same:
                    K = _symmetric_gram(A)
                    if rbf:
                        sq = torch.diagonal(K).clone()
                        K = _sq_dist(sq, sq, K)
                else:
                    B = _as_tensor(self.X_fit_, device, dtype)
                    K = A @ B.T
                    if rbf:
                        sq_a = torch.linalg.vecdot(A, A)
                        sq_b = torch.linalg.vecdot(B, B)
                        K = _sq_dist(sq_a, sq_b, K)
            if rbf:  # libsvm: exp(-gamma * (x_square[i] + x_square[j] - 2 * dot))
                K = _exp_neg_(K, self.gamma_)
            return np.ascontiguousarray(K.cpu().numpy())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


@validate_params(
    {
        "kernel": [StrOptions({"rbf", "linear"})],
        "gamma": [
            StrOptions({"scale", "auto"}),
            Interval(Real, 0.0, None, closed="left"),
        ],
        "C": [Interval(Real, 0.0, None, closed="neither")],
        "device": [str, torch.device],
        "dtype": [StrOptions(set(_DTYPES))],
        "cache": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_kernel_svc(
    *,
    kernel="rbf",
    gamma="scale",
    C=1.0,
    device="auto",
    dtype="float64",
    cache=True,
    **svc_params,
) -> Pipeline:
    """An ``SVC`` whose kernel is computed in torch and shared across a grid.

    Returns ``Pipeline([("kernel", PrecomputedKernel(...)), ("svc",
    SVC(kernel="precomputed", C=C, ...))])``: the same classifier as
    ``SVC(kernel=kernel, gamma=gamma, C=C, **svc_params)``. Grid parameters are
    ``kernel__kernel``, ``kernel__gamma`` and ``svc__C``.

    Parameters
    ----------
    kernel : {"rbf", "linear"}, default="rbf"
        Kernel of :class:`PrecomputedKernel`.

    gamma : {"scale", "auto"} or float, default="scale"
        RBF coefficient of :class:`PrecomputedKernel`.

    C : float, default=1.0
        Regularisation parameter of the SVC.

    device : {"auto", "cpu", "cuda"} or str or torch.device, default="auto"
        Where the kernel is computed and cached.

    dtype : {"float64", "float32"}, default="float64"
        Precision of the kernel computation.

    cache : bool, default=True
        Share dot products through the in-process cache (see
        :class:`PrecomputedKernel`).

    **svc_params
        Other :class:`sklearn.svm.SVC` parameters (``class_weight``, ``tol``,
        ``probability``, ...). ``degree`` and ``coef0`` have no meaning here.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"kernel"`` and ``"svc"``.

    See Also
    --------
    PrecomputedKernel : The kernel step.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skaudio_random import make_kernel_svc
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 4)), rng.normal(2, 1, (20, 4))]
    >>> y = np.r_[np.zeros(20), np.ones(20)]
    >>> grid = {"kernel__gamma": [0.125, "auto"], "svc__C": [0.1, 2]}
    >>> search = GridSearchCV(make_kernel_svc(device="cpu"), grid, cv=5).fit(X, y)
    >>> search.best_params_["kernel__gamma"] in (0.125, "auto")
    True
    """
    bad = sorted({"degree", "coef0"} & set(svc_params))
    if bad:
        raise TypeError(
            f"make_kernel_svc got SVC parameter(s) {bad} that the precomputed kernel "
            "has no use for; its kernels are 'rbf' and 'linear'."
        )
    return Pipeline(
        [
            (
                "kernel",
                PrecomputedKernel(
                    kernel=kernel, gamma=gamma, device=device, dtype=dtype, cache=cache
                ),
            ),
            ("svc", SVC(kernel="precomputed", C=C, **svc_params)),
        ]
    )
