"""The package's shared native thread limits (skaudio_random._threads)."""

import threading

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from skaudio_random import _threads, distributed


def _counts(user_api):
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == user_api}


@pytest.fixture
def two_threads():
    """BLAS and OpenMP pools on two threads, so a limit to one is visible."""
    if not _counts("blas"):
        pytest.skip("no BLAS library loaded")
    with threadpool_limits(limits=2):
        assert _counts("blas") == {2}
        yield


def test_one_blas_thread_limits_and_restores(two_threads):
    omp = _counts("openmp")
    with _threads.one_blas_thread():
        assert _counts("blas") == {1}
        assert _counts("openmp") == omp  # the OpenMP pools are not touched
        with _threads.one_blas_thread():
            assert _counts("blas") == {1}
        assert _counts("blas") == {1}  # the outer holder still holds it
    assert _counts("blas") == {2}


def test_one_native_thread_limits_openmp_too(two_threads):
    with _threads.one_native_thread():
        assert _counts("blas") == {1}
        if _counts("openmp"):
            assert _counts("openmp") == {1}
    assert _counts("blas") == {2}
    assert _counts("openmp") in (set(), {2})


def _overlap(first, second):
    """``first`` entered by one thread, ``second`` by another; the first leaves
    while the second is inside. Returns the BLAS counts the second saw after
    the first left, and after both left."""
    entered, first_left, second_left = (threading.Event() for _ in range(3))
    seen = {}

    def hold_first():
        with first():
            entered.set()
            assert second_entered.wait(10)
        first_left.set()

    def hold_second():
        assert entered.wait(10)
        with second():
            second_entered.set()
            assert first_left.wait(10)
            seen["inside"] = _counts("blas")
        second_left.set()

    second_entered = threading.Event()
    threads = [
        threading.Thread(target=hold_first),
        threading.Thread(target=hold_second),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert second_left.is_set()
    seen["after"] = _counts("blas")
    return seen


def test_dask_task_ending_keeps_an_mfcc_on_one_blas_thread(two_threads):
    # A featurization task of an in-process Dask worker (one torch/BLAS/OpenMP
    # thread) ends while an MFCC of another thread is computing: the MFCC keeps
    # its one BLAS thread, and the machine's count comes back after both.
    seen = _overlap(distributed._one_thread_per_task, _threads.one_blas_thread)
    assert seen == {"inside": {1}, "after": {2}}


def test_mfcc_ending_first_restores_after_the_task(two_threads):
    seen = _overlap(_threads.one_blas_thread, distributed._one_thread_per_task)
    assert seen == {"inside": {1}, "after": {2}}
