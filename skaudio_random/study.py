"""The paper's comparison of architectures on a dataset, end to end.

:func:`run_study` computes each model's features once per (width, seed),
selects and scores the paper's SVM and ELM with the dataset's protocol (Pons &
Serra, "Randomly weighted CNNs for (music) audio classification", ICASSP 2019,
SPEC section 5.3) and writes the tables, t-tests and figures of the paper.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, validate_params
from tqdm.auto import tqdm

from . import _report
from ._utils import resolve_device
from .architectures import ARCHITECTURES
from .elm import ELMClassifier
from .features import __all__ as _FEATURE_CLASSES
from .grids import paper_elm_grid, paper_svm_grid
from .kernels import clear_kernel_cache, make_kernel_svc
from .mfcc import MFCC

__all__ = ["run_study", "default_models", "StudyResult", "MODELS", "RESULT_COLUMNS"]


def _model_classes() -> dict[str, type]:
    from . import features

    classes = [getattr(features, name) for name in _FEATURE_CLASSES]
    found = {cls._architecture: cls for cls in classes}
    # registry order (the paper's), then the baseline
    return {**{k: found[k] for k in ARCHITECTURES if k in found}, "mfcc": MFCC}


#: Model name (a key of :data:`~skaudio_random.architectures.ARCHITECTURES`, or
#: ``"mfcc"``) -> transformer class.
MODELS: dict[str, type] = _model_classes()

CLASSIFIERS = ("svm", "elm")

# The models of the paper's figures (SPEC section 7.3).
_MUSIC_MODELS = (
    "vgg",
    "vertical_7x96",
    "vertical_7x86",
    "timbral",
    "temporal",
    "timbral_temporal",
    "sample_level",
    "frame_level",
    "frame_level_many_shapes",
)
_SOUND_MODELS = (
    "vgg",
    "vertical_7x96",
    "vertical_7x86",
    "timbral",
    "timbral_time",
    "sample_level",
    "frame_level",
    "frame_level_many_shapes",
)
_DEFAULT_MODELS = {"urbansound8k": _SOUND_MODELS, "esc50": _SOUND_MODELS}

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
_KEY = ("dataset", "model", "width", "classifier", "run")

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


def default_models(dataset=None) -> list[str]:
    """The models the paper compares on ``dataset``, plus the MFCC baseline.

    Parameters
    ----------
    dataset : str, default=None
        A dataset bunch's ``name``. ``"urbansound8k"`` and ``"esc50"`` (sounds)
        get the UrbanSound8K set, with ``timbral_time`` instead of ``temporal``
        and ``timbral_temporal``; anything else (music, folders, spoken digits)
        the GTZAN / Extended Ballroom set.

    Returns
    -------
    models : list of str
        Keys of :data:`MODELS`, in the paper's order, ``"mfcc"`` last.

    Examples
    --------
    >>> from skaudio_random.study import default_models
    >>> default_models("urbansound8k")[:3]
    ['vgg', 'vertical_7x96', 'vertical_7x86']
    >>> "temporal" in default_models("gtzan"), default_models()[-1]
    (True, 'mfcc')
    """
    return [*_DEFAULT_MODELS.get(dataset, _MUSIC_MODELS), "mfcc"]


@dataclass
class StudyResult:
    """What :func:`run_study` returns; the same information is in ``out``.

    Attributes
    ----------
    rows : list of dict
        One per dataset, model, width, classifier and run (the rows of
        ``results.csv`` this study asked for; MFCC rows have ``width=None``).
    summary : list of dict
        Per model, width and classifier: ``mean``, ``std`` (sample std over
        runs), ``n_runs``, ``nested_mean``, ``nested_std``, ``paper`` (the
        published number, or ``None``), ...
    ttests : list of dict
        The two-sample t-tests of ``ttests.csv``.
    out : pathlib.Path
        The results folder.
    files : dict of str to pathlib.Path
        The files written (``"results.csv"``, ``"results.md"``, ``"summary.csv"``,
        ``"ttests.csv"``, ``"figure_width120.png"``, ...).
    report : str
        The text of ``results.md``.
    n_computed, n_reused : int
        Rows computed by this call, and rows found from an earlier call.
    seconds : float
        Wall time of the call.
    """

    rows: list[dict]
    summary: list[dict]
    ttests: list[dict]
    out: Path
    files: dict[str, Path] = field(default_factory=dict)
    report: str = ""
    n_computed: int = 0
    n_reused: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return self.report


# --------------------------------------------------------------------------- #
# checks
# --------------------------------------------------------------------------- #
def _check_data(data) -> None:
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


def _check_names(kind: str, given, valid: Sequence[str]) -> list[str]:
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


def _check_widths(widths) -> list[int]:
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


def _check_transformer_params(params) -> dict:
    """Split ``transformer_params`` into shared CNN params and per-model params."""
    params = dict(params or {})
    per_model = {m: params.pop(m) for m in list(params) if m in MODELS}
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


def _check_svm_params(params) -> dict:
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
# results.csv
# --------------------------------------------------------------------------- #
def _parse_row(raw: dict) -> dict:
    row = dict(raw)
    for k in _FLOATS:
        row[k] = float(row[k]) if row[k] not in ("", None) else math.nan
    for k in _INTS:
        row[k] = int(row[k]) if row[k] not in ("", None) else None
    row["width"] = int(row["width"]) if row["width"] not in ("", None) else None
    if not math.isfinite(row["score"]):
        raise ValueError("no score")
    return row


def _read_rows(path: Path) -> list[dict]:
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
            rows.append(_parse_row(raw))
        except (ValueError, TypeError):
            bad += 1
    if bad or not text.endswith("\n"):
        _report.write_csv(path, rows, RESULT_COLUMNS)  # rewrite without torn lines
    return rows


def _append_row(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if new:
            w.writerow(RESULT_COLUMNS)
        w.writerow([_report._cell(row.get(c)) for c in RESULT_COLUMNS])
        f.flush()
        os.fsync(f.fileno())


def _check_settings(path: Path, settings: dict, resume: bool) -> None:
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
# protocol
# --------------------------------------------------------------------------- #
def _classifier(name: str, run: int, fast_svm: bool, device: str, svm_params: dict):
    """(pipeline, param_grid) of the paper's classifier and grid."""
    if name == "svm":
        if fast_svm:
            return (
                Pipeline([("svm", make_kernel_svc(device=device, **svm_params))]),
                paper_svm_grid("svm__", precomputed=True),
            )
        return Pipeline([("svm", SVC(**svm_params))]), paper_svm_grid("svm__")
    return (
        Pipeline([("elm", ELMClassifier(device=device, random_state=run))]),
        paper_elm_grid("elm__"),
    )


