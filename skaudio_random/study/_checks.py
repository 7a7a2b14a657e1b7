"""Checks of :func:`~skaudio_random.study.run_study`'s arguments."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

from sklearn.svm import SVC

from ._models import MODELS


def check_data(data) -> None:
    need = ["filenames", "target", "cv", "protocol", "name", "fix_length"]
    absent = [
        k
        for k in need
        if not hasattr(data, k) and not (isinstance(data, dict) and k in data)
    ]
    if absent:
        raise ValueError(
            f"data must be a dataset bunch from a skaudio_random loader (with "
            f"{need}); it lacks {absent}."
        )
    if data.protocol not in ("validation", "cv"):
        raise ValueError(
            f"data.protocol must be 'validation' or 'cv'; got {data.protocol!r}."
        )
    if len(data.filenames) != len(data.target):
        raise ValueError(
            f"data.filenames and data.target differ in length ({len(data.filenames)} "
            f"vs {len(data.target)})."
        )
    if data.protocol == "validation":
        for k in ("test_filenames", "test_target"):
            if getattr(data, k, None) is None:
                raise ValueError(
                    f"data.protocol='validation' needs data.{k}; it is absent."
                )
        if len(data.test_filenames) != len(data.test_target):
            raise ValueError(
                "data.test_filenames and data.test_target differ in length."
            )


def check_names(kind: str, given, valid: Sequence[str]) -> list[str]:
    if isinstance(given, str):
        given = [given]
    given = list(given)
    if not given:
        raise ValueError(f"{kind} must not be empty; choose from {list(valid)}.")
    bad = [g for g in given if g not in valid]
    if bad:
        raise ValueError(f"unknown {kind} {bad}; choose from {list(valid)}.")
    if len(set(given)) != len(given):
        raise ValueError(f"{kind} has duplicates: {given}.")
    return given


def check_widths(widths) -> list[int]:
    if isinstance(widths, Integral):
        widths = [widths]
    widths = list(widths)
    if not widths or any(
        isinstance(w, bool) or not isinstance(w, Integral) or w < 1 for w in widths
    ):
        raise ValueError(
            f"widths must be positive ints such as (120, 3500); got {widths!r}."
        )
    return [int(w) for w in dict.fromkeys(widths)]


def check_transformer_params(params, labels=()) -> dict:
    """Split ``transformer_params`` into shared CNN params and per-model params
    (keyed by a name of :data:`MODELS` or one of the study's model ``labels``)."""
    params = dict(params or {})
    names = {*MODELS, *labels}
    per_model = {m: params.pop(m) for m in list(params) if m in names}
    for m, p in per_model.items():
        if not isinstance(p, dict):
            raise ValueError(
                f"transformer_params[{m!r}] must be a dict of {m}'s parameters; "
                f"got {p!r}."
            )
    accepted = {
        p for m, cls in MODELS.items() if m != "mfcc" for p in cls().get_params()
    }
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"transformer_params {unknown} is not a parameter of any CNN transformer "
            f"(they have {sorted(accepted)}); per-model settings go under the model's "
            "name, e.g. {'mfcc': {'n_mfcc': 13}}."
        )
    return {"shared": params, "per_model": per_model}


def check_svm_params(params) -> dict:
    params = dict(params or {})
    allowed = set(SVC().get_params()) - {"kernel", "gamma", "C", "degree", "coef0"}
    bad = sorted(set(params) - allowed)
    if bad:
        raise ValueError(
            f"svm_params {bad} cannot be set: the grid sets kernel, gamma and C; the "
            f"others are {sorted(allowed)}."
        )
    return params


# --------------------------------------------------------------------------- #
