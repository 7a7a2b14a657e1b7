"""The download path, against a local HTTP server on 127.0.0.1 (no other network).

The server is a tiny threaded ``http.server`` that supports ``Range`` requests
and can be told to drop the connection part-way through a response, to ignore
``Range``, or to count requests, so that resumed, restarted, verified and
repeated downloads can all be checked.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from skaudio_random.datasets import (
    URBANSOUND8K_CLASSES,
    _download,
    load_esc50,
    load_extended_ballroom,
    load_urbansound8k,
)
from skaudio_random.datasets import ballroom as ballroom_module
from skaudio_random.datasets._download import (
    RemoteFile,
    download_file,
    extract_archive,
    fetch_archive,
)


class _Server:
    """Files served from memory, with knobs for failures."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: int | None = (
            None  # drop the connection after this many body bytes
        )
        self.n_cuts = 0  # how many responses to cut (then serve normally)
        self.honour_range = True
        self.lie_about_range = False  # a 206 whose Content-Range starts at 0
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                rng = self.headers.get("Range")
                server.requests.append((path, rng))
                if path not in server.files:
                    self.send_error(404, "Not Found")
                    return
                data = server.files[path]
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m and server.honour_range:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    first = 0 if server.lie_about_range else start
                    self.send_header(
                        "Content-Range", f"bytes {first}-{len(data) - 1}/{len(data)}"
                    )
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                body = data[start:]
                if server.n_cuts > 0 and server.cut_after is not None:
                    server.n_cuts -= 1
                    self.wfile.write(body[: server.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for var in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    s = _Server()
    yield s
    s.close()


def _payload(n=300_000, seed=0):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tiny_wav() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, 0.1 * np.ones(400), 8000, format="WAV")
    return buf.getvalue()


# ---------------------------------------------------------------------------
# download_file
# ---------------------------------------------------------------------------


def test_download_verified(server, tmp_path):
    data = _payload()
    server.files["/f.bin"] = data
    out = download_file(
        f"{server.url}/f.bin",
        tmp_path / "f.bin",
        checksum=_sha256(data),
        progress=False,
    )
    assert out.read_bytes() == data and not (tmp_path / "f.bin.part").exists()
    # a finished, verified file is not fetched again
    download_file(f"{server.url}/f.bin", out, checksum=_md5(data), progress=False)
    assert len(server.requests) == 1


def test_download_interrupted_then_resumed_in_a_later_call(server, tmp_path):
    data = _payload()
    server.files["/f.bin"] = data
    server.cut_after, server.n_cuts = 120_000, 1
    with pytest.raises(
        OSError, match=r"after 1 attempt.*120000 bytes received are kept"
    ):
        download_file(
            f"{server.url}/f.bin",
            tmp_path / "f.bin",
            checksum=_md5(data),
            progress=False,
            n_retries=0,
        )
    part = tmp_path / "f.bin.part"
    assert part.stat().st_size == 120_000 and not (tmp_path / "f.bin").exists()
    out = download_file(
        f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_md5(data), progress=False
    )
    assert out.read_bytes() == data and not part.exists()
    assert server.requests == [("/f.bin", None), ("/f.bin", "bytes=120000-")]


def test_download_resumes_within_one_call(server, tmp_path):
    data = _payload()
    server.files["/f.bin"] = data
    server.cut_after, server.n_cuts = 50_000, 2  # two broken responses, then a good one
    out = download_file(
        f"{server.url}/f.bin",
        tmp_path / "f.bin",
        checksum=_md5(data),
        progress=True,
        n_retries=3,
    )
    assert out.read_bytes() == data
    assert [r for _, r in server.requests] == [None, "bytes=50000-", "bytes=100000-"]


def test_download_restarts_when_range_is_ignored(server, tmp_path):
    data = _payload()
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes from elsewhere")
    server.honour_range = False  # answers 200 with the whole file
    out = download_file(
        f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_md5(data), progress=False
    )
    assert out.read_bytes() == data


def test_download_restarts_on_unexpected_content_range(server, tmp_path):
    data = _payload()
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data[:1000])
    server.lie_about_range = True
    out = download_file(
        f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_md5(data), progress=False
    )
    assert out.read_bytes() == data
    assert [r for _, r in server.requests] == ["bytes=1000-", None]


