"""Process-wide native thread limits shared by every part of the package.

BLAS and OpenMP thread counts are process-wide. Two independent limiters
(``threadpoolctl`` objects each saving and restoring "the original" count)
undo each other when their holders overlap without nesting: a Dask task ends
and restores BLAS to the machine's threads while another thread is still
computing an MFCC that must run on one, and the MFCC then restores the one
thread it saw on entry, for good. So every limit of the package goes through
one reference-counted limiter per library kind: the limit is set by the first
holder, kept while any thread holds it, and the counts from before the first
holder come back after the last one leaves. Libraries whose count is per
thread (MKL, OpenMP, OpenBLAS built on OpenMP) are limited in each holding
thread and restored when that thread leaves.
"""

from __future__ import annotations

import contextlib
import threading

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread", "one_native_thread"]

_LOCK = threading.Lock()
_CONTROLLER: list[ThreadpoolController] = []  # built on first use (scans libraries)
_HOLDERS: dict[str, int] = {"blas": 0, "openmp": 0}
_SAVED: dict[str, list] = {"blas": [], "openmp": []}


def _controller() -> ThreadpoolController:
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def _process_wide(lib) -> bool:
    """Whether ``lib``'s thread count is one for the whole process.

    OpenBLAS and BLIS on their own threads (pthreads) keep one count for the
    process; on OpenMP, and MKL and the OpenMP runtimes themselves (threadpoolctl
    >= 3.7 sets MKL's count per thread), each thread has its own.
    """
    return lib.internal_api in ("openblas", "blis") and lib.threading_layer != "openmp"


def _set_num_threads(lib, n: int) -> None:
    # threadpoolctl >= 3.8 lets only the first Python thread that set a
    # process-wide OpenBLAS count set it again (others are silently ignored);
    # here the holder count is what keeps threads from fighting, so every
    # holder must be able to set it
    getattr(lib, "_real_set_num_threads", lib.set_num_threads)(n)


@contextlib.contextmanager
def _one_thread(user_api: str):
    libs = _controller().select(user_api=user_api).lib_controllers
    shared = [lib for lib in libs if _process_wide(lib)]
    own = [(lib, lib.num_threads) for lib in libs if not _process_wide(lib)]
    with _LOCK:
        if _HOLDERS[user_api] == 0:
            _SAVED[user_api] = [(lib, lib.num_threads) for lib in shared]
            for lib in shared:
                _set_num_threads(lib, 1)
        _HOLDERS[user_api] += 1
    for lib, _ in own:  # per-thread counts: this thread's, set and restored here
        _set_num_threads(lib, 1)
    try:
        yield
    finally:
        for lib, n in own:
            if n is not None:
                _set_num_threads(lib, n)
        with _LOCK:
            _HOLDERS[user_api] -= 1
            if _HOLDERS[user_api] == 0:
                for lib, n in _SAVED[user_api]:
                    if n is not None:
                        _set_num_threads(lib, n)
                _SAVED[user_api] = []


@contextlib.contextmanager
def one_blas_thread():
    """BLAS on one thread while any thread of the process is inside.

    Reference-counted across threads: the limit holds from the first entrant
    to the last exit, whatever the threads' interleaving, and the BLAS thread
    counts from before the first entrant are restored after the last exit.
    """
    with _one_thread("blas"):
        yield


@contextlib.contextmanager
def one_native_thread():
    """BLAS and OpenMP on one thread while any thread of the process is inside.

    :func:`one_blas_thread` plus the same reference-counted limit on the
    OpenMP runtimes (torch's, NumPy's, scikit-learn's); torch's own intra-op
    count is the caller's (``torch.set_num_threads``).
    """
    with _one_thread("blas"), _one_thread("openmp"):
        yield
