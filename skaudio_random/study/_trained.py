"""Random vs trained in a study (``run_study(trained=True)``).

For every CNN architecture, width and run, the same network trained end to end
(:class:`~skaudio_random.trained.TrainedNetworkClassifier`, with the random
features' input preparation and ``random_state=run``) is scored on the study's
folds and protocol (:func:`~skaudio_random.premise.evaluate_trained`); its row
goes to ``results.csv`` with ``classifier="trained"``. The report gains a
"Random vs trained" section: per width, random against trained accuracy per
architecture, their rank correlation across architectures (Spearman and
Kendall with p-values, :func:`~skaudio_random.premise.rank_correlation`) and a
scatter plot (:func:`~skaudio_random.premise.plot_random_vs_trained`).
"""

from __future__ import annotations

import datetime
import json
import math
import warnings
from pathlib import Path

import numpy as np

from ..architectures import ARCHITECTURES
from ..premise import evaluate_trained, plot_random_vs_trained, rank_correlation
from ..trained import TRAIN_FIX_LENGTH, TrainedNetworkClassifier
from ._report import CLASSIFIER_NAMES, DISPLAY_NAMES

#: The ``classifier`` of a trained row in ``results.csv``.
TRAINED = "trained"
#: Training options a study may set (``trained_params=``), with their defaults.
TRAINED_DEFAULTS = {
    name: TrainedNetworkClassifier().get_params()[name]
    for name in (
        "max_epochs",
        "patience",
        "lr",
        "batch_size",
        "weight_decay",
        "validation_fraction",
        "input_scaling",
        "conv_bias",
    )
}
#: Input-preparation options taken from ``transformer_params``.
_INPUT_PARAMS = ("n_frames", "n_samples")


def has_counterpart(model: str) -> bool:
    """Whether ``model`` has a trained counterpart (the CNN architectures do)."""
    return model in ARCHITECTURES