def _plain_params(params: dict) -> dict:
    """``svm__kernel__gamma`` -> ``gamma``: the same keys with and without fast_svm."""
    out = {}
    for k, v in params.items():
        key = k.rsplit("__", 1)[-1]
        out[key] = v.item() if isinstance(v, np.generic) else v
    return dict(sorted(out.items()))


def _groups(data):
    g = getattr(data, "groups", None)
    return None if g is None else np.asarray(g)


def _inner_cv(data, n_splits: int, groups):
    """Inner splitter of the nested CV.

    Grouped when the outer folds keep groups apart (e.g. UrbanSound8K's recordings).
    """
    if groups is not None:
        apart = all(
            not set(groups[tr]) & set(groups[te])
            for tr, te in data.cv.split(np.zeros(len(groups)), data.target, groups)
        )
        if apart:
            return StratifiedGroupKFold(n_splits, shuffle=True, random_state=0), True
    return StratifiedKFold(n_splits, shuffle=True, random_state=0), False


def _evaluate(X, y, X_test, y_test, data, est, grid, *, nested, inner_splits):
    """Scores of one classifier on one feature matrix, with the data's protocol."""
    groups = _groups(data)
    fit_kw = {} if groups is None else {"groups": groups}
    res = {}
    t0 = time.perf_counter()
    search = GridSearchCV(est, grid, cv=data.cv, refit=False, error_score="raise")
    search.fit(X, y, **fit_kw)
    res["best_params"] = _plain_params(search.best_params_)
    res["selection_score"] = float(search.best_score_)
    if data.protocol == "validation":
        train = next(iter(data.cv.split(X, y, groups)))[0]
        final = clone(est).set_params(**search.best_params_).fit(X[train], y[train])
        res["score"] = float(final.score(X_test, y_test))
        res["score_kind"] = "test"
        res["n_train"], res["n_test"] = len(train), len(y_test)
    else:
        res["score"] = res["selection_score"]
        res["score_kind"] = "best_cv"
        res["n_train"], res["n_test"] = len(y), 0
    res["fit_seconds"] = time.perf_counter() - t0
    res["nested_score"], res["nested_params"], res["nested_seconds"] = (
        math.nan,
        "",
        math.nan,
    )
    if nested and data.protocol == "cv":
        t0 = time.perf_counter()
        inner, grouped = _inner_cv(data, inner_splits, groups)
        scores, chosen = [], []
        for train, test in data.cv.split(X, y, groups):
            kw = {"groups": groups[train]} if grouped else {}
            smallest = np.bincount(np.unique(y[train], return_inverse=True)[1]).min()
            if smallest < inner_splits:
                raise ValueError(
                    f"nested CV: a training fold holds only {smallest} clip(s) of "
                    f"some class, fewer than inner_splits={inner_splits}; lower "
                    "inner_splits or use nested=False."
                )
            s = GridSearchCV(est, grid, cv=inner, refit=True, error_score="raise")
            s.fit(X[train], y[train], **kw)
            scores.append(float(s.score(X[test], y[test])))
            chosen.append(_plain_params(s.best_params_))
        res["nested_score"] = float(np.mean(scores))
        res["nested_params"] = json.dumps(chosen)
        res["nested_seconds"] = time.perf_counter() - t0
    return res


