"""Featurization and searches on Dask clusters (skaudio_random.distributed).

Two module-scoped clusters keep the file quick: two worker threads in this
process, and two worker processes (started once; one is killed on purpose).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from skaudio_random import MFCC, VGG, Timbral, make_kernel_svc
from skaudio_random.distributed import (
    _visible_gpus,
    dask_client,
    gpu_worker_specs,
    make_client,
    make_gpu_cluster,
    search_backend,
    transform_distributed,
)

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

SR = 12000
N_CLIPS = 10
# Clip durations differ so no two clips share features.
CNN_PARAMS = {"width": 16, "n_frames": 40, "random_state": 3}

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed.*")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(N_CLIPS):
        y = 0.2 * rng.standard_normal(int((1.0 + 0.05 * i) * SR))
        path = folder / f"clip{i:02d}.wav"
        sf.write(path, y.astype(np.float32), SR, subtype="FLOAT")
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def local_features(files):
    """A local run: MFCC with one BLAS thread (as on a worker), the CNN as is."""
    with threadpool_limits(1):
        mfcc = MFCC().transform(files)
    return mfcc, Timbral(**CNN_PARAMS).transform(files)


@pytest.fixture(scope="module")
def thread_client():
    with distributed.Client(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    ) as client:
        yield client


@pytest.fixture(scope="module")
def process_client():
    """Two worker processes forked from a server that has imported the package.

    Spawned workers would each import torch, librosa and scikit-learn afresh
    (tens of seconds on a loaded machine, again for a restarted worker).
    """
    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        ctx = distributed.utils.get_mp_context()
        ctx.set_forkserver_preload(["distributed", "skaudio_random"])
        with distributed.Client(
            processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0"
        ) as client:
            yield client


def _cache_entries(folder) -> list[Path]:
    return sorted(Path(folder).rglob("*.f32"))


class KillOnceMFCC(MFCC):
    """MFCC whose first chunk caches two clips, then kills its worker process.

    The chunk that claims ``memory/claimed`` first records the cache files
    written so far (name -> mtime) in ``memory/before_kill.json`` and sends
    itself SIGKILL; every later call is a plain MFCC transform.
    """

    def transform(self, X):
        folder = Path(self.memory)
        try:
            fd = os.open(folder / "claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().transform(X)
        os.close(fd)
        super().transform(X[:2])
        stamps = {str(p): p.stat().st_mtime_ns for p in _cache_entries(folder)}
        (folder / "before_kill.json").write_text(json.dumps(stamps))
        os.kill(os.getpid(), signal.SIGKILL)


def test_thread_cluster_bitwise_equal_to_local(files, local_features, thread_client):
    mfcc, cnn = transform_distributed(
        [MFCC(), Timbral(**CNN_PARAMS)], files, client=thread_client, chunk_size=3
    )
    assert mfcc.dtype == cnn.dtype == np.float32
    np.testing.assert_array_equal(cnn, local_features[1])
    # Thread workers share this process's BLAS with the test's main thread; the
    # package's shared thread limits keep the mel projection on one BLAS thread
    # (it differed in the last bits in about one run of three when a task's
    # end restored BLAS under another thread's MFCC: tests/test_threads.py)
    np.testing.assert_array_equal(mfcc, local_features[0])


def test_thread_cluster_waveforms_single_transformer(thread_client):
    X = np.random.default_rng(1).standard_normal((5, SR)).astype(np.float32)
    est = Timbral(**CNN_PARAMS)
    F = transform_distributed(est, X, client=thread_client)  # default chunk size
    np.testing.assert_array_equal(F, est.transform(X))


def test_batchnorm_chunks_follow_the_batches(files, thread_client):
    # VGG's batch statistics depend on the batch: chunks of 3 are rounded up to 4,
    # two whole batches of 2, so every batch is the one of a local run
    est = VGG(width=16, n_frames=40, batchnorm="batch", batch_size=2, random_state=0)
    F = transform_distributed(est, files, client=thread_client, chunk_size=3)
    np.testing.assert_array_equal(F, est.transform(files))


def test_process_cluster_bitwise_equal_and_cached(
    files, local_features, process_client, tmp_path
):
    cnn = transform_distributed(
        Timbral(**CNN_PARAMS),
        files,
        client=process_client,
        chunk_size=4,
        memory=tmp_path,
    )
    np.testing.assert_array_equal(cnn, local_features[1])
    assert len(_cache_entries(tmp_path)) == N_CLIPS
    # a rerun reads the cache: same matrix, no new entries
    again = transform_distributed(
        Timbral(**CNN_PARAMS),
        files,
        client=process_client,
        chunk_size=4,
        memory=tmp_path,
    )
    np.testing.assert_array_equal(again, cnn)
    assert len(_cache_entries(tmp_path)) == N_CLIPS


def test_killed_worker_loses_only_its_clips(
    files, local_features, process_client, tmp_path
):
    F = transform_distributed(
        KillOnceMFCC(), files, client=process_client, chunk_size=5, memory=tmp_path
    )
    assert (tmp_path / "before_kill.json").exists(), "no worker was killed"
    np.testing.assert_array_equal(F, local_features[0])
    entries = _cache_entries(tmp_path)
    assert len(entries) == N_CLIPS  # every clip stored, each once
    # the clips stored before the kill (two of the killed chunk, maybe some of
    # the other worker's) were not computed again
    before = json.loads((tmp_path / "before_kill.json").read_text())
    assert len(before) >= 2
    assert {p: Path(p).stat().st_mtime_ns for p in before} == before


def test_grid_search_under_dask_matches_local(process_client):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (30, 5)), rng.normal(1, 1, (30, 5))]
    y = np.r_[np.zeros(30), np.ones(30)]
    searches = [
        (SVC(), {"C": [0.1, 1, 10], "gamma": ["scale", 0.05]}),
        (
            make_kernel_svc(device="cpu"),
            {"svc__C": [0.1, 1, 10], "kernel__gamma": ["scale", 0.05]},
        ),
    ]
    for est, grid in searches:
        local = GridSearchCV(est, grid, cv=3).fit(X, y)
        with search_backend(process_client, scatter=[X, y]):
            remote = GridSearchCV(est, grid, cv=3).fit(X, y)
        assert remote.best_params_ == local.best_params_
        np.testing.assert_array_equal(
            remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
        )
    # the kernel SVC gives the same scores as the plain SVC
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


def test_client_from_address(process_client):
    with dask_client(process_client.scheduler.address) as client:
        assert client is not process_client
        assert len(client.nthreads()) == 2
    # a client passed in is left open
    with dask_client(process_client) as client:
        assert client is process_client
    assert process_client.status == "running"


def test_random_state_must_be_an_int(files, thread_client):
    with pytest.raises(ValueError, match="needs an int random_state for Timbral"):
        transform_distributed(Timbral(width=16), files, client=thread_client)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        transform_distributed(MFCC(), files, client=thread_client, chunk_size=0)
    with pytest.raises(ValueError, match="single path"):
        transform_distributed(MFCC(), files[0], client=thread_client)


def test_worker_error_names_the_file(files, thread_client, tmp_path):
    missing = str(tmp_path / "missing.wav")
    with pytest.raises(Exception, match="missing.wav"):
        transform_distributed(MFCC(), [*files[:2], missing], client=thread_client)


def test_local_scheduler_splits_the_cores(monkeypatch):
    seen = {}

    class FakeClient:
        def __init__(self, *args, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(distributed, "Client", FakeClient)
    monkeypatch.setattr("skaudio_random.distributed._cpu_count", lambda: 8)
    make_client("local:2")
    assert seen["n_workers"] == 2 and seen["threads_per_worker"] == 4
    make_client("local:16")
    assert seen["threads_per_worker"] == 1
    for bad in ("local:0", "local:x", "remote", "local-gpu:"):
        with pytest.raises(ValueError, match="scheduler"):
            make_client(bad)
    with pytest.raises(ValueError, match="scheduler must be"):
        make_client(4)


def test_gpu_workers_one_gpu_each(monkeypatch):
    specs = gpu_worker_specs(["0", "1"], cpus=16)
    assert sorted(specs) == ["gpu-0", "gpu-1"]
    for gpu in ("0", "1"):
        options = specs[f"gpu-{gpu}"]["options"]
        assert specs[f"gpu-{gpu}"]["cls"] is distributed.Nanny
        assert options["env"]["CUDA_VISIBLE_DEVICES"] == gpu
        assert options["env"]["OMP_NUM_THREADS"] == "8"
        assert options["nthreads"] == 1 and options["resources"] == {"GPU": 1}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5,7")
    assert _visible_gpus(None) == ["2", "5", "7"]
    assert _visible_gpus(2) == ["2", "5"]
    with pytest.raises(ValueError, match="4 GPU worker"):
        _visible_gpus(4)
    # without dask-cuda: a SpecCluster of those specs, one worker per visible GPU
    if importlib.util.find_spec("dask_cuda") is None:
        captured = {}

        def fake_spec_cluster(**kwargs):
            captured.update(kwargs)
            return "cluster"

        monkeypatch.setattr(distributed, "SpecCluster", fake_spec_cluster)
        assert make_gpu_cluster(2) == "cluster"
        assert sorted(captured["workers"]) == ["gpu-2", "gpu-5"]
        env = captured["workers"]["gpu-5"]["options"]["env"]
        assert env["CUDA_VISIBLE_DEVICES"] == "5"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    with pytest.raises(ValueError, match="no CUDA device is visible"):
        make_client("local-gpu")