def check_trained_params(params, data=None) -> dict:
    """``params`` over :data:`TRAINED_DEFAULTS`, checked; ``ValueError`` if bad."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(TRAINED_DEFAULTS))
    if unknown:
        raise ValueError(
            f"trained_params {unknown} cannot be set; the training options are "
            f"{sorted(TRAINED_DEFAULTS)} (the input follows transformer_params and "
            "data.fix_length, the seed is the run)."
        )
    resolved = {**TRAINED_DEFAULTS, **params}
    try:
        TrainedNetworkClassifier(**resolved)._validate_params()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"trained_params: {exc}") from None
    if data is not None and data.fix_length not in TRAIN_FIX_LENGTH:
        raise ValueError(
            f"trained=True needs equal-length inputs for mini-batches: "
            f"data.fix_length must be one of {list(TRAIN_FIX_LENGTH)}; got "
            f"{data.fix_length!r}."
        )
    return resolved


def make_classifier(study, model: str, width: int, run: int):
    """The trained counterpart of ``model`` at ``width`` for run ``run``."""
    inputs = {k: v for k, v in study.tparams["shared"].items() if k in _INPUT_PARAMS}
    per_model = study.tparams["per_model"].get(model, {})
    inputs.update({k: v for k, v in per_model.items() if k in _INPUT_PARAMS})
    return TrainedNetworkClassifier(
        model,
        width=width,
        fix_length=study.data.fix_length,
        random_state=run,
        device=study.device,
        n_jobs=study.n_jobs,
        **inputs,
        **study.trained_params,
    )


def run_trained(study, model: str, width, run: int, done: dict) -> int:
    """Compute the trained row of one model, width and run if missing; 1 or 0."""
    from .. import __version__

    if not has_counterpart(model) or study.key(model, width, TRAINED, run) in done:
        return 0
    est = make_classifier(study, model, width, run)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        # data.groups goes to every splitter; most ignore it, as intended
        warnings.filterwarnings("ignore", message="The groups parameter is ignored")
        res = evaluate_trained(study.data, est)
    params = est.get_params()
    used = {k: params[k] for k in (*_INPUT_PARAMS, "fix_length")}
    row = {
        "dataset": study.data.name,
        "model": model,
        "width": width,
        "n_features": None,
        "classifier": TRAINED,
        "run": run,
        "random_state": run,
        "protocol": study.data.protocol,
        "score": res["score"],
        "score_kind": res["score_kind"],
        "nested_score": math.nan,
        "selection_score": math.nan,
        "best_params": json.dumps(
            {"epochs": res["epochs"], "best_epochs": res["best_epochs"]}
        ),
        "nested_params": "",
        "n_train": res["n_train"],
        "n_test": res["n_test"],
        "feature_seconds": 0.0,
        "fit_seconds": res["fit_seconds"],
        "nested_seconds": math.nan,
        "transformer_params": json.dumps(used, sort_keys=True),
        "device": study.device_name,
        "version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "note": "trained end to end: "
        + json.dumps(study.trained_params, sort_keys=True),
    }
    study._record(row, done)
    return 1


# --------------------------------------------------------------------------- #
# the report
# --------------------------------------------------------------------------- #
def _random_metric(rows, protocol: str) -> tuple[str, str]:
    """Which random-feature score faces the trained one, and how to say it."""
    if (
        protocol == "cv"
        and rows
        and all(math.isfinite(r["nested_score"]) for r in rows)
    ):
        return "nested_score", "nested-CV accuracy (nothing chosen on the test folds)"
    if protocol == "cv":
        return "score", "best grid point's mean CV accuracy (optimistic)"
    return "score", "test accuracy"


def _means(rows, metric: str) -> dict[str, tuple[float, float, int]]:
    by_model: dict[str, list[float]] = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r[metric])
    out = {}
    for model, values in by_model.items():
        a = np.asarray(values, dtype=float)
        a = a[np.isfinite(a)]
        if a.size:
            std = float(np.std(a, ddof=1)) if a.size > 1 else math.nan
            out[model] = (float(a.mean()), std, int(a.size))
    return out


def _pct(mean: float, std: float = math.nan) -> str:
    if not math.isfinite(mean):
        return "—"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if math.isfinite(std) else "")


def _p(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3g}"


def _rho(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.3f}"


def random_vs_trained(
    rows, *, dataset, protocol, models, widths, classifiers, out: Path, figures: bool
) -> tuple[list[str], dict[str, Path]]:
    """The "Random vs trained" section of ``results.md`` and its figures.

    Returns the markdown lines and the figures written (name -> path).
    """
    archs = [m for m in models if has_counterpart(m)]
    lines = ["", "## Random vs trained", ""]
    lines += [
        "Each CNN trained end to end (`TrainedNetworkClassifier`: the same input "
        "and network drawn with `random_state=run`, a linear head on the pooled "
        "features, Adam, early stopping on a held-out part of the training data) "
        "on the same folds and protocol as the random features. Trained "
        "accuracy: "
        + (
            "the mean over the test folds of one fit per fold (nothing chosen on "
            "the test folds)."
            if protocol == "cv"
            else "on the test split, early stopping on the validation split."
        )
        + " Mean ± std over runs. The rank correlation across architectures "
        "(`scipy.stats.spearmanr` and `kendalltau`, two-sided p-values) tests the "
        "paper's premise that random-feature accuracy predicts trained accuracy.",
    ]
    if "mfcc" in models:
        lines += [
            "",
            "MFCC has no trained counterpart (a fixed transform, nothing to "
            "train); it is left out here.",
        ]
    others = [m for m in models if m != "mfcc" and not has_counterpart(m)]
    if others:
        lines += [
            "",
            f"Not trained here: {', '.join(others)} (only the built-in "
            "architectures have a trained counterpart in a study).",
        ]
    files: dict[str, Path] = {}
    for width in widths:
        lines += ["", f"### Width ≈{width}", ""]
        trained_rows = [
            r
            for r in rows
            if r["classifier"] == TRAINED
            and r["width"] == width
            and r["model"] in archs
        ]
        trained = _means(trained_rows, "score")
        random, metrics = {}, {}
        for clf in classifiers:
            clf_rows = [
                r
                for r in rows
                if r["classifier"] == clf
                and r["width"] == width
                and r["model"] in archs
            ]
            metric, said = _random_metric(clf_rows, protocol)
            random[clf], metrics[clf] = _means(clf_rows, metric), said
        if not trained:
            lines += ["No trained rows at this width."]
            continue
        labels = [f"random {CLASSIFIER_NAMES.get(c, c)}" for c in classifiers]
        lines += [
            "| model | " + " | ".join(labels) + " | trained |",
            "|---" * (len(classifiers) + 2) + "|",
        ]
        for m in archs:
            cells = [
                _pct(*random[c].get(m, (math.nan, math.nan, 0))[:2])
                for c in classifiers
            ]
            cells.append(_pct(*trained.get(m, (math.nan, math.nan, 0))[:2]))
            lines.append(f"| {DISPLAY_NAMES.get(m, m)} | " + " | ".join(cells) + " |")
        lines += [""]
        for clf in classifiers:
            name = CLASSIFIER_NAMES.get(clf, clf)
            both = [m for m in archs if m in random[clf] and m in trained]
            r_acc = {m: random[clf][m][0] for m in both}
            t_acc = {m: trained[m][0] for m in both}
            corr = rank_correlation(r_acc, t_acc)
            lines.append(
                f"- random {name} ({metrics[clf]}) vs trained, {corr.n} "
                f"architectures: Spearman ρ = {_rho(corr.spearman)} "
                f"(p = {_p(corr.spearman_pvalue)}), Kendall τ-b = "
                f"{_rho(corr.kendall)} (p = {_p(corr.kendall_pvalue)})"
                + "".join(f"; {n}" for n in corr.notes)
            )
        if figures:
            path = _figure(
                random,
                trained,
                classifiers,
                archs,
                width,
                out,
                title=f"{dataset}, width ≈{width}",
            )
            if path is not None:
                files[path.name] = path
                lines += ["", f"![random vs trained at width {width}]({path.name})"]
    lines += [""]
    return lines, files


def add_section(result, study, *, figures: bool) -> None:
    """Append the "Random vs trained" section to ``results.md`` and ``result``."""
    lines, files = random_vs_trained(
        result.rows,
        dataset=study.data.name,
        protocol=study.data.protocol,
        models=study.models,
        widths=study.widths,
        classifiers=study.classifiers,
        out=study.out,
        figures=figures,
    )
    result.report = result.report.rstrip("\n") + "\n" + "\n".join(lines)
    result.files["results.md"].write_text(result.report, encoding="utf-8")
    result.files.update(files)


def _figure(random, trained, classifiers, archs, width, out, *, title):
    """One scatter panel per random classifier; ``None`` without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn(
            "matplotlib is not installed: no random-vs-trained figure "
            "(pip install 'skaudio-random[plots]').",
            stacklevel=3,
        )
        return None
    panels = [
        c for c in classifiers if any(m in random[c] and m in trained for m in archs)
    ]
    if not panels:
        return None
    fig = Figure(figsize=(5.5 * len(panels), 5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, clf in zip(axes[0], panels, strict=True):
        both = [m for m in archs if m in random[clf] and m in trained]
        plot_random_vs_trained(
            {m: random[clf][m][0] for m in both},
            {m: trained[m][0] for m in both},
            ax=ax,
            title=f"{title}: random {CLASSIFIER_NAMES.get(clf, clf)}",
        )
    fig.tight_layout()
    path = Path(out) / f"figure_width{width}_random_vs_trained.png"
    fig.savefig(path, dpi=120)
    return path