def test_download_part_already_complete(server, tmp_path):
    data = _payload(1000)
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data)  # server answers 416
    out = download_file(
        f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_md5(data), progress=False
    )
    assert out.read_bytes() == data


def test_download_checksum_mismatch(server, tmp_path):
    server.files["/f.bin"] = _payload()
    wrong = _md5(b"something else")
    with pytest.raises(
        OSError, match=r"checksum mismatch.*expected md5 [0-9a-f]{32}, got"
    ):
        download_file(
            f"{server.url}/f.bin", tmp_path / "f.bin", checksum=wrong, progress=False
        )
    # nothing corrupt is left behind to be resumed
    assert list(tmp_path.iterdir()) == []
    # a file already in place with the wrong content is reported, not overwritten
    (tmp_path / "f.bin").write_bytes(b"old")
    with pytest.raises(OSError, match="exists but its md5 is .* Delete it"):
        download_file(
            f"{server.url}/f.bin", tmp_path / "f.bin", checksum=wrong, progress=False
        )


def test_download_without_checksum_prints_sha256(server, tmp_path, capsys):
    data = _payload(5000)
    server.files["/f.bin"] = data
    download_file(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    err = capsys.readouterr().err
    assert _sha256(data) in err and "pin it" in err


def test_download_errors(server, tmp_path):
    with pytest.raises(OSError, match=r"HTTP 404"):
        download_file(f"{server.url}/absent", tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="checksum must be None or 'md5:"):
        download_file(f"{server.url}/absent", tmp_path / "x", checksum="abc")
    with pytest.raises(ValueError, match="url must start with http"):
        download_file("ftp://example.org/x", tmp_path / "x")


# ---------------------------------------------------------------------------
# archives
# ---------------------------------------------------------------------------


def _targz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_fetch_archive(server, tmp_path, kind):
    members = {"top/a.txt": b"a", "top/sub/b.txt": b"b" * 1000}
    data = _targz(members) if kind == "tar.gz" else _zip(members)
    server.files[f"/x.{kind}"] = data
    remote = RemoteFile(f"x.{kind}", f"{server.url}/x.{kind}", _sha256(data))
    dest = fetch_archive(remote, tmp_path / "d", progress=False)
    assert (dest / "top/sub/b.txt").read_bytes() == b"b" * 1000
    assert sorted(p.name for p in dest.iterdir()) == ["top"]  # archive and temp removed
    # existing files are kept when unpacking again
    (dest / "top/a.txt").write_bytes(b"mine")
    fetch_archive(remote, tmp_path / "d", progress=False, keep_archive=True)
    assert (dest / "top/a.txt").read_bytes() == b"mine" and (
        dest / f"x.{kind}"
    ).is_file()


def test_extract_refuses_unsafe_paths(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip({"../evil.txt": b"x"}))
    with pytest.raises(OSError, match="unsafe path"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_extract_caps_the_unpacked_size(tmp_path, kind):
    # 4 MiB of zeros pack into a few KiB: a small decompression bomb
    members = {"top/zeros.bin": bytes(4 << 20), "top/a.txt": b"a"}
    data = _targz(members) if kind == "tar.gz" else _zip(members)
    archive = tmp_path / f"bomb.{kind}"
    archive.write_bytes(data)
    with pytest.raises(
        _download.ArchiveTooLargeError,
        match=rf"bomb\.{re.escape(kind)} declares an unpacked size of 4\.0 MiB "
        r"\(4194305 bytes\), more than max_size=1000000 bytes",
    ):
        extract_archive(archive, tmp_path / "out", max_size=1_000_000)
    assert list((tmp_path / "out").iterdir()) == []  # nothing written
    with pytest.raises(
        _download.ArchiveTooLargeError,
        match=r"compression ratio of \d+, more than max_ratio=100 .*bomb",
    ):
        extract_archive(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    # raised caps let a trusted archive through
    extract_archive(archive, tmp_path / "out", max_ratio=1e6)
    assert (tmp_path / "out/top/zeros.bin").stat().st_size == 4 << 20


def test_extract_cap_holds_while_unpacking(tmp_path):
    # headers can lie: the bytes written are counted too, so a stream longer
    # than its header says is stopped at max_size
    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            b[:] = bytes(len(b))
            return len(b)

    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"x": b"x"}))
    guard = _download._SizeGuard(archive, max_size=1 << 20, max_ratio=1e9)
    with pytest.raises(
        _download.ArchiveTooLargeError,
        match=r"a\.zip unpacked to at least .* more than max_size=1048576",
    ):
        guard.copy(io.BufferedReader(Endless()), tmp_path / "out" / "x")
    assert (tmp_path / "out" / "x").stat().st_size <= 1 << 20


