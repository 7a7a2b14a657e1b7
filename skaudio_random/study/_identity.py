"""The identity of a study: what its numbers depend on, as stored in ``study.json``.

Two runs into one results folder may share rows only when they read the same
clips (paths and content), with the same targets and folds, and every setting
that changes a number is the same. ``study.json`` records digests of the clips,
targets and folds (not the lists) and the settings; ``study_clips.csv`` lists
each clip with its content fingerprint, so a mismatch can name the files.
Models, widths, classifiers and runs are part of each row's key instead: a
rerun may ask for more or fewer of them. A user's own model (not a registry
name) is identified by its label's record under ``"models"`` (spec, parameters,
network structure digest per width): a rerun may drop or add user models, but
one whose record differs under the same label is another study.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings

import numpy as np
from tqdm.auto import tqdm

from .._input import AudioInput

#: Version of the ``study.json`` layout.
FORMAT = 2
#: Columns of ``study_clips.csv``.
CLIP_COLUMNS = ("role", "path", "fingerprint", "target")
# Keys of study.json compared on resume (everything but "format").
_COMPARED = (
    "dataset",
    "protocol",
    "n_clips",
    "n_test",
    "clips",
    "targets",
    "folds",
    "fix_length",
    "transformer_params",
    "svm_params",
    "fast_svm",
    "nested",
    "inner_splits",
    "trained_params",
)
# Keys a study.json of an earlier version may lack: none of its rows depend on
# them (it predates trained rows).
_ADDED_LATER = ("trained_params",)
_SHOWN = 3  # files named in a message


def _digest(values) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(values, default=str).encode())
    return h.hexdigest()


def _plain(value):
    """``value`` as JSON would give it back (tuples as lists, objects as str)."""
    return json.loads(json.dumps(value, default=str))


def clip_table(data, *, verbose=False) -> list[dict]:
    """One record per clip: role (train or test), path, fingerprint, target.

    Files are read once to fingerprint their content; the feature cache reuses
    the fingerprints within the process.
    """
    roles = [("train", "filenames", data.target)]
    if data.protocol == "validation":
        roles.append(("test", "test_filenames", data.test_target))
    table = []
    for role, key, target in roles:
        clips = AudioInput(list(getattr(data, key)), name=f"data.{key}")
        labels = np.asarray(target).tolist()
        desc = f"fingerprinting {role} clips"
        for i in tqdm(range(len(clips)), desc=desc, unit="clip", disable=not verbose):
            table.append(
                {
                    "role": role,
                    "path": clips.describe(i),
                    "fingerprint": clips.fingerprint(i),
                    "target": str(labels[i]),
                }
            )
    return table


def _folds(data) -> dict:
    """The splitter and a digest of the train/test indices it yields."""
    y = np.asarray(data.target)
    groups = getattr(data, "groups", None)
    h = hashlib.blake2b(digest_size=16)
    n_splits = 0
    with warnings.catch_warnings():
        # data.groups goes to every splitter; most ignore it, as intended
        warnings.filterwarnings("ignore", message="The groups parameter is ignored")
        for train, test in data.cv.split(np.zeros(len(y)), y, groups):
            n_splits += 1
            for part in (train, test):
                h.update(np.asarray(part, dtype=np.int64).tobytes() + b"|")
    if groups is not None:  # the nested CV's inner folds keep groups apart
        h.update(_digest(np.asarray(groups).tolist()).encode())
    return {"splitter": repr(data.cv), "n_splits": n_splits, "digest": h.hexdigest()}


def study_identity(
    data,
    clips: list[dict],
    *,
    transformer_params,
    svm_params,
    fast_svm: bool,
    nested: bool,
    inner_splits: int,
    trained_params: dict | None = None,
    models: dict | None = None,
) -> dict:
    """What ``study.json`` holds: every input and setting that changes a number.

    ``models`` maps a user model's label to what identifies it (see
    ``StudyModel.identity``).
    """
    nested = bool(nested) and data.protocol == "cv"  # ignored by "validation"
    return {
        "format": FORMAT,
        "dataset": data.name,
        "protocol": data.protocol,
        "n_clips": len(data.target),
        "n_test": sum(c["role"] == "test" for c in clips),
        "clips": _digest([[c["role"], c["path"], c["fingerprint"]] for c in clips]),
        "targets": _digest([[c["role"], c["target"]] for c in clips]),
        "folds": _folds(data),
        "fix_length": data.fix_length,
        "transformer_params": _plain(transformer_params or {}),
        "svm_params": _plain(svm_params) or None,
        "fast_svm": bool(fast_svm),
        "nested": nested,
        "inner_splits": int(inner_splits) if nested else None,
        "trained_params": _plain(trained_params) or None,
        "models": _plain(models or {}),
    }


def _model_changes(old: dict, new: dict) -> list[str]:
    """Phrases for the user models recorded under one label with another record
    (labels in only one of the two are other rows, not a change)."""
    changes = []
    for label in sorted(set(old) & set(new)):
        before, now = old[label], new[label]
        if before.get("spec") != now.get("spec"):
            changes.append(
                f"model {label!r} is {now.get('spec')}, was {before.get('spec')}"
            )
            continue
        if before.get("params") != now.get("params"):
            changes.append(f"model {label!r}: parameters changed")
        shared = set(before.get("structure", {})) & set(now.get("structure", {}))
        widths = sorted(
            (w for w in shared if before["structure"][w] != now["structure"][w]),
            key=int,
        )
        if widths:
            changes.append(
                f"model {label!r}: the network's structure changed (width "
                f"{', '.join(widths)})"
            )
    return changes


def merged_identity(old: dict, new: dict) -> dict:
    """``new`` keeping ``old``'s records of user models and widths it does not
    name, so rows of a model left out of one rerun stay identified."""
    models = {label: dict(rec) for label, rec in (old.get("models") or {}).items()}
    for label, rec in new.get("models", {}).items():
        structure = {
            **(models.get(label, {}).get("structure") or {}),
            **(rec.get("structure") or {}),
        }
        models[label] = {**rec, **({"structure": structure} if structure else {})}
    return {**new, "models": models}


# --------------------------------------------------------------------------- #
# what changed
# --------------------------------------------------------------------------- #
def _shown(keys: list[tuple], root: str) -> str:
    names = [os.path.relpath(p, root) if root else p for _, p in keys[:_SHOWN]]
    return ", ".join(names) + (", ..." if len(keys) > _SHOWN else "")


def _clip_changes(old: list[dict] | None, new: list[dict]) -> str:
    if old is None:
        return "clips changed (study_clips.csv is absent: no per-clip record)"
    old_fp = {(c["role"], c["path"]): c["fingerprint"] for c in old}
    new_fp = {(c["role"], c["path"]): c["fingerprint"] for c in new}
    groups = (
        (
            "with other content",
            [k for k in new_fp if k in old_fp and old_fp[k] != new_fp[k]],
        ),
        ("new", [k for k in new_fp if k not in old_fp]),
        ("gone", [k for k in old_fp if k not in new_fp]),
    )
    if not any(keys for _, keys in groups):
        return f"clips changed (the same {len(new)} files in another order)"
    paths = [p for _, p in (*old_fp, *new_fp)]
    try:  # files named relative to the clips' common folder, for short messages
        root = os.path.commonpath(paths) if len(set(paths)) > 1 else ""
    except ValueError:  # mixed drives, or absolute and relative paths
        root = ""
    parts = [f"{len(k)} files {label}: {_shown(k, root)}" for label, k in groups if k]
    return f"clips changed ({'; '.join(parts)})"


def _target_changes(old: list[dict] | None, new: list[dict]) -> str:
    if old is None:
        return "targets changed"
    before = {(c["role"], c["path"]): c["target"] for c in old}
    n = sum(before.get((c["role"], c["path"]), c["target"]) != c["target"] for c in new)
    return f"targets changed ({n} labels differ)" if n else "targets changed"


def _fold_changes(old, new: dict) -> str:
    if not isinstance(old, dict):
        return "folds changed (not recorded before)"
    if old.get("n_splits") != new["n_splits"]:
        return f"folds changed: n_splits {old.get('n_splits')} -> {new['n_splits']}"
    if old.get("splitter") != new["splitter"]:
        return f"folds changed: {old.get('splitter')} -> {new['splitter']}"
    hint = ""
    if "random_state=None" in new["splitter"]:
        hint = "; a splitter with random_state=None draws new folds every time"
    return f"folds changed (same splitter, other train/test indices{hint})"


def describe_changes(
    old: dict, new: dict, old_clips: list[dict] | None, new_clips: list[dict]
) -> list[str]:
    """One phrase per difference between two identities, e.g. ``"clips changed"``."""
    changes = []
    for key in _COMPARED:
        if old.get(key) == new[key] or (key not in old and key in _ADDED_LATER):
            continue
        if key not in old:
            changes.append(f"{key} not recorded (study.json of an older version)")
        elif key == "clips":
            changes.append(_clip_changes(old_clips, new_clips))
        elif key == "targets":
            changes.append(_target_changes(old_clips, new_clips))
        elif key == "folds":
            changes.append(_fold_changes(old[key], new[key]))
        else:
            changes.append(f"{key}: {old[key]!r} -> {new[key]!r}")
    return changes + _model_changes(old.get("models") or {}, new.get("models") or {})
