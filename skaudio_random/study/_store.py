"""The results folder of a study: its lock, ``study.json`` and ``results.csv``.

One study writes one folder at a time (a lock held for the whole run); its rows
are reused only by a run whose identity (``study.json``, see ``_identity``)
matches; a file torn by a kill is recovered, never silently misread.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import math
import os
import warnings
from pathlib import Path

from filelock import FileLock, Timeout

from . import _report
from ._identity import CLIP_COLUMNS, describe_changes, merged_identity

#: Columns of ``results.csv``.
RESULT_COLUMNS = (
    "dataset",
    "model",
    "width",
    "n_features",
    "classifier",
    "run",
    "random_state",
    "protocol",
    "score",
    "score_kind",
    "nested_score",
    "selection_score",
    "best_params",
    "nested_params",
    "n_train",
    "n_test",
    "feature_seconds",
    "fit_seconds",
    "nested_seconds",
    "transformer_params",
    "device",
    "version",
    "date",
    "note",
)
_FLOATS = (
    "score",
    "nested_score",
    "selection_score",
    "feature_seconds",
    "fit_seconds",
    "nested_seconds",
)
_INTS = ("n_features", "run", "random_state", "n_train", "n_test")
KEY = ("dataset", "model", "width", "classifier", "run")

#: What ``restart`` discards: the results, never the feature cache.
_RESULT_FILES = ("results.csv", "results.md", "summary.csv", "ttests.csv")
_KEEPS_FEATURES = (
    "Pass restart=True (--restart on the command line) to discard its results and "
    "start over; the cached features (memory=, by default out/features) are kept"
)


def parse_row(raw: dict) -> dict:
    """A ``results.csv`` row with its numbers parsed; ``ValueError`` if unreadable."""
    if None in raw or any(v is None for v in raw.values()):
        raise ValueError("short line")
    row = dict(raw)
    for k in _FLOATS:
        row[k] = float(row[k]) if row[k] not in ("", None) else math.nan
    for k in _INTS:
        row[k] = int(row[k]) if row[k] not in ("", None) else None
    row["width"] = int(row["width"]) if row["width"] not in ("", None) else None
    if not math.isfinite(row["score"]):
        raise ValueError("no score")
    return row


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` at once (a kill leaves the old or the new file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _csv_text(records, columns) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(columns)
    w.writerows([_report._cell(r.get(c)) for c in columns] for r in records)
    return buf.getvalue()


def append_row(path: Path, row: dict) -> None:
    """Append one finished row to ``results.csv`` and flush it to disk."""
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if new:
            w.writerow(RESULT_COLUMNS)
        w.writerow([_report._cell(row.get(c)) for c in RESULT_COLUMNS])
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def disk_full_is_clear(out: Path):
    """Turn a full disk (ENOSPC, EDQUOT) met while a study writes into one
    ``OSError`` naming the folder; the rows appended so far stay valid."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = Path(exc.filename).parent if exc.filename else Path(out)
        raise OSError(
            exc.errno,
            f"no space left on the device of {where} ({exc.strerror}); the study "
            f"stopped, and {Path(out) / 'results.csv'} keeps the rows written so "
            "far: free some space and run the same command again to resume",
        ) from None


