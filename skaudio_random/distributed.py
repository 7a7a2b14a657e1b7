"""Featurization and searches on a Dask cluster (the optional ``dask`` extra).

Three pieces, all on :mod:`dask.distributed`:

- :func:`make_client` and :func:`dask_client` turn a ``scheduler`` argument (an
  address, ``"local"``, ``"local:N"``, ``"local-gpu"``, a cluster or a client)
  into a :class:`distributed.Client`, sizing local workers so that the threads of
  all workers add up to the machine's cores and GPU workers get one GPU each;
- :func:`transform_distributed` featurizes clips sharded by files over the
  workers, with the per-clip ``memory`` cache on storage the workers share, so a
  killed worker loses only the clips it held and a rerun resumes;
- :func:`search_backend` runs scikit-learn searches (``GridSearchCV``, the
  study's) through joblib's dask backend with the feature matrix scattered once.

Install with ``pip install "skaudio-random[dask]"``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from numbers import Integral

import joblib
import numpy as np
import torch
from sklearn.base import clone

from ._cache import resolve_memory_location
from ._threads import one_native_thread

__all__ = [
    "make_client",
    "dask_client",
    "gpu_worker_specs",
    "make_gpu_cluster",
    "transform_distributed",
    "search_backend",
]

#: Networks a worker process keeps built between chunks (least recently used go).
_WORKER_CACHE_SIZE = 2


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - the tests install the extra
        raise ImportError(
            "skaudio_random.distributed needs dask.distributed; install it with "
            '`pip install "skaudio-random[dask]"`.'
        ) from exc
    return distributed


def _cpu_count() -> int:
    """Cores this process may use (affinity and cgroup limits respected)."""
    from dask.system import CPU_COUNT

    return max(1, int(CPU_COUNT))


def _parse_count(scheduler: str, prefix: str) -> int | None:
    """``N`` of ``"<prefix>:N"``, ``None`` of ``"<prefix>"``."""
    rest = scheduler[len(prefix) :]
    if not rest:
        return None
    if rest[0] == ":" and rest[1:].isdigit() and int(rest[1:]) >= 1:
        return int(rest[1:])
    raise ValueError(
        f"scheduler={scheduler!r}: expected {prefix!r} or '{prefix}:N' with N a "
        "positive worker count."
    )


# --------------------------------------------------------------------------- #
# clients and clusters
# --------------------------------------------------------------------------- #
def _connect_timeout(timeout) -> float:
    """Seconds of ``timeout``, Dask's ``distributed.comm.timeouts.connect`` if None."""
    import dask
    from dask.utils import parse_timedelta

    if timeout is None:
        timeout = dask.config.get("distributed.comm.timeouts.connect")
    return float(parse_timedelta(timeout, default="seconds"))