def test_fetch_archive_passes_the_caps(server, tmp_path):
    data = _zip({"top/zeros.bin": bytes(2 << 20)})
    server.files["/big.zip"] = data
    remote = RemoteFile("big.zip", f"{server.url}/big.zip", _sha256(data))
    with pytest.raises(_download.ArchiveTooLargeError, match="max_size=1000"):
        fetch_archive(remote, tmp_path / "d", progress=False, max_size=1000)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["big.zip"]
    fetch_archive(remote, tmp_path / "d", progress=False, max_ratio=1e6)
    assert (tmp_path / "d/top/zeros.bin").stat().st_size == 2 << 20


def test_corrupt_archive_is_deleted(server, tmp_path):
    data = b"this is not an archive" * 10
    server.files["/bad.zip"] = data
    remote = RemoteFile("bad.zip", f"{server.url}/bad.zip", None)
    with pytest.raises(OSError, match="could not be unpacked.*deleted"):
        fetch_archive(remote, tmp_path, progress=False)
    assert not (tmp_path / "bad.zip").exists()


# ---------------------------------------------------------------------------
# loaders with download=True
# ---------------------------------------------------------------------------


def test_urbansound8k_download(server, tmp_path, monkeypatch):
    wav = _tiny_wav()
    members = {}
    rows = [
        [
            "slice_file_name",
            "fsID",
            "start",
            "end",
            "salience",
            "fold",
            "classID",
            "class",
        ]
    ]
    for fold in (1, 2):
        for cid, cname in enumerate(URBANSOUND8K_CLASSES):
            name = f"{100 + cid}-{cid}-0-{fold}.wav"
            rows.append([name, 100 + cid, 0, 4, 1, fold, cid, cname])
            members[f"UrbanSound8K/audio/fold{fold}/{name}"] = wav
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    members["UrbanSound8K/metadata/UrbanSound8K.csv"] = text.getvalue().encode()
    archive = _targz(members)
    server.files["/UrbanSound8K.tar.gz"] = archive
    monkeypatch.setitem(
        _download.REMOTES,
        "urbansound8k",
        RemoteFile(
            "UrbanSound8K.tar.gz",
            f"{server.url}/UrbanSound8K.tar.gz?download=1",
            _md5(archive),
        ),
    )
    server.cut_after, server.n_cuts = len(archive) // 2, 1  # interrupted once, resumed
    b = load_urbansound8k(tmp_path, download=True)
    assert len(b.filenames) == 20 and b.cv.get_n_splits() == 2
    assert Path(b.filenames[0]).is_relative_to(
        tmp_path / "urbansound8k" / "UrbanSound8K"
    )
    assert not (tmp_path / "urbansound8k" / "UrbanSound8K.tar.gz").exists()
    assert [r for _, r in server.requests] == [None, f"bytes={len(archive) // 2}-"]
    # idempotent: once it is there, nothing is fetched
    load_urbansound8k(tmp_path, download=True)
    assert len(server.requests) == 2