def _make_transformer(
    model, width, run, data, tparams, *, device, n_jobs, memory, verbose
):
    cls = MODELS[model]
    if model == "mfcc":
        # the paper's MFCC reads whole clips; "crop" would need a length (SPEC 4)
        kw = {"fix_length": "none" if data.fix_length == "crop" else data.fix_length}
    else:
        accepted = cls().get_params()
        kw = {
            "width": width,
            "random_state": run,
            "fix_length": data.fix_length,
            "device": device,
        }
        kw.update({k: v for k, v in tparams["shared"].items() if k in accepted})
    kw.update(n_jobs=n_jobs, memory=memory, verbose=bool(verbose))
    kw.update(tparams["per_model"].get(model, {}))
    return cls(**kw)


# --------------------------------------------------------------------------- #
# the study
# --------------------------------------------------------------------------- #
@validate_params(
    {
        "data": "no_validation",
        "models": [list, tuple, str, None],
        "widths": ["array-like", Interval(Integral, 1, None, closed="left")],
        "classifiers": [list, tuple, str],
        "runs": [Interval(Integral, 1, None, closed="left")],
        "out": [str, os.PathLike],
        "device": [str, torch.device],
        "n_jobs": [Integral, None],
        "memory": [None, str, os.PathLike, joblib.Memory],
        "nested": ["boolean"],
        "fast_svm": ["boolean"],
        "verbose": ["verbose"],
        "transformer_params": [dict, None],
        "inner_splits": [Interval(Integral, 2, None, closed="left")],
        "resume": ["boolean"],
        "figures": ["boolean"],
        "svm_params": [dict, None],
    },
    prefer_skip_nested_validation=True,
)
def run_study(
    data,
    *,
    models=None,
    widths=(120, 3500),
    classifiers=("svm", "elm"),
    runs=3,
    out="study_results",
    device="auto",
    n_jobs=None,
    memory=None,
    nested=True,
    fast_svm=True,
    verbose=True,
    transformer_params=None,
    inner_splits=3,
    resume=True,
    figures=True,
    svm_params=None,
):
    """Compare architectures on a dataset with the paper's protocol.

    For every model, width and run ``k`` (``random_state=k`` for the CNN and
    the ELM), the features of every clip are computed once (and cached per clip
    in ``memory``), then the paper's SVM and ELM grids are searched with
    :class:`~sklearn.model_selection.GridSearchCV` over a
    :class:`~sklearn.pipeline.Pipeline` on the feature matrix (no scaling, as
    in the paper), and the dataset's protocol decides what is reported (SPEC
    section 5.3):

    - ``data.protocol == "validation"`` (GTZAN): select on the validation
      split of ``data.cv``, fit the selected classifier on the training split
      only, report its accuracy on ``data.test_filenames``. The ELM keeps the
      first ``n_hidden`` with the best validation accuracy, as the paper did.
    - ``data.protocol == "cv"`` (Extended Ballroom, UrbanSound8K, folders):
      report the best grid point's mean accuracy over ``data.cv``, the paper's
      (optimistic) number, and with ``nested=True`` also the nested-CV accuracy
      (an inner grid search on the training folds chooses the
      hyper-parameters), the honest figure.

    Each finished row is appended to ``out/results.csv`` at once, so an
    interrupted study resumes where it stopped when run again with the same
    ``out``. At the end ``results.md`` (tables of mean ± std over runs with the
    MFCC baseline and, for the paper's datasets, the published numbers),
    ``summary.csv``, ``ttests.csv`` (two-sample t-tests between the pairs the
    paper compares) and one bar chart ``figure_width{W}.png`` per width are
    written.

    Parameters
    ----------
    data : sklearn.utils.Bunch
        A dataset from a ``skaudio_random.datasets`` loader: ``filenames``,
        ``target``, ``cv``, ``protocol``, ``name``, ``fix_length`` and, for the
        validation protocol, ``test_filenames`` and ``test_target``. ``groups``
        (if present) is passed to the splitters.
    models : list of str, default=None
        Keys of :data:`MODELS` (the architecture registry plus ``"mfcc"``).
        ``None`` uses :func:`default_models` for ``data.name``.
    widths : sequence of int, default=(120, 3500)
        Feature widths of the CNNs (``120`` and ``3500`` are the paper's; see
        the transformers' ``width``). The MFCC baseline (120 features) is
        computed once and appears in every width's table.
    classifiers : sequence of {"svm", "elm"}, default=("svm", "elm")
        The paper's SVM (32-point grid) and ELM (6 hidden-layer sizes).
    runs : int, default=3
        Runs per model; run ``k`` uses ``random_state=k``. The MFCC features do
        not depend on the seed and the SVM is deterministic, so MFCC + SVM is
        computed once and its row repeated for the other runs.
    out : str or os.PathLike, default="study_results"
        Results folder (created).
    device : str or torch.device, default="auto"
        Where the CNNs, the SVM kernels and the ELM run.
    n_jobs : int, default=None
        Threads decoding audio while the networks run. The grid searches run in
        this process (the SVM kernel cache is per process).
    memory : str, os.PathLike or joblib.Memory, default=None
        Per-clip feature cache; ``None`` uses ``out/features``. Point several
        studies at one folder to share features.
    nested : bool, default=True
        Also compute the nested-CV accuracy (``"cv"`` protocol only).
    fast_svm : bool, default=True
        Use :func:`~skaudio_random.make_kernel_svc` (kernels computed once per
        grid search and shared across C, gamma and folds; same results as
        ``SVC``) instead of a plain ``SVC``.
    verbose : bool or int, default=True
        Progress bars over models and clips, one line per finished row and the
        final table.
    transformer_params : dict, default=None
        Extra transformer parameters. Plain keys go to every CNN that has the
        parameter and are ignored by the others, e.g. ``{"n_frames": 94,
        "n_samples": 24000}`` for 2 s inputs instead of the paper's 29 s. A
        model name maps to that model's own parameters, e.g.
        ``{"mfcc": {"delta": "savgol"}}``. MFCC uses whole clips unless told
        otherwise here.
    inner_splits : int, default=3
        Folds of the inner search of the nested CV (stratified; grouped by
        ``data.groups`` when the outer folds keep groups apart, as
        UrbanSound8K's do).
    resume : bool, default=True
        Keep the finished rows of ``out/results.csv``. ``False`` starts over
        (the file is replaced; cached features are still reused).
    figures : bool, default=True
        Draw the bar charts (needs matplotlib; skipped with a warning without it).
    svm_params : dict, default=None
        Other :class:`~sklearn.svm.SVC` parameters, e.g. ``{"max_iter": 10**6}``:
        libsvm has no iteration cap by default, and the linear kernel at
        ``C=32`` on unscaled features that separate the classes poorly can take
        minutes per fit. ``None`` keeps the paper's defaults.

    Returns
    -------
    result : StudyResult
        Rows, summary, t-tests, the output folder and the files written.

    Raises
    ------
    ValueError
        For an unknown model or classifier, bad widths, a bunch that lacks what
        its protocol needs, or an ``out`` folder that holds another study.

    See Also
    --------
    default_models : The models of the paper's figures for a dataset.
    skaudio_random.paper_svm_grid, skaudio_random.paper_elm_grid : The grids.

    Notes
    -----
    Run ``k`` seeds the ELM with ``k`` both in the search and in the final fit,
    so on the validation protocol the refit ELM is the selected one (the paper's
    unseeded code drew new hidden weights for it). On the ``"cv"`` protocol the
    mean over folds is a plain mean; the paper's scikit-learn <= 0.19 weighted
    the SVM's folds by size (``iid=True``), which matters only for unequal folds
    (UrbanSound8K). The run time is dominated by the CNN features at width
    3500 on long clips; use a GPU (``device="cuda"``) for the paper's datasets.

    References
    ----------
    .. [1] J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio
       classification", ICASSP 2019, arXiv:1805.00237.

    Examples
    --------
    >>> from skaudio_random.datasets import load_spoken_digits
    >>> from skaudio_random.study import run_study
    >>> digits = load_spoken_digits()
    >>> result = run_study(digits, models=["mfcc", "vgg"], widths=[120],
    ...                    runs=2, out="study_digits")          # doctest: +SKIP
    >>> print(result.report)                                       # doctest: +SKIP
    """
    started = time.perf_counter()
    _check_data(data)
    models = _check_names(
        "models", default_models(data.name) if models is None else models, list(MODELS)
    )
    widths = _check_widths(widths)
    classifiers = _check_names("classifiers", classifiers, CLASSIFIERS)
    tparams = _check_transformer_params(transformer_params)
    svm_params = _check_svm_params(svm_params)
    device_name = str(resolve_device(device))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if memory is None:
        memory = out / "features"

    validation = data.protocol == "validation"
    y = np.asarray(data.target)
    files = list(data.filenames)
    y_test = np.asarray(data.test_target) if validation else None
    if validation:
        files += list(data.test_filenames)
    settings = {
        "dataset": data.name,
        "protocol": data.protocol,
        "n_clips": len(data.target),
        "n_test": len(y_test) if validation else 0,
        "fix_length": data.fix_length,
        "transformer_params": json.loads(
            json.dumps(transformer_params or {}, default=str)
        ),
        "svm_params": json.loads(json.dumps(svm_params, default=str)) or None,
    }
    csv_path = out / "results.csv"
    _check_settings(out / "study.json", settings, resume)
    if not resume and csv_path.exists():
        csv_path.unlink()
    done = {tuple(r[k] for k in _KEY): r for r in _read_rows(csv_path)}

    from . import __version__

    # MFCC first (the baseline, cheap), then widths x models x runs
    tasks = [(m, None, k) for m in models if m == "mfcc" for k in range(runs)]
    tasks += [
        (m, w, k) for w in widths for m in models if m != "mfcc" for k in range(runs)
    ]
    wanted = [(data.name, m, w, c, k) for m, w, k in tasks for c in classifiers]
    n_reused = sum(key in done for key in wanted)
    n_computed = 0
    bar = tqdm(tasks, desc=f"study {data.name}", unit="model", disable=not verbose)
    for model, width, run in bar:
        pending = [
            c for c in classifiers if (data.name, model, width, c, run) not in done
        ]
        if not pending:
            continue
        bar.set_postfix_str(f"{model} w={width} run={run}")
        seeded = "random_state" in MODELS[model]().get_params()
        todo = []
        for clf in pending:
            first = done.get((data.name, model, width, clf, 0))
            if clf == "svm" and not seeded and run > 0 and first is not None:
                row = {
                    **first,
                    "run": run,
                    "random_state": run,
                    "fit_seconds": 0.0,
                    "feature_seconds": 0.0,
                    "nested_seconds": 0.0,
                    "note": "copied from run 0: seed-independent features, "
                    "deterministic SVM",
                }
                _append_row(csv_path, row)
                done[(data.name, model, width, clf, run)] = row
                n_computed += 1
            else:
                todo.append(clf)
        if not todo:
            continue
        transformer = _make_transformer(
            model,
            width,
            run,
            data,
            tparams,
            device=device,
            n_jobs=n_jobs,
            memory=memory,
            verbose=verbose,
        )
        t0 = time.perf_counter()
        X_all = transformer.transform(files).astype(np.float64)
        feature_seconds = time.perf_counter() - t0
        X, X_test = X_all[: len(y)], X_all[len(y) :]
        used = {
            k: v
            for k, v in transformer.get_params().items()
            if k in ("n_frames", "n_samples", "fix_length")
        }
        for clf in todo:
            est, grid = _classifier(clf, run, fast_svm, device, svm_params)
            with warnings.catch_warnings():
                # tiny folds: "The least populated class in y has only n members"
                warnings.filterwarnings("ignore", message="The least populated class")
                # data.groups goes to every splitter; most ignore it, as intended
                warnings.filterwarnings(
                    "ignore", message="The groups parameter is ignored"
                )
                res = _evaluate(
                    X,
                    y,
                    X_test,
                    y_test,
                    data,
                    est,
                    grid,
                    nested=nested,
                    inner_splits=inner_splits,
                )
            clear_kernel_cache()
            row = {
                "dataset": data.name,
                "model": model,
                "width": width,
                "n_features": X.shape[1],
                "classifier": clf,
                "run": run,
                "random_state": run,
                "protocol": data.protocol,
                **res,
                "best_params": json.dumps(res["best_params"]),
                "feature_seconds": feature_seconds,
                "transformer_params": json.dumps(used, sort_keys=True),
                "device": device_name,
                "version": __version__,
                "date": datetime.datetime.now(datetime.timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "note": "",
            }
            feature_seconds = 0.0  # counted once per feature matrix
            _append_row(csv_path, row)
            done[(data.name, model, width, clf, run)] = row
            n_computed += 1
            if verbose:
                nested_txt = (
                    f", nested {100 * row['nested_score']:.2f}%"
                    if math.isfinite(row["nested_score"])
                    else ""
                )
                tqdm.write(
                    f"{model} width={width} run={run} {clf}: "
                    f"{100 * row['score']:.2f}% ({row['score_kind']}{nested_txt}) "
                    f"{row['best_params']}"
                )
    bar.close()

    rows = [done[key] for key in wanted if key in done]
    result = _write_report(
        rows,
        data,
        models,
        widths,
        classifiers,
        out,
        runs=runs,
        device=device_name,
        version=__version__,
        make_figures=figures,
        input_desc=_input_desc(data, tparams),
        classifier_desc=_classifier_desc(classifiers, fast_svm, svm_params),
    )
    result.n_computed, result.n_reused = n_computed, n_reused
    result.seconds = time.perf_counter() - started
    if verbose:
        print(result.report)
        print(f"Outputs in {out.resolve()}: " + ", ".join(sorted(result.files)))
    return result


def _classifier_desc(classifiers, fast_svm, svm_params) -> str:
    text = {
        "svm": "SVM: the paper's 32-point grid"
        + (" (kernels precomputed in torch)" if fast_svm else "")
        + (f", SVC{svm_params}" if svm_params else ""),
        "elm": "ELM: the paper's 6 hidden-layer sizes",
    }
    return "; ".join(text[c] for c in classifiers) + "; no feature scaling"


def _input_desc(data, tparams) -> str:
    shared = ", ".join(f"{k}={v}" for k, v in sorted(tparams["shared"].items()))
    text = f"CNNs: fix_length={data.fix_length!r}, " + (
        shared or "the paper's lengths (350000 samples / 1376 frames, about 29 s)"
    )
    for m, p in sorted(tparams["per_model"].items()):
        text += f"; {m}: {p}"
    if "mfcc" not in tparams["per_model"]:
        text += "; MFCC: whole clips"
    return text


def _write_report(
    rows,
    data,
    models,
    widths,
    classifiers,
    out,
    *,
    runs,
    device,
    version,
    make_figures,
    input_desc,
    classifier_desc,
) -> StudyResult:
    summary = _report.summarise(rows, models, widths, classifiers)
    tests = _report.ttests(rows, models, widths, classifiers)
    files = {"results.csv": out / "results.csv"}
    files["summary.csv"] = _report.write_csv(
        out / "summary.csv",
        summary,
        [
            "dataset",
            "model",
            "width",
            "n_features",
            "classifier",
            "protocol",
            "score_kind",
            "n_runs",
            "mean",
            "std",
            "nested_mean",
            "nested_std",
            "selection_mean",
            "paper",
            "runs",
            "feature_seconds",
            "fit_seconds",
        ],
    )
    files["ttests.csv"] = _report.write_csv(
        out / "ttests.csv",
        tests,
        [
            "width",
            "classifier",
            "metric",
            "model_a",
            "model_b",
            "n_a",
            "n_b",
            "mean_a",
            "mean_b",
            "t",
            "p",
            "note",
        ],
    )
    figs = {}
    if make_figures:
        kind = (
            "test accuracy"
            if data.protocol == "validation"
            else "best mean CV accuracy (paper protocol)"
        )
        for w in widths:
            path = _report.plot_width(
                summary,
                w,
                classifiers,
                out / f"figure_width{w}.png",
                title=f"{data.name}, width ≈{w}\n{kind}, mean ± std over {runs} runs",
            )
            if path is not None:
                figs[w] = files[path.name] = path
    n_test = len(data.test_target) if data.protocol == "validation" else 0
    facts = {
        "clips": f"{len(data.target)}"
        + (f" (+ {n_test} test)" if n_test else "")
        + (
            f", a stratified random subset of {data.subset_of}"
            if getattr(data, "subset_of", None)
            else ""
        ),
        "classes": len(np.unique(data.target)),
        "protocol": f"{data.protocol} ({data.cv!r})",
        "runs": f"{runs} (random_state 0..{runs - 1})",
        "input": input_desc,
        "classifiers": classifier_desc,
        "device": device,
        "skaudio_random": version,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
    }
    report = _report.markdown_report(
        info={"dataset": data.name, "protocol": data.protocol, "facts": facts},
        summary=summary,
        tests=tests,
        widths=widths,
        classifiers=classifiers,
        figures=figs,
    )
    files["results.md"] = out / "results.md"
    files["results.md"].write_text(report, encoding="utf-8")
    return StudyResult(
        rows=rows, summary=summary, ttests=tests, out=out, files=files, report=report
    )
