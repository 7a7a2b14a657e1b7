"""Scheduler addresses that lead nowhere fail fast and say what answered
(skaudio_random.distributed.make_client). Every server here listens on 127.0.0.1.

Each attempt runs in a thread joined with a timeout, so a hang fails the test
instead of stalling the suite.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from skaudio_random.distributed import dask_client, make_client

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed.*")

TIMEOUT = 1.0  # the connect timeout given to make_client
LIMIT = 15.0  # seconds after which an attempt counts as a hang


def _attempt(address, **kwargs):
    """``(exception, seconds)`` of ``make_client(address)``, which must fail."""
    outcome = {}

    def target():
        try:
            client = make_client(address, timeout=TIMEOUT, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome["exc"] = exc
        else:
            client.close()
            outcome["exc"] = None

    started = time.perf_counter()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(LIMIT)
    assert not thread.is_alive(), f"make_client({address!r}) hung for {LIMIT} s"
    assert outcome["exc"] is not None, f"make_client({address!r}) connected"
    return outcome["exc"], time.perf_counter() - started


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_server():
    """Accepts connections and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    stop = threading.Event()

    def serve():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
def free_port():
    """A port of 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_http_server_is_named(http_server):
    address = f"tcp://127.0.0.1:{http_server}"
    exc, seconds = _attempt(address)
    assert isinstance(exc, OSError)
    message = str(exc)
    assert address in message and "not a Dask scheduler" in message
    assert "HTTP server" in message and "8787" in message  # the dashboard hint
    assert seconds < 10


def test_a_silent_service_is_named(silent_server):
    address = f"tcp://127.0.0.1:{silent_server}"
    exc, seconds = _attempt(address)
    assert isinstance(exc, OSError)
    message = str(exc)
    assert address in message and "not a Dask scheduler" in message
    assert "sent nothing" in message
    assert seconds < 10


def test_nothing_listening_fails_at_once(free_port):
    address = f"tcp://127.0.0.1:{free_port}"
    exc, seconds = _attempt(address)
    assert isinstance(exc, OSError)
    message = str(exc)
    assert address in message and "no Dask scheduler answered" in message
    assert "refused" in message
    assert seconds < TIMEOUT  # no waiting for the connect timeout


def test_the_context_manager_passes_the_timeout(http_server):
    outcome = {}

    def target():
        try:
            with dask_client(f"tcp://127.0.0.1:{http_server}", timeout=TIMEOUT):
                pass
        except OSError as exc:
            outcome["exc"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(LIMIT)
    assert not thread.is_alive()
    assert "HTTP server" in str(outcome["exc"])


def test_the_default_timeout_is_dask_s(http_server):
    dask = pytest.importorskip("dask")
    with dask.config.set({"distributed.comm.timeouts.connect": f"{TIMEOUT}s"}):
        outcome = {}

        def target():
            try:
                make_client(f"tcp://127.0.0.1:{http_server}")
            except OSError as exc:
                outcome["exc"] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(LIMIT)
    assert not thread.is_alive()
    assert "HTTP server" in str(outcome["exc"])


def test_a_real_scheduler_still_connects():
    with distributed.LocalCluster(
        n_workers=0,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=":0",
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        with dask_client(address, timeout=10) as client:
            assert client.scheduler_info()["address"] == address