def test_urbansound8k_download_checksum_mismatch(server, tmp_path, monkeypatch):
    server.files["/UrbanSound8K.tar.gz"] = _targz({"UrbanSound8K/x.txt": b"x"})
    monkeypatch.setitem(
        _download.REMOTES,
        "urbansound8k",
        RemoteFile(
            "UrbanSound8K.tar.gz", f"{server.url}/UrbanSound8K.tar.gz", _md5(b"other")
        ),
    )
    with pytest.raises(OSError, match="checksum mismatch"):
        load_urbansound8k(tmp_path, download=True)
    assert not (tmp_path / "urbansound8k" / "UrbanSound8K").exists()


def test_esc50_download(server, tmp_path, monkeypatch, capsys):
    wav = _tiny_wav()
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    members = {}
    for fold in range(1, 6):
        for t in range(2):
            name = f"{fold}-{500 + t}-A-{t}.wav"
            lines.append(f"{name},{fold},{t},{['dog', 'rain'][t]},True,{500 + t},A")
            members[f"ESC-50-master/audio/{name}"] = wav
    members["ESC-50-master/meta/esc50.csv"] = ("\n".join(lines) + "\n").encode()
    server.files["/master.zip"] = _zip(members)
    monkeypatch.setitem(
        _download.REMOTES,
        "esc50",
        RemoteFile("ESC-50-master.zip", f"{server.url}/master.zip", None),
    )
    b = load_esc50(tmp_path, download=True)
    assert len(b.filenames) == 10 and b.target_names == ["dog", "rain"]
    assert b.cv.get_n_splits() == 5
    assert "sha256:" in capsys.readouterr().err  # no pinned checksum: printed
    load_esc50(tmp_path, download=True)
    assert len(server.requests) == 1


def test_extended_ballroom_download(server, tmp_path, monkeypatch):
    tracks = {
        "100601": ("Waltz", _payload(3000, 1)),
        "100701": ("Chacha", _payload(4000, 2)),
        "200001": ("Wcswing", _payload(2000, 3)),
    }
    for tid, (_, data) in tracks.items():
        server.files[f"/mp3/{tid}.mp3"] = data
    rows = [
        (tid, label, hashlib.md5(data).hexdigest())
        for tid, (label, data) in tracks.items()
    ]
    rows.append(
        ("300001", "Tango", hashlib.md5(b"expected").hexdigest())
    )  # wrong bytes
    server.files["/mp3/300001.mp3"] = b"changed on the server"
    monkeypatch.setattr(ballroom_module, "_read_metadata", lambda: rows)
    monkeypatch.setitem(
        _download.REMOTES,
        "extended_ballroom",
        RemoteFile("{label}/{id}.mp3", f"{server.url}/mp3/{{id}}.mp3", None),
    )
    with pytest.raises(
        OSError, match=r"1 of 4 tracks could not be downloaded.*Tango/300001"
    ):
        load_extended_ballroom(tmp_path, download=True)
    for tid, (label, data) in tracks.items():
        assert (
            tmp_path / "extended_ballroom" / label / f"{tid}.mp3"
        ).read_bytes() == data
    # the server is fixed: only the failed track is fetched again
    server.files["/mp3/300001.mp3"] = b"expected"
    n = len(server.requests)
    b = load_extended_ballroom(tmp_path, download=True)
    assert server.requests[n:] == [("/mp3/300001.mp3", None)]
    assert len(b.filenames) == 4 and sorted(b.ids.tolist()) == [
        100601,
        100701,
        200001,
        300001,
    ]
    load_extended_ballroom(tmp_path, download=True)
    assert len(server.requests) == n + 1