def read_rows(path: Path) -> list[dict]:
    """The finished rows of ``results.csv``.

    A 0-byte file, a torn header or a torn last line (a kill in the middle of a
    write) and unreadable or duplicate lines are dropped, with a warning naming
    the file, and the file is rewritten with the readable rows.
    """
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            f"{path} is not a text file written by skaudio_random. {_KEEPS_FEATURES}."
        ) from None
    lines = text.splitlines()
    header = ",".join(RESULT_COLUMNS)
    if not lines or (len(lines) == 1 and header.startswith(lines[0])):
        if text.strip() and lines[0] != header:
            warnings.warn(f"{path}: dropped a torn header line.", stacklevel=2)
        _write_atomic(path, _csv_text([], RESULT_COLUMNS))
        return []
    reader = csv.reader(lines)
    if next(reader) != list(RESULT_COLUMNS):
        raise ValueError(
            f"{path} was written by another version of skaudio_random (its header "
            f"is {lines[0]!r}, this version writes {header!r}). {_KEEPS_FEATURES}."
        )
    torn = not text.endswith(("\n", "\r"))
    rows, dropped, seen = [], [], set()
    for number, line in enumerate(lines[1:], start=2):
        try:
            if torn and number == len(lines):
                raise ValueError("torn")
            fields = next(csv.reader([line]))
            row = parse_row(dict(zip(RESULT_COLUMNS, fields, strict=True)))
        except (ValueError, TypeError, StopIteration):
            dropped.append(f"line {number}")
            continue
        key = tuple(row[k] for k in KEY)
        if key in seen:
            dropped.append(f"line {number} (a duplicate)")
            continue
        seen.add(key)
        rows.append(row)
    if dropped:
        warnings.warn(
            f"{path}: dropped {len(dropped)} unreadable or duplicate line(s) "
            f"({', '.join(dropped[:5])}{', ...' if len(dropped) > 5 else ''}); "
            "those rows are computed again.",
            stacklevel=2,
        )
        _write_atomic(path, _csv_text(rows, RESULT_COLUMNS))
    return rows


class ResultsFolder:
    """The files of one study in ``out``.

    Parameters
    ----------
    out : pathlib.Path
        The results folder (created).
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.results = self.out / "results.csv"
        self.identity = self.out / "study.json"
        self.clips = self.out / "study_clips.csv"
        self.lock_file = self.out / "study.lock"

    @contextlib.contextmanager
    def locked(self):
        """Hold the folder's lock; a second study into ``out`` stops at once."""
        lock = FileLock(self.lock_file, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise BlockingIOError(
                f"another study is writing to out={self.out} (it holds the lock "
                f"{self.lock_file}); wait for it to finish, or pass another out "
                "folder (memory= can point at this one's feature cache to share it)."
            ) from None
        try:
            yield self
        finally:
            lock.release()

    def open(self, identity: dict, clips: list[dict], *, restart: bool) -> list[dict]:
        """Match ``study.json`` to ``identity`` and return the reusable rows.

        ``restart`` discards the results first. Without rows to reuse, any old
        identity is replaced. ``ValueError`` if the rows belong to another study.
        """
        if restart:
            self.discard()
        rows = read_rows(self.results)
        if rows:
            old = self._read_identity(len(rows))
            changes = describe_changes(old, identity, self._read_clips(), clips)
            if changes:
                raise ValueError(
                    f"out={self.out} holds results of another study: "
                    f"{'; '.join(changes)}. Reusing its {len(rows)} rows would "
                    f"report that study's numbers. {_KEEPS_FEATURES}; or pass "
                    "another out folder."
                )
            identity = merged_identity(old, identity)
        _write_atomic(self.clips, _csv_text(clips, CLIP_COLUMNS))
        _write_atomic(
            self.identity, json.dumps(identity, indent=2, sort_keys=True) + "\n"
        )
        return rows

    def discard(self) -> None:
        """Delete the results, figures and identity; keep the feature cache."""
        for name in (*_RESULT_FILES, self.identity.name, self.clips.name):
            (self.out / name).unlink(missing_ok=True)
        for figure in self.out.glob("figure_width*.png"):
            figure.unlink()

    def _read_identity(self, n_rows: int) -> dict:
        path = self.identity
        if not path.exists():
            problem = "is absent"
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
            try:
                old = json.loads(text)
                if isinstance(old, dict):
                    return old
                problem = f"holds a {type(old).__name__}, not a JSON object"
            except ValueError as exc:
                problem = "is empty" if not text.strip() else f"is not JSON ({exc})"
        raise ValueError(
            f"{path} {problem}, so nothing tells which study the {n_rows} rows of "
            f"{self.results} belong to. {_KEEPS_FEATURES}."
        )

    def _read_clips(self) -> list[dict] | None:
        try:
            with open(self.clips, newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
        except (OSError, csv.Error, UnicodeDecodeError):
            return None
