"""Download helper: resumable, checksummed downloads and safe unpacking.

:data:`REMOTES` is the single table of public sources. A checksum is written
``"md5:<hex>"`` or ``"sha256:<hex>"``; ``None`` means that no checksum is known
with certainty (the GitHub-generated ESC-50 archive changes whenever the
repository does). When a checksum is given the download is verified against it;
when it is ``None`` the first download prints the file's sha256 so that it can
be pinned.

A download streams into ``<file>.part`` with a progress bar (:mod:`tqdm`). If the
connection drops, the next attempt (in the same call, up to ``n_retries`` times,
or in a later call) resumes from the bytes already there with an HTTP ``Range``
request; a server that ignores ``Range`` makes it start over. Only a verified
file is renamed to its final name, so a finished download is never fetched
again.

Unpacking refuses unsafe member paths, links and special files, and archives
that would unpack to more than 16 GiB or at a compression ratio over 100
(:func:`extract_archive`; both caps are parameters).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import sys
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

__all__ = [
    "RemoteFile",
    "REMOTES",
    "ArchiveTooLargeError",
    "download_file",
    "extract_archive",
    "fetch_archive",
]


@dataclass(frozen=True)
class RemoteFile:
    """A downloadable file: local ``filename``, ``url`` and ``checksum``."""

    filename: str
    url: str
    checksum: str | None
    description: str = ""


#: The public sources. GTZAN has none: its original link
#: (http://opihi.cs.uvic.ca/sound/genres.tar.gz) is dead.
REMOTES: dict[str, RemoteFile] = {
    # Zenodo record 1203745 (UrbanSound8K v1.0, about 6 GB); unpacks to UrbanSound8K/.
    "urbansound8k": RemoteFile(
        filename="UrbanSound8K.tar.gz",
        url="https://zenodo.org/records/1203745/files/UrbanSound8K.tar.gz?download=1",
        checksum="md5:9aa69802bbf37fb986f71ec1483a196e",
        description="UrbanSound8K v1.0 (Zenodo record 1203745)",
    ),
    # GitHub archive of the master branch (under 1 GB); unpacks to ESC-50-master/.
    # No checksum: GitHub generates the archive, and master may change.
    "esc50": RemoteFile(
        filename="ESC-50-master.zip",
        url="https://github.com/karolpiczak/ESC-50/archive/master.zip",
        checksum=None,
        description="ESC-50 (github.com/karolpiczak/ESC-50, branch master)",
    ),
    # Extended Ballroom has no audio archive: its official script fetches every
    # track from this address ({id} = track id). Each track is verified against
    # the md5 column of the shipped metadata CSV instead of this table.
    "extended_ballroom": RemoteFile(
        filename="{label}/{id}.mp3",
        url="http://media.ballroomdancers.com/mp3/{id}.mp3",
        checksum=None,
        description="Extended Ballroom v1.1, one mp3 per track (md5 in the metadata)",
    ),
}

_ALGORITHMS = {"md5": 32, "sha256": 64}
_CHUNK = 1 << 16
# Errors that mean "the transfer broke": retried, and resumed from the .part file.
_TRANSIENT = (URLError, http.client.HTTPException, ConnectionError, TimeoutError)


class _IncompleteDownload(OSError):
    pass


def _parse_checksum(checksum: str | None) -> tuple[str, str] | None:
    if checksum is None:
        return None
    algo, sep, digest = str(checksum).partition(":")
    algo, digest = algo.strip().lower(), digest.strip().lower()
    if (
        not sep
        or algo not in _ALGORITHMS
        or not re.fullmatch(rf"[0-9a-f]{{{_ALGORITHMS[algo]}}}", digest)
    ):
        raise ValueError(
            "checksum must be None or 'md5:<32 hex digits>' or "
            f"'sha256:<64 hex digits>'; got {checksum!r}."
        )
    return algo, digest


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (``algorithm`` is ``"md5"`` or ``"sha256"``)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stream(url: str, part: Path, *, progress: bool, timeout: float, desc: str) -> None:
    """Append the rest of ``url`` to ``part`` (or rewrite it if the server
    ignores ``Range``)."""
    from tqdm.auto import tqdm

    from .. import __version__

    start = part.stat().st_size if part.exists() else 0
    request = Request(url, headers={"User-Agent": f"skaudio_random/{__version__}"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urlopen(request, timeout=timeout)  # noqa: S310 - http(s) only
    except HTTPError as exc:
        if exc.code == 416 and start:
            # Range not satisfiable: the .part already holds the whole file.
            return
        raise
    with response:
        resumed = start > 0 and response.status == 206
        if start and not resumed:
            start = 0  # the server sent the whole file again
        if resumed:
            m = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != start:
                part.unlink()  # an unexpected range: start afresh next attempt
                raise _IncompleteDownload(
                    f"the server answered Range bytes={start}- with Content-Range "
                    f"{response.headers.get('Content-Range')!r}"
                )
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        received = 0
        with (
            open(part, "ab" if resumed else "wb") as f,
            tqdm(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=desc,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if length is not None and received < int(length):
        raise _IncompleteDownload(
            f"the connection closed after {start + received} of {total} bytes"
        )


def download_file(
    url: str,
    path: str | os.PathLike,
    *,
    checksum: str | None = None,
    progress: bool = True,
    n_retries: int = 3,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``path``, resuming and verifying it.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` address.
    path : str or os.PathLike
        Final file name; the transfer goes to ``path + ".part"`` first.
    checksum : str, default=None
        ``"md5:<hex>"`` or ``"sha256:<hex>"``. When ``None`` nothing is verified
        and the file's sha256 is printed so that it can be pinned.
    progress : bool, default=True
        Show a :mod:`tqdm` progress bar.
    n_retries : int, default=3
        How many times a broken transfer is resumed within this call.
    timeout : float, default=60.0
        Socket timeout in seconds.

    Returns
    -------
    path : pathlib.Path
        The downloaded (or already present and verified) file.

    Raises
    ------
    OSError
        If the server answers with an HTTP error, if the transfer still breaks
        after ``n_retries`` resumptions (the ``.part`` file is kept, so a later
        call resumes it), or if the checksum does not match (the download is
        deleted).
    ValueError
        If ``url`` is not http(s) or ``checksum`` is malformed.
    """
    expected = _parse_checksum(checksum)
    if not re.match(r"https?://", str(url)):
        raise ValueError(f"url must start with http:// or https://; got {url!r}.")
    path = Path(path)
    if path.exists():
        if expected is None:
            return path
        got = file_hash(path, expected[0])
        if got == expected[1]:
            return path
        raise OSError(
            f"{path} exists but its {expected[0]} is {got}, not the expected "
            f"{expected[1]}. Delete it to download it again."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    for attempt in range(n_retries + 1):
        try:
            _stream(url, part, progress=progress, timeout=timeout, desc=path.name)
            break
        except HTTPError as exc:
            raise OSError(
                f"downloading {url} failed: HTTP {exc.code} {exc.reason}."
            ) from exc
        except (_IncompleteDownload, *_TRANSIENT) as exc:
            if attempt == n_retries:
                have = part.stat().st_size if part.exists() else 0
                raise OSError(
                    f"downloading {url} failed after {n_retries + 1} attempt(s): "
                    f"{exc}. The {have} bytes received are kept in {part}; call "
                    "again to resume."
                ) from exc
    if expected is None:
        digest = file_hash(part, "sha256")
        print(
            f"Downloaded {path.name} from {url}; no checksum is pinned for it. "
            f"sha256:{digest} (pin it in skaudio_random.datasets._download.REMOTES "
            "to verify future downloads).",
            file=sys.stderr,
        )
    else:
        got = file_hash(part, expected[0])
        if got != expected[1]:
            part.unlink()
            raise OSError(
                f"checksum mismatch for {url}: expected {expected[0]} {expected[1]}, "
                f"got {got}. The corrupt download was deleted; call again to retry. "
                "If it keeps failing, the file on the server has changed."
            )
    part.replace(path)
    return path


def _check_member(name: str, archive: Path) -> None:
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise OSError(
            f"{archive} holds an unsafe path {name!r}; refusing to unpack it."
        )


def _merge_move(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``, merging folders and keeping existing files."""
    if not dst.exists():
        src.replace(dst)
    elif src.is_dir() and dst.is_dir():
        for child in src.iterdir():
            _merge_move(child, dst / child.name)
        src.rmdir()
    else:
        # dst exists and is kept; drop the new copy
        shutil.rmtree(src) if src.is_dir() else src.unlink()


#: Default caps of :func:`extract_archive`: well above the real archives
#: (ESC-50 about 0.7 GB, GTZAN about 1.2 GB, UrbanSound8K about 6 GB unpacked,
#: audio that compresses by a factor under 2).
MAX_UNPACKED_SIZE = 16 * 2**30
MAX_COMPRESSION_RATIO = 100.0
#: Below this unpacked total the ratio is not checked: a small archive of text
#: compresses well and can do no harm.
_RATIO_GRACE = 2**20


class ArchiveTooLargeError(OSError):
    """An archive would unpack to more than the allowed size or ratio."""


def _format_size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


class _SizeGuard:
    """Checks an unpacked total against ``max_size`` and ``max_ratio``."""

    def __init__(self, archive: Path, max_size: int, max_ratio: float):
        self.archive = archive
        self.max_size = max_size
        self.max_ratio = max_ratio
        self.packed = max(archive.stat().st_size, 1)
        self.written = 0

    def check(self, total: int, what: str) -> None:
        if total > self.max_size:
            raise ArchiveTooLargeError(
                f"{self.archive} {what} {_format_size(total)} ({total} bytes), more "
                f"than max_size={self.max_size} bytes "
                f"({_format_size(self.max_size)}); refusing to unpack it. If you "
                "trust this archive, unpack it with skaudio_random.datasets._download."
                "extract_archive(archive, dest, max_size=...)."
            )
        ratio = total / self.packed
        if total > _RATIO_GRACE and ratio > self.max_ratio:
            raise ArchiveTooLargeError(
                f"{self.archive} {what} {_format_size(total)} ({total} bytes) from "
                f"{_format_size(self.packed)}, a compression ratio of {ratio:.0f}, "
                f"more than max_ratio={self.max_ratio:g} (a decompression bomb?); "
                "refusing to unpack it. If you trust this archive, unpack it with "
                "skaudio_random.datasets._download.extract_archive(archive, dest, "
                "max_ratio=...)."
            )

    def copy(self, src, dst: Path) -> None:
        """Copy the stream ``src`` into the new file ``dst``, counting bytes."""
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(dst, "wb") as out:  # a later member of the same name wins
            for block in iter(lambda: src.read(_CHUNK), b""):
                self.written += len(block)
                self.check(self.written, "unpacked to at least")
                out.write(block)


def _unpack_zip(archive: Path, tmp: Path, guard: _SizeGuard) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _check_member(info.filename, archive)
        declared = sum(i.file_size for i in infos)
        guard.check(declared, "declares an unpacked size of")
        for info in infos:
            target = tmp / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            # ZipExtFile checks each member's CRC when it reaches its end.
            with zf.open(info) as src:
                guard.copy(src, target)


def _unpack_tar(archive: Path, tmp: Path, guard: _SizeGuard) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        for m in members:
            _check_member(m.name, archive)
            if not (m.isfile() or m.isdir()):
                raise OSError(
                    f"{archive} holds a link or special file {m.name!r}; "
                    "refusing to unpack it."
                )
        declared = sum(m.size for m in members if m.isfile())
        guard.check(declared, "declares an unpacked size of")
        for m in members:
            target = tmp / m.name
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            with tf.extractfile(m) as src:
                guard.copy(src, target)


def extract_archive(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    max_size: int = MAX_UNPACKED_SIZE,
    max_ratio: float = MAX_COMPRESSION_RATIO,
) -> Path:
    """Unpack a ``.zip``, ``.tar``, ``.tar.gz``/``.tgz`` or ``.tar.bz2`` archive.

    It unpacks into a temporary folder inside ``dest`` and then moves the
    content into ``dest`` (existing files are kept), so an interrupted or
    refused unpack leaves nothing half-written in place. Members with absolute
    paths or ``..`` are refused, and so are tar links and special files; only
    regular files and folders are written.

    Parameters
    ----------
    archive : str or os.PathLike
        The archive file.
    dest : str or os.PathLike
        The folder to unpack into (created if needed).
    max_size : int, default=MAX_UNPACKED_SIZE
        Most bytes the archive may unpack to (16 GiB; the largest real
        archive, UrbanSound8K, unpacks to about 6 GB).
    max_ratio : float, default=MAX_COMPRESSION_RATIO
        Largest allowed ratio of the unpacked total to the archive's size
        (100; compressed audio archives are near 1). Not checked while the
        unpacked total is under 1 MiB.

    Both caps are checked against the sizes the member headers declare before
    anything is written, and again against the bytes actually written while
    unpacking (a forged header cannot get past them).

    Returns
    -------
    dest : pathlib.Path

    Raises
    ------
    ArchiveTooLargeError
        An :class:`OSError` naming the archive, the size and the cap, if a cap
        is exceeded.
    OSError
        If a member has an unsafe path or is a link or special file.
    """
    archive, dest = Path(archive), Path(dest)
    guard = _SizeGuard(archive, max_size, max_ratio)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f".{archive.name}.unpacking"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        if archive.name.lower().endswith(".zip") or zipfile.is_zipfile(archive):
            _unpack_zip(archive, tmp, guard)
        else:
            _unpack_tar(archive, tmp, guard)
        for child in list(tmp.iterdir()):
            _merge_move(child, dest / child.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def fetch_archive(
    remote: RemoteFile,
    dest: str | os.PathLike,
    *,
    progress: bool = True,
    keep_archive: bool = False,
    max_size: int = MAX_UNPACKED_SIZE,
    max_ratio: float = MAX_COMPRESSION_RATIO,
) -> Path:
    """Download ``remote`` into ``dest``, verify it and unpack it there.

    A verified archive already in ``dest`` is not fetched again. An archive
    that cannot be unpacked (a corrupt resume of an unpinned file) is deleted,
    so the next call downloads it afresh. An archive over ``max_size`` or
    ``max_ratio`` (see :func:`extract_archive`) raises
    :class:`ArchiveTooLargeError` and is kept, unpacked nowhere.

    Returns
    -------
    dest : pathlib.Path
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    archive = download_file(
        remote.url, dest / remote.filename, checksum=remote.checksum, progress=progress
    )
    try:
        extract_archive(archive, dest, max_size=max_size, max_ratio=max_ratio)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        archive.unlink()
        raise OSError(
            f"{archive} could not be unpacked ({exc}); it was deleted. Call again "
            "to download it afresh."
        ) from exc
    if not keep_archive:
        archive.unlink()
    return dest
