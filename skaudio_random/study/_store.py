"""The results store of a study: ``results.csv`` rows and ``study.json``."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from . import _report

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

# Settings that change the numbers: a results folder holds one combination.
_SETTINGS = (
    "dataset",
    "protocol",
    "n_clips",
    "n_test",
    "fix_length",
    "transformer_params",
    "svm_params",
)


def parse_row(raw: dict) -> dict:
    row = dict(raw)
    for k in _FLOATS:
        row[k] = float(row[k]) if row[k] not in ("", None) else math.nan
    for k in _INTS:
        row[k] = int(row[k]) if row[k] not in ("", None) else None
    row["width"] = int(row["width"]) if row["width"] not in ("", None) else None
    if not math.isfinite(row["score"]):
        raise ValueError("no score")
    return row


def read_rows(path: Path) -> list[dict]:
    """Finished rows of ``results.csv``; a torn last line (a kill) is dropped."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames != list(RESULT_COLUMNS):
        raise ValueError(
            f"{path} has the columns {reader.fieldnames}, not those of this version "
            f"of skaudio_random ({list(RESULT_COLUMNS)}); use another out folder."
        )
    rows, bad = [], 0
    for raw in reader:
        try:
            if None in raw or any(v is None for v in raw.values()):
                raise ValueError("short line")
            rows.append(parse_row(raw))
        except (ValueError, TypeError):
            bad += 1
    if bad or not text.endswith("\n"):
        _report.write_csv(path, rows, RESULT_COLUMNS)  # rewrite without torn lines
    return rows


def append_row(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if new:
            w.writerow(RESULT_COLUMNS)
        w.writerow([_report._cell(row.get(c)) for c in RESULT_COLUMNS])
        f.flush()
        os.fsync(f.fileno())


def check_settings(path: Path, settings: dict, resume: bool) -> None:
    if path.exists() and resume:
        old = json.loads(path.read_text(encoding="utf-8"))
        diff = [k for k in _SETTINGS if old.get(k) != settings.get(k)]
        if diff:
            detail = "; ".join(
                f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in diff
            )
            raise ValueError(
                f"out={path.parent} holds results of another study ({detail}). Use "
                "another out folder, or resume=False to start it over."
            )
    path.write_text(
        json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


# --------------------------------------------------------------------------- #