def _what_answered(host: str, port: int, timeout: float) -> str:
    """A description of the service at ``host:port``, which is not a Dask scheduler."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            try:  # a service that speaks first (SSH, SMTP, ...) shows its greeting
                greeting = sock.recv(200)
            except TimeoutError:
                greeting = None
            if greeting is None:
                sock.sendall(b"HEAD / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
                try:
                    greeting = sock.recv(200)
                except TimeoutError:
                    return (
                        f"it accepted the connection but sent nothing for {timeout:g} s"
                    )
    except OSError as exc:
        return f"it could not be asked again ({exc})"
    if greeting.startswith(b"HTTP/"):
        status = greeting.split(b"\r\n", 1)[0].decode("ascii", "replace")
        return (
            f"an HTTP server answered ({status!r}); the Dask dashboard is one "
            "(port 8787 by default), while the scheduler itself listens on port "
            "8786 by default"
        )
    if not greeting:
        return "it closed the connection"
    return f"it sent {greeting[:60]!r}"


async def _dask_handshake(address: str, timeout: float) -> None:
    from distributed.comm import connect

    comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
    await comm.close()


def _check_scheduler(address: str, timeout: float) -> None:
    """Fail fast, naming ``address``, unless a Dask scheduler answers there.

    A plain socket connects first (a refused connection fails at once, where
    Dask retries until its timeout); for ``tcp://`` the Dask handshake follows
    with ``timeout`` as its bound (Dask waits for the handshake without one).
    """
    from distributed.comm import get_address_host_port, parse_address

    scheme, _ = parse_address(address)
    if scheme not in ("tcp", "tls", "ws", "wss"):
        return  # other transports (ucx, inproc) are Dask's to check
    try:
        host, port = get_address_host_port(address)
    except ValueError:
        return  # no port: Dask's own error
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except TimeoutError:
        raise ConnectionError(
            f"no Dask scheduler answered at {address}: the connection got no answer "
            f"within {timeout:g} s (wrong host, or a firewall?)."
        ) from None
    except OSError as exc:
        reason = (
            "the connection was refused (nothing listens on that port)"
            if isinstance(exc, ConnectionRefusedError)
            else f"cannot connect ({exc})"
        )
        raise ConnectionError(
            f"no Dask scheduler answered at {address}: {reason}. Start one with "
            "`dask scheduler` (port 8786 by default) or check the address."
        ) from None
    if scheme != "tcp":
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # safe in a running loop
        try:
            pool.submit(asyncio.run, _dask_handshake(address, timeout)).result()
        except (OSError, asyncio.TimeoutError, ValueError, TypeError) as exc:
            what = _what_answered(host, port, min(timeout, 2.0))
            raise ConnectionError(
                f"{address} is not a Dask scheduler: {what}. Give the scheduler's "
                "address (`dask scheduler` prints it; tcp://host:8786 by default)."
            ) from exc


def make_client(scheduler, *, processes: bool = True, timeout=None):
    """A :class:`distributed.Client` for a ``scheduler`` argument.

    Parameters
    ----------
    scheduler : str, distributed.Client or cluster
        - an address such as ``"tcp://host:8786"`` (any ``"<protocol>://..."``):
          connect to a running scheduler (``dask scheduler``, dask-jobqueue);
        - ``"local"``: start a :class:`distributed.LocalCluster` with Dask's own
          split of the cores into worker processes and threads;
        - ``"local:N"``: a LocalCluster of ``N`` worker processes with
          ``max(1, cores // N)`` threads each, so the threads of all workers add
          up to the cores (no oversubscription);
        - ``"local-gpu"`` or ``"local-gpu:N"``: one worker per GPU (all visible
          GPUs, or the first ``N``), see :func:`make_gpu_cluster`;
        - a cluster object (``LocalCluster``, ``SLURMCluster``,
          ``LocalCUDACluster``, ...): a client connected to it;
        - a :class:`distributed.Client`: returned as is.
    processes : bool, default=True
        For ``"local"`` and ``"local:N"``: worker processes (``True``) or threads
        of this process (``False``, for tests and debugging).
    timeout : float or str, default=None
        For an address: how long to wait for the scheduler to answer (seconds, or
        a Dask duration such as ``"5s"``). Default: Dask's
        ``distributed.comm.timeouts.connect`` (30 s unless configured, e.g. with
        the environment variable ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT``).

    Returns
    -------
    client : distributed.Client
        A client started here owns the local cluster it started: closing the
        client closes it. Use :func:`dask_client` to have that done for you.

    Notes
    -----
    Every featurization task runs with one torch thread (see
    :func:`transform_distributed`), so a worker with ``T`` threads keeps ``T``
    cores busy, and ``N`` workers of ``cores // N`` threads keep to the machine.
    Dask's nanny also sets ``OMP_NUM_THREADS=MKL_NUM_THREADS=1`` in worker
    processes, so BLAS inside a search task keeps to one core as well.

    An address is checked before Dask connects: a refused connection raises
    :class:`ConnectionError` at once, and a ``tcp://`` service that does not
    complete Dask's handshake within ``timeout`` (an HTTP server such as the
    dashboard, a silent port) raises one that says what answered, where Dask
    alone would wait without end.
    """
    distributed = _import_distributed()
    if isinstance(scheduler, distributed.Client):
        return scheduler
    if hasattr(scheduler, "scheduler_address"):  # a cluster object
        return distributed.Client(scheduler)
    if not isinstance(scheduler, str):
        raise ValueError(
            "scheduler must be an address such as 'tcp://host:8786', 'local', "
            "'local:N', 'local-gpu', a Dask cluster or a distributed.Client; got "
            f"{type(scheduler).__name__}."
        )
    if "://" in scheduler:
        seconds = _connect_timeout(timeout)
        _check_scheduler(scheduler, seconds)
        return distributed.Client(scheduler, timeout=seconds)
    if scheduler.startswith("local-gpu"):
        n = _parse_count(scheduler, "local-gpu")
        return distributed.Client(make_gpu_cluster(n))
    if scheduler.startswith("local"):
        n = _parse_count(scheduler, "local")
        kwargs = {"processes": processes, "dashboard_address": ":0"}
        if n is not None:
            kwargs.update(n_workers=n, threads_per_worker=max(1, _cpu_count() // n))
        return distributed.Client(**kwargs)
    raise ValueError(
        f"scheduler={scheduler!r} is not understood; expected an address such as "
        "'tcp://host:8786', 'local', 'local:N', 'local-gpu' or 'local-gpu:N'."
    )


@contextlib.contextmanager
def dask_client(scheduler, *, processes: bool = True, timeout=None):
    """Context manager around :func:`make_client` (same parameters).

    A client (and local cluster) started here is closed on exit; a client or
    cluster passed in is left running.

    Examples
    --------
    >>> from skaudio_random.distributed import dask_client
    >>> with dask_client("local:2") as client:  # doctest: +SKIP
    ...     F = transform_distributed(VGG(random_state=0), files, client=client)
    """
    distributed = _import_distributed()
    owned = not isinstance(scheduler, distributed.Client)
    client = make_client(scheduler, processes=processes, timeout=timeout)
    try:
        yield client
    finally:
        if owned:
            client.close()


def _visible_gpus(n_gpus: int | None) -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip():
        ids = [v.strip() for v in visible.split(",") if v.strip()]
    else:
        ids = [str(i) for i in range(torch.cuda.device_count())]
    if n_gpus is not None:
        if n_gpus > len(ids):
            raise ValueError(
                f"{n_gpus} GPU worker(s) requested but only {len(ids)} CUDA device(s) "
                "are visible."
            )
        ids = ids[:n_gpus]
    if not ids:
        raise ValueError(
            "no CUDA device is visible for GPU workers; use scheduler='local' or "
            "'local:N' for CPU workers."
        )
    return ids


def gpu_worker_specs(gpu_ids: Sequence[str], *, cpus: int | None = None) -> dict:
    """Worker specifications of a :class:`distributed.SpecCluster`, one per GPU.

    Each worker is a nanny-managed process that sees only its GPU
    (``CUDA_VISIBLE_DEVICES``, so ``device="auto"`` means that GPU), runs one
    task at a time (one thread) and advertises the resource ``{"GPU": 1}`` for
    tasks submitted with ``resources={"GPU": 1}``. Its torch/OpenMP threads
    (decoding, log-mel) are the cores divided among the GPUs.

    Parameters
    ----------
    gpu_ids : sequence of str
        The CUDA device ids, one worker each.
    cpus : int, default=None
        Cores shared by the workers (default: this machine's).

    Returns
    -------
    dict
        ``{name: {"cls": Nanny, "options": {...}}}``.
    """
    distributed = _import_distributed()
    cpus = cpus or _cpu_count()
    threads = str(max(1, cpus // max(1, len(gpu_ids))))
    return {
        f"gpu-{gpu}": {
            "cls": distributed.Nanny,
            "options": {
                "nthreads": 1,
                "resources": {"GPU": 1},
                "env": {
                    "CUDA_VISIBLE_DEVICES": str(gpu),
                    "OMP_NUM_THREADS": threads,
                    "MKL_NUM_THREADS": threads,
                },
            },
        }
        for gpu in gpu_ids
    }


def make_gpu_cluster(n_gpus: int | None = None):
    """A local cluster with one worker process per GPU.

    Uses dask-cuda's ``LocalCUDACluster`` when it is installed (one thread per
    worker, each worker pinned to its GPU and the CPU cores near it); otherwise
    a :class:`distributed.SpecCluster` of :func:`gpu_worker_specs`. Either way
    a worker runs one featurization task at a time on its own GPU, which
    ``device="auto"`` selects.

    Parameters
    ----------
    n_gpus : int, default=None
        Workers to start: the first ``n_gpus`` visible GPUs (default: all).
    """
    distributed = _import_distributed()
    ids = _visible_gpus(n_gpus)
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        return distributed.SpecCluster(
            workers=gpu_worker_specs(ids),
            scheduler={
                "cls": distributed.Scheduler,
                "options": {"dashboard_address": ":0"},
            },
        )
    return LocalCUDACluster(CUDA_VISIBLE_DEVICES=",".join(ids), dashboard_address=":0")


# --------------------------------------------------------------------------- #
# featurization
# --------------------------------------------------------------------------- #
_WORKER_ESTIMATORS: OrderedDict = OrderedDict()
_WORKER_LOCK = threading.Lock()
_THREADS_LOCK = threading.Lock()
_THREADS_STATE: dict = {"active": 0, "saved": None}


@contextlib.contextmanager
def _one_thread_per_task():
    """Run this task on one torch, BLAS and OpenMP thread; restore after the last.

    The Dask worker's threads are the parallelism: ``T`` tasks at once on a
    ``T``-thread worker, one core each. ``torch.set_num_threads`` and the native
    limits are partly process-wide, so the previous values are restored only
    when no featurization task of this process is running; the BLAS and OpenMP
    limits are the package's shared reference-counted ones
    (:mod:`skaudio_random._threads`), so an MFCC of another thread keeps its one
    BLAS thread when a task ends.
    """
    with _THREADS_LOCK:
        if _THREADS_STATE["active"] == 0:
            _THREADS_STATE["saved"] = torch.get_num_threads()
        _THREADS_STATE["active"] += 1
    torch.set_num_threads(1)
    try:
        with one_native_thread():
            yield
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["active"] -= 1
            if _THREADS_STATE["active"] == 0:
                torch.set_num_threads(_THREADS_STATE["saved"])


def _worker_estimator(key: str, cls, params: dict, items):
    """The worker process's transformer for ``key``, built once from its parameters.

    Threads of a worker share it (a forward pass does not change the network),
    so a worker holds one copy of each network, not one per thread.
    """
    with _WORKER_LOCK:
        est = _WORKER_ESTIMATORS.get(key)
        if est is None:
            est = cls(**params)
            est.fit(items)  # validates and builds the network from the seed
            _WORKER_ESTIMATORS[key] = est
            while len(_WORKER_ESTIMATORS) > _WORKER_CACHE_SIZE:
                _WORKER_ESTIMATORS.popitem(last=False)
        else:
            _WORKER_ESTIMATORS.move_to_end(key)
        return est


def _featurize_chunk(key: str, cls, params: dict, items) -> np.ndarray:
    """Task run on a worker: features of one chunk of clips (through ``memory``)."""
    est = _worker_estimator(key, cls, params, items)
    with _one_thread_per_task():
        return est.transform(items)


def _check_transformer(transformer, memory) -> tuple[type, dict, int | None]:
    """``(class, parameters, batch size)`` of a clone that a worker can rebuild."""
    if not (hasattr(transformer, "get_params") and hasattr(transformer, "transform")):
        raise ValueError(
            "transformers must be scikit-learn transformers (get_params and "
            f"transform); got {type(transformer).__name__}."
        )
    est = clone(transformer)
    for name, value in est.get_params(deep=True).items():
        if name == "random_state" or name.endswith("__random_state"):
            if not isinstance(value, Integral) or isinstance(value, bool):
                raise ValueError(
                    f"transform_distributed needs an int random_state for "
                    f"{type(transformer).__name__} (got {name}={value!r}): every "
                    "worker rebuilds the network from it, and with None or a "
                    "RandomState each would draw a different network. Pass "
                    "random_state=0 (or any int)."
                )
    params = est.get_params(deep=False)
    if memory is not None:
        if "memory" not in params:
            raise ValueError(
                f"memory= was given but {type(transformer).__name__} has no memory "
                "parameter."
            )
        params["memory"] = memory
    if isinstance(params.get("memory"), (str, os.PathLike)):
        # Workers may start in another folder: pass the cache as an absolute path.
        params["memory"] = os.path.abspath(
            os.path.expanduser(os.fspath(params["memory"]))
        )
    resolve_memory_location(params.get("memory"))  # a clear error for a bad value
    batch = None
    if params.get("batchnorm") is not None:  # VGG's batch statistics
        batch = params["batch_size"]
    return type(est), params, batch


def _as_items(X):
    """``X`` as something sliceable by clip: a list, or a 2-D array."""
    if isinstance(X, (str, os.PathLike)):
        raise ValueError(
            "X must be a list of audio file paths or waveforms; got the single path "
            f"{os.fspath(X)!r}. Wrap it in a list."
        )
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind not in "USO":
        return X
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise ValueError(
            f"X must be a list of clips or a 2-D array (n_clips, n_times); got an "
            f"array of shape {X.shape}."
        )
    items = list(X)
    if not items:
        raise ValueError("X holds no clips (0 items); at least 1 is required.")
    return [
        os.path.abspath(os.fspath(x)) if isinstance(x, (str, os.PathLike)) else x
        for x in items
    ]


def transform_distributed(
    transformers, X, *, client, chunk_size: int | None = None, memory=None
):
    """Features of ``X`` computed on a Dask cluster, sharded by clips.

    The clips are cut into chunks of ``chunk_size`` consecutive clips and each
    chunk becomes one task (:meth:`distributed.Client.map`). A task receives the
    transformer's class and parameters (never a torch module), rebuilds the
    network from the int ``random_state`` on the worker (once per worker
    process; the worker's threads share it) and calls ``transform`` on its
    chunk with one torch thread and one BLAS thread. On the CPU the CNN
    features of a clip are computed by the same single-threaded code as in a
    local ``transform``, so they are bitwise equal to it; so are MFCC's,
    which always compute the mel projection on one BLAS thread
    (:func:`skaudio_random._threads.one_blas_thread`).

    Parameters
    ----------
    transformers : transformer or list of transformers
        Feature transformers of this package (the CNNs, :class:`MFCC`) or any
        scikit-learn transformer that needs no ``fit``. Each needs an int
        ``random_state`` where it has one: with ``None`` every worker would draw
        a different network.
    X : sequence of path-like or of 1-D arrays, or array of shape (n_clips, n_times)
        The clips. File paths (made absolute here) must be readable by every
        worker under the same name (a shared file system); waveforms are
        scattered to the workers chunk by chunk.
    client : distributed.Client
        The cluster (see :func:`make_client`).
    chunk_size : int, default=None
        Clips per task. Default: enough chunks for four tasks per worker thread
        (at most 64 clips each), so the workers stay balanced and a lost task is
        small. With VGG's ``batchnorm="batch"`` it is rounded up to a multiple of
        ``batch_size`` so that batches match a local run.
    memory : str, os.PathLike or joblib.Memory, default=None
        Per-clip feature cache, overriding each transformer's ``memory``. It must
        be on storage every worker shares (and is made absolute here). Each clip
        is stored as soon as its decoded batch is computed, so when a worker dies
        Dask reruns its task elsewhere and only the clips it held are computed
        again; a rerun of the whole call after a crash resumes from the cache.
        Without a cache a lost task is recomputed whole.

    Returns
    -------
    features : ndarray of shape (n_clips, n_features) or list of them
        In the order of ``X``; a list (one matrix per transformer, in order) when
        ``transformers`` is a list.

    Raises
    ------
    ValueError
        If a ``random_state`` is not an int, ``chunk_size`` is not positive, or
        ``X`` is not a list of clips. Errors on a worker (an unreadable file, a
        clip too short) are raised here with the worker's message.

    Notes
    -----
    **Why** ``client.map`` **and not joblib's dask backend.** A featurization
    task is long (seconds to minutes), reads its own files and returns a small
    matrix, so there is nothing to batch or scatter, which is what joblib's
    backend adds. ``client.map`` keeps one named task per chunk, which Dask
    reruns on another worker when one dies, lets results arrive in any order
    while they are placed by index, and keeps chunks of several transformers in
    one queue. Searches, made of many short fits on one shared matrix, use the
    joblib backend instead (:func:`search_backend`).

    **Threads.** Each task sets torch and BLAS to one thread: a worker with
    ``T`` threads runs ``T`` chunks at once on ``T`` cores (see
    :func:`make_client`). On a GPU
    worker (one thread, one GPU; :func:`make_gpu_cluster`) the chunk is batched
    on the GPU as in a local ``transform``.

    Examples
    --------
    >>> import numpy as np
    >>> from distributed import Client
    >>> from skaudio_random import MFCC, Timbral
    >>> from skaudio_random.distributed import transform_distributed
    >>> X = np.random.default_rng(0).standard_normal((4, 12000)).astype(np.float32)
    >>> with Client(processes=False, n_workers=1, dashboard_address=":0") as client:
    ...     F_mfcc, F_cnn = transform_distributed(
    ...         [MFCC(), Timbral(width=16, n_frames=40, random_state=0)],
    ...         X, client=client, chunk_size=2)
    >>> F_mfcc.shape, F_cnn.shape
    ((4, 120), (4, 14))
    >>> local = Timbral(width=16, n_frames=40, random_state=0).transform(X)
    >>> bool((F_cnn == local).all())
    True
    """
    single = not isinstance(transformers, (list, tuple))
    models = [transformers] if single else list(transformers)
    if not models:
        raise ValueError("transformers is empty; pass a transformer or a list of them.")
    if chunk_size is not None and (
        not isinstance(chunk_size, Integral)
        or isinstance(chunk_size, bool)
        or chunk_size < 1
    ):
        raise ValueError(
            f"chunk_size must be a positive int or None; got {chunk_size!r}."
        )
    specs = [_check_transformer(t, memory) for t in models]
    items = _as_items(X)
    n = len(items)

    if chunk_size is None:
        threads = max(1, sum(client.nthreads().values()))
        chunk_size = min(64, max(1, math.ceil(n / (4 * threads))))
    bounds = []
    for _, _, batch in specs:
        size = chunk_size if batch is None else batch * math.ceil(chunk_size / batch)
        bounds.append([(a, min(a + size, n)) for a in range(0, n, size)])

    # Waveforms travel once per chunk boundary set; paths are just strings.
    scattered: dict[tuple[int, int], object] = {}
    for spans in bounds:
        for a, b in spans:
            if (a, b) not in scattered:
                scattered[(a, b)] = items[a:b]
    if not (isinstance(items, list) and all(isinstance(x, str) for x in items)):
        keys = list(scattered)
        futures = client.scatter([scattered[k] for k in keys])
        scattered = dict(zip(keys, futures, strict=True))

    run = uuid.uuid4().hex[:8]
    submitted = []
    for i, ((cls, params, _), spans) in enumerate(zip(specs, bounds, strict=True)):
        key = joblib.hash((cls.__module__, cls.__qualname__, params))
        futures = client.map(
            _featurize_chunk,
            [key] * len(spans),
            [cls] * len(spans),
            [params] * len(spans),
            [scattered[s] for s in spans],
            key=[f"skaudio-{cls.__name__}-{run}-{i}-{a}" for a, _ in spans],
            pure=False,
        )
        submitted.append((spans, futures))

    outputs = []
    try:
        for spans, futures in submitted:
            parts = client.gather(futures)
            out = np.empty((n, parts[0].shape[1]), dtype=parts[0].dtype)
            for (a, b), part in zip(spans, parts, strict=True):
                out[a:b] = part
            outputs.append(out)
    finally:
        for _, futures in submitted:
            client.cancel(futures)
    return outputs[0] if single else outputs


# --------------------------------------------------------------------------- #
# searches
# --------------------------------------------------------------------------- #
@contextlib.contextmanager
def search_backend(client, *, scatter=None):
    """Run joblib-parallel scikit-learn work (searches) on ``client``'s workers.

    A thin wrapper of ``joblib.parallel_backend("dask", client=client,
    scatter=scatter)``: inside it, ``GridSearchCV``, ``cross_validate`` and the
    study's searches send their fits to the workers. Scatter the feature matrix
    (and labels) so that it is sent to each worker once rather than with every
    fit.

    Parameters
    ----------
    client : distributed.Client
    scatter : list of array-like, default=None
        Objects to broadcast to every worker once, typically ``[F, y]``.

    Notes
    -----
    Under the dask backend an estimator's ``n_jobs=None`` means all the
    cluster's threads (joblib's backend default), so a search needs no
    ``n_jobs``. The precomputed-kernel SVM
    (:func:`skaudio_random.make_kernel_svc`) works here with the same results:
    its Gram-matrix cache lives in each worker process and is keyed by the
    content of the rows, so every worker builds and reuses its own cache; only
    the sharing between fits on different workers is lost. With thread workers
    (``processes=False``) the fits share the one cache of this process.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV  # doctest: +SKIP
    >>> with search_backend(client, scatter=[F, y]):  # doctest: +SKIP
    ...     search = GridSearchCV(SVC(), {"C": [1, 10]}).fit(F, y)
    """
    with joblib.parallel_backend("dask", client=client, scatter=scatter):
        yield
