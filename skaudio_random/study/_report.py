"""Tables, t-tests, figures and files of a study (see ``run_study``).

Everything here works on the rows of ``results.csv`` (one dict per dataset,
model, width, classifier and run) and never touches audio or models.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "StudyResult",
    "DISPLAY_NAMES",
    "PAPER_PAIRS",
    "paper_number",
    "summarise",
    "ttests",
    "markdown_report",
    "write_csv",
    "plot_width",
]

#: Names as the paper's figures write them.
DISPLAY_NAMES = {
    "vgg": "VGG",
    "vertical_7x96": "7x96",
    "vertical_7x86": "7x86",
    "timbral": "Timbral",
    "temporal": "Temporal",
    "timbral_temporal": "Timbral+temporal",
    "time": "Time",
    "timbral_time": "Timbral+time",
    "sample_level": "Sample level",
    "frame_level": "Frame level",
    "frame_level_many_shapes": "Frame level many",
    "mfcc": "MFCC",
}

CLASSIFIER_NAMES = {"svm": "SVM", "elm": "ELM"}

# SPEC section 7.3: (SVM, ELM) mean accuracy (%) over 3 runs at the ~3500 width,
# read from the figures of the authors' README (about +-0.3 points). The ~120
# numbers were never published outside the paper's PDF figures.
# fmt: off
_PAPER_3500 = {
    "gtzan": {
        "vgg": (59.6, 43.7),
        "vertical_7x96": (45.1, 42.9),
        "vertical_7x86": (53.2, 42.2),
        "timbral": (52.4, 46.7),
        "temporal": (43.9, 36.5),
        "timbral_temporal": (56.7, 50.1),
        "sample_level": (50.5, 47.9),
        "frame_level": (39.9, 37.7),
        "frame_level_many_shapes": (44.4, 39.2),
    },
    "extended_ballroom": {
        "vgg": (71.4, 69.7),
        "vertical_7x96": (60.6, 56.9),
        "vertical_7x86": (65.3, 57.6),
        "timbral": (64.3, 56.9),
        "temporal": (89.9, 89.9),
        "timbral_temporal": (81.5, 78.5),
        "sample_level": (71.0, 65.7),
        "frame_level": (38.7, 38.7),
        "frame_level_many_shapes": (41.4, 40.7),
    },
    "urbansound8k": {
        "vgg": (70.8, 66.8),
        "vertical_7x96": (57.0, 57.8),
        "vertical_7x86": (63.1, 59.7),
        "timbral": (62.6, 60.7),
        "timbral_time": (64.2, 62.8),
        "sample_level": (58.6, 57.6),
        "frame_level": (38.5, 42.0),
        "frame_level_many_shapes": (45.1, 46.7),
    },
}
# fmt: on
#: The MFCC (120) + SVM line of the same figures.
_PAPER_MFCC_SVM = {"gtzan": 53.4, "extended_ballroom": 63.3, "urbansound8k": 65.6}

#: Pairs the paper compares with two-sample t-tests (SPEC section 7.1), besides
#: every model against the MFCC baseline.
PAPER_PAIRS = (
    ("sample_level", "frame_level_many_shapes"),
    ("frame_level_many_shapes", "frame_level"),
    ("vertical_7x86", "vertical_7x96"),
    ("timbral_temporal", "vgg"),
    ("temporal", "timbral_temporal"),
    ("vgg", "timbral_time"),
)


def _is_paper_protocol(dataset: str, protocol: str) -> bool:
    # GTZAN's published numbers are test accuracies of the fault-filtered split.
    return dataset in _PAPER_3500 and (dataset != "gtzan" or protocol == "validation")


#: Marks a published number obtained with another setting than the run's.
PAPER_MARK = "†"
# The frame-level models' published numbers came from the authors' collapsed
# back-end averaging (SPEC section 9); rows without a recorded setting used the
# default, "per_filter".
_PAPER_BACKEND = "collapsed"
_BACKEND_MODELS = ("frame_level", "frame_level_many_shapes")


def paper_caveat(row: dict) -> str | None:
    """Why a row is not comparable with the published number, or ``None``.

    The published frame-level numbers come from the authors' collapsed back-end
    averaging; a row computed with ``backend_averaging="per_filter"`` is marked.
    """
    params = row.get("transformer_params") or "{}"
    params = json.loads(params) if isinstance(params, str) else dict(params)
    default = "per_filter" if row["model"] in _BACKEND_MODELS else None
    averaging = params.get("backend_averaging", default)
    if averaging is None or averaging == _PAPER_BACKEND:
        return None
    return f"backend_averaging={averaging!r}"


def paper_number(dataset, protocol, model, width, classifier) -> float | None:
    """The published accuracy (%) for one cell, or ``None`` when there is none.

    Only the ~3500 CNN numbers (SPEC section 7.3) and the MFCC + SVM baseline
    are public; the ~120 CNN figures are not.
    """
    if not _is_paper_protocol(dataset, protocol):
        return None
    if model == "mfcc":
        return _PAPER_MFCC_SVM[dataset] if classifier == "svm" else None
    if width != 3500 or model not in _PAPER_3500[dataset]:
        return None
    return _PAPER_3500[dataset][model][0 if classifier == "svm" else 1]


# --------------------------------------------------------------------------- #
# summary
# --------------------------------------------------------------------------- #
def _finite(values) -> np.ndarray:
    a = np.asarray([v for v in values if v is not None], dtype=float)
    return a[np.isfinite(a)]


def _mean_std(values) -> tuple[float, float, int]:
    a = _finite(values)
    if a.size == 0:
        return math.nan, math.nan, 0
    std = float(np.std(a, ddof=1)) if a.size > 1 else math.nan
    return float(np.mean(a)), std, int(a.size)


def summarise(rows: Sequence[dict], models, widths, classifiers) -> list[dict]:
    """Mean and sample standard deviation over runs, per model, width and classifier.

    MFCC rows (``width=None``) are summarised once. The order follows ``models``,
    ``widths`` and ``classifiers``.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["width"], r["classifier"]), []).append(r)
    out = []
    keys = [(m, None if m == "mfcc" else w) for m in models for w in widths]
    for model, width in dict.fromkeys(keys):
        for clf in classifiers:
            group = sorted(groups.get((model, width, clf), []), key=lambda r: r["run"])
            if not group:
                continue
            first = group[0]
            mean, std, n = _mean_std(r["score"] for r in group)
            nmean, nstd, nn = _mean_std(r["nested_score"] for r in group)
            smean, _, _ = _mean_std(r["selection_score"] for r in group)
            paper = paper_number(first["dataset"], first["protocol"], model, width, clf)
            out.append(
                {
                    "dataset": first["dataset"],
                    "model": model,
                    "width": width,
                    "n_features": first["n_features"],
                    "classifier": clf,
                    "protocol": first["protocol"],
                    "score_kind": first["score_kind"],
                    "n_runs": n,
                    "mean": mean,
                    "std": std,
                    "nested_mean": nmean,
                    "nested_std": nstd,
                    "n_nested": nn,
                    "selection_mean": smean,
                    "paper": paper,
                    "paper_caveat": None if paper is None else paper_caveat(first),
                    "runs": [r["score"] for r in group],
                    "feature_seconds": float(
                        np.nansum([r["feature_seconds"] for r in group])
                    ),
                    "fit_seconds": float(np.nansum([r["fit_seconds"] for r in group])),
                }
            )
    return out


# --------------------------------------------------------------------------- #
# t-tests
# --------------------------------------------------------------------------- #
def _pairs(models: Sequence[str]) -> list[tuple[str, str]]:
    cnns = [m for m in models if m != "mfcc"]
    pairs = [(a, b) for a, b in PAPER_PAIRS if a in cnns and b in cnns]
    if "mfcc" in models:
        pairs += [(m, "mfcc") for m in cnns]
    return pairs


def ttests(rows: Sequence[dict], models, widths, classifiers) -> list[dict]:
    """Two-sample t-tests (equal variances, ``scipy.stats.ttest_ind``) over runs.

    For every width and classifier: the pairs the paper compares (sample level
    vs frame level many shapes, 7x86 vs 7x96, ...) and every CNN against the
    MFCC baseline with the same classifier; on the reported score and, where it
    was computed, on the nested-CV score.
    """
    from scipy.stats import ttest_ind

    index: dict[tuple, list[float]] = {}
    for metric in ("score", "nested_score"):
        for r in rows:
            v = r[metric]
            if v is not None and np.isfinite(v):
                index.setdefault(
                    (metric, r["model"], r["width"], r["classifier"]), []
                ).append(v)
    out = []
    for width in widths:
        for clf in classifiers:
            for metric in ("score", "nested_score"):
                for a, b in _pairs(models):
                    xa = index.get((metric, a, None if a == "mfcc" else width, clf), [])
                    xb = index.get((metric, b, None if b == "mfcc" else width, clf), [])
                    if not xa or not xb:
                        continue
                    t = p = math.nan
                    if len(xa) < 2 or len(xb) < 2:
                        note = "n<2: no test possible"
                    elif np.ptp(xa) == 0 and np.ptp(xb) == 0:
                        note = "no variance: no test possible"
                    else:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", RuntimeWarning)
                            res = ttest_ind(xa, xb)
                        t, p = float(res.statistic), float(res.pvalue)
                        if p < 0.05:
                            better = a if np.mean(xa) > np.mean(xb) else b
                            note = f"{better} better (p < 0.05)"
                        else:
                            note = "no significant difference (p >= 0.05)"
                    out.append(
                        {
                            "width": width,
                            "classifier": clf,
                            "metric": metric,
                            "model_a": a,
                            "model_b": b,
                            "n_a": len(xa),
                            "n_b": len(xb),
                            "mean_a": float(np.mean(xa)),
                            "mean_b": float(np.mean(xb)),
                            "t": t,
                            "p": p,
                            "note": note,
                        }
                    )
    return out


# --------------------------------------------------------------------------- #
# files
# --------------------------------------------------------------------------- #
def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if not np.isfinite(value) else repr(value)
    if isinstance(value, list):
        return " ".join(_cell(v) for v in value)
    return str(value)


def write_csv(path: Path, records: Sequence[dict], columns: Sequence[str]) -> Path:
    """Write ``records`` (NaN and ``None`` as empty cells)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in records:
            w.writerow([_cell(r.get(c)) for c in columns])
    return path


def _pct(mean: float, std: float = math.nan, bold: bool = False) -> str:
    if mean is None or not np.isfinite(mean):
        return "—"
    text = f"{100 * mean:.2f}"
    if std is not None and np.isfinite(std):
        text += f" ± {100 * std:.2f}"
    return f"**{text}**" if bold else text


def _clf_label(classifier: str) -> str:
    return CLASSIFIER_NAMES.get(classifier, classifier)


def _label(model: str) -> str:
    return DISPLAY_NAMES.get(model, model)


def _score_label(protocol: str) -> str:
    if protocol == "validation":
        return "test accuracy"
    return "best mean CV accuracy (paper)"


def _width_table(summary, width, classifiers, protocol) -> list[str]:
    cells = {
        (s["model"], s["classifier"]): s for s in summary if s["width"] in (width, None)
    }
    models = list(
        dict.fromkeys(s["model"] for s in summary if s["width"] in (width, None))
    )
    models = [m for m in models if m != "mfcc"] + [m for m in models if m == "mfcc"]
    clfs = [c for c in classifiers if any(k[1] == c for k in cells)]
    nested = protocol == "cv" and any(s["n_nested"] for s in cells.values())
    paper = any(s["paper"] is not None for s in cells.values())

    header = ["model", "features"]
    header += [f"{CLASSIFIER_NAMES.get(c, c)}: {_score_label(protocol)}" for c in clfs]
    if nested:
        header += [f"{CLASSIFIER_NAMES.get(c, c)}: nested CV (honest)" for c in clfs]
    if paper:
        header += [f"paper {CLASSIFIER_NAMES.get(c, c)}" for c in clfs]

    def best(field: str, clf: str) -> float:
        vals = [s[field] for (m, c), s in cells.items() if c == clf]
        vals = [v for v in vals if v is not None and np.isfinite(v)]
        return max(vals) if vals else math.nan

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for m in models:
        some = next(s for (mm, _), s in cells.items() if mm == m)
        name = f"{_label(m)} (baseline)" if m == "mfcc" else _label(m)
        row = [name, str(some["n_features"])]
        for field, std_field in (("mean", "std"),) + (
            (("nested_mean", "nested_std"),) if nested else ()
        ):
            for c in clfs:
                s = cells.get((m, c))
                if s is None:
                    row.append("—")
                    continue
                v = s[field]
                row.append(
                    _pct(v, s[std_field], bold=np.isfinite(v) and v == best(field, c))
                )
        if paper:
            for c in clfs:
                s = cells.get((m, c))
                p = None if s is None else s["paper"]
                mark = PAPER_MARK if p is not None and s["paper_caveat"] else ""
                row.append("—" if p is None else f"{p:.1f}{mark}")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _ttest_table(tests: Sequence[dict]) -> list[str]:
    lines = [
        "| width | classifier | metric | A | B | mean A | mean B | t | p | result |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in tests:
        p = "—" if not np.isfinite(t["p"]) else (f"{t['p']:.3g}")
        tt = "—" if not np.isfinite(t["t"]) else f"{t['t']:.2f}"
        metric = "nested CV" if t["metric"] == "nested_score" else "reported"
        lines.append(
            f"| {t['width']} | {_clf_label(t['classifier'])} "
            f"| {metric} | {_label(t['model_a'])} | {_label(t['model_b'])} "
            f"| {_pct(t['mean_a'])} | {_pct(t['mean_b'])} | {tt} | {p} | {t['note']} |"
        )
    return lines


def markdown_report(*, info: dict, summary, tests, widths, classifiers, figures) -> str:
    """The text of ``results.md``."""
    protocol = info["protocol"]
    lines = [f"# Study: {info['dataset']}", ""]
    lines += [f"- {k}: {v}" for k, v in info["facts"].items()]
    lines += [
        "",
        "How to read the tables: accuracy in %, mean ± standard deviation "
        "(sample std, ddof=1) over the runs; run k uses `random_state=k` for the "
        "CNN weights and the ELM's hidden layer. The best value of each column "
        "is in bold; MFCC is the paper's hand-crafted baseline.",
    ]
    if protocol == "validation":
        lines += [
            "Protocol (paper, GTZAN): hyper-parameters selected on the validation "
            "split, the selected classifier refit on the training split only, "
            "accuracy on the held-out test split."
        ]
    else:
        lines += [
            "Protocol (paper, Extended Ballroom / UrbanSound8K): the reported number "
            "is the best grid point's mean cross-validation accuracy, i.e. the "
            "hyper-parameters are chosen on the very folds that score them "
            "(optimistic). The plain mean over folds is used (the paper's "
            "scikit-learn <= 0.19 weighted the SVM's folds by size, which matters "
            "only for unequal folds). The *nested CV* columns are the honest "
            "figure: hyper-parameters chosen by an inner grid search on the "
            "training folds only, scored on the outer test fold."
        ]
    for width in widths:
        lines += ["", f"## Width ≈{width}", ""]
        lines += _width_table(summary, width, classifiers, protocol)
        if width in figures:
            lines += ["", f"![accuracy at width {width}]({figures[width].name})"]
    if any(s["paper"] is not None for s in summary):
        lines += [
            "",
            "Paper columns: SPEC §7.3, read from the figures of the authors' "
            "README (±0.3 points); the ≈120 CNN numbers were never published.",
        ]
    caveats = sorted({s["paper_caveat"] for s in summary if s.get("paper_caveat")})
    if caveats:
        lines += [
            "",
            f"{PAPER_MARK} Not comparable: the published frame-level numbers came "
            "from the authors' code, which collapsed each back-end layer to one "
            "average (SPEC §9); this run used "
            f"{', '.join(caveats)}. `transformer_params="
            '{"backend_averaging": "collapsed"}` reproduces the published setting '
            "(the default of the benchmarks/table_*.py scripts).",
        ]
    lines += ["", "## Two-sample t-tests", ""]
    if not tests:
        lines += ["No pair to compare."]
    else:
        lines += [
            "`scipy.stats.ttest_ind` (equal variances) over the runs, as in the "
            "paper; with fewer than two runs per side no test is possible.",
            "",
        ]
        lines += _ttest_table(tests)
    lines += [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# figure
# --------------------------------------------------------------------------- #
def plot_width(summary, width, classifiers, path: Path, *, title: str) -> Path | None:
    """Bar chart in the style of the paper's figures; ``None`` without matplotlib.

    One group of bars per model (one bar per classifier, whiskers = std over
    runs), the MFCC baseline as horizontal lines (solid: SVM, dashed: ELM);
    white diamonds mark the nested-CV means where they exist.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn(
            "matplotlib is not installed, so no figure was drawn; install it with "
            "`pip install skaudio-random[plots]`.",
            stacklevel=3,
        )
        return None
    cells = {(s["model"], s["classifier"]): s for s in summary if s["width"] == width}
    models = list(dict.fromkeys(m for m, _ in cells))
    clfs = [c for c in classifiers if any(k[1] == c for k in cells)]
    if not models and not any(s["model"] == "mfcc" for s in summary):
        return None
    fig = Figure(figsize=(max(7.0, 3.0 + 0.9 * len(models)), 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = {"svm": "#4c72b0", "elm": "#dd8452"}
    bar_w = 0.8 / max(1, len(clfs))
    x = np.arange(len(models))
    for j, c in enumerate(clfs):
        means = [
            100 * cells[(m, c)]["mean"] if (m, c) in cells else np.nan for m in models
        ]
        stds = [
            100 * np.nan_to_num(cells[(m, c)]["std"]) if (m, c) in cells else 0.0
            for m in models
        ]
        pos = x - 0.4 + bar_w * (j + 0.5)
        ax.bar(
            pos,
            means,
            bar_w,
            yerr=stds,
            capsize=3,
            color=colors.get(c),
            label=CLASSIFIER_NAMES.get(c, c),
            edgecolor="black",
            linewidth=0.5,
        )
        nested = [
            100 * cells[(m, c)]["nested_mean"] if (m, c) in cells else np.nan
            for m in models
        ]
        if np.isfinite(nested).any():
            ax.plot(
                pos,
                nested,
                "D",
                color="white",
                markeredgecolor="black",
                markersize=5,
                linestyle="none",
                zorder=3,
                label="nested CV (honest)" if j == 0 else None,
            )
    for s in summary:
        if s["model"] == "mfcc" and np.isfinite(s["mean"]):
            style = "-" if s["classifier"] == "svm" else "--"
            ax.axhline(
                100 * s["mean"],
                color="red",
                linestyle=style,
                linewidth=1.5,
                label=f"MFCC ({s['n_features']}) + "
                f"{CLASSIFIER_NAMES.get(s['classifier'], s['classifier'])}",
            )
    labels = [
        f"{_label(m)}\n({cells[(m, clfs[0])]['n_features']})"
        if (m, clfs[0]) in cells
        else _label(m)
        for m in models
    ]
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    tops = [
        100 * (s["mean"] + np.nan_to_num(s["std"]))
        for s in summary
        if s["width"] in (width, None) and np.isfinite(s["mean"])
    ]
    ax.set_ylim(0, min(100.0, max(tops, default=95.0) + 5.0))
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.4)
    ax.set_axisbelow(True)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


# --------------------------------------------------------------------------- #
# the study's files
# --------------------------------------------------------------------------- #
@dataclasses.dataclass
class StudyResult:
    """What :func:`~skaudio_random.study.run_study` returns; ``out`` holds the same.

    Attributes
    ----------
    rows : list of dict
        One per dataset, model, width, classifier and run (the rows of
        ``results.csv`` this study asked for; MFCC rows have ``width=None``).
    summary : list of dict
        Per model, width and classifier: ``mean``, ``std`` (sample std over
        runs), ``n_runs``, ``nested_mean``, ``nested_std``, ``paper`` (the
        published number, or ``None``), ``paper_caveat`` (why the published
        number was obtained otherwise, e.g. ``"backend_averaging='per_filter'"``,
        or ``None``), ...
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
    files: dict[str, Path] = dataclasses.field(default_factory=dict)
    report: str = ""
    n_computed: int = 0
    n_reused: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return self.report


def classifier_desc(classifiers, fast_svm, svm_params) -> str:
    """How the classifiers were set up, for the facts of results.md."""
    text = {
        "svm": "SVM: the paper's 32-point grid"
        + (" (kernels precomputed in torch)" if fast_svm else "")
        + (f", SVC{svm_params}" if svm_params else ""),
        "elm": "ELM: the paper's 6 hidden-layer sizes",
    }
    return "; ".join(text[c] for c in classifiers) + "; no feature scaling"


def input_desc(data, tparams) -> str:
    """What the transformers were given, for the facts of results.md."""
    shared = ", ".join(f"{k}={v}" for k, v in sorted(tparams["shared"].items()))
    text = f"CNNs: fix_length={data.fix_length!r}, " + (
        shared or "the paper's lengths (350000 samples / 1376 frames, about 29 s)"
    )
    for m, p in sorted(tparams["per_model"].items()):
        text += f"; {m}: {p}"
    if "mfcc" not in tparams["per_model"]:
        text += "; MFCC: whole clips"
    return text


def write_report(
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
    input_text,
    classifier_text,
) -> StudyResult:
    """Write summary.csv, ttests.csv, the figures and results.md of ``rows``."""
    summary = summarise(rows, models, widths, classifiers)
    tests = ttests(rows, models, widths, classifiers)
    files = {"results.csv": out / "results.csv"}
    files["summary.csv"] = write_csv(
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
            "paper_caveat",
            "runs",
            "feature_seconds",
            "fit_seconds",
        ],
    )
    files["ttests.csv"] = write_csv(
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
            path = plot_width(
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
        "input": input_text,
        "classifiers": classifier_text,
        "device": device,
        "skaudio_random": version,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
    }
    report = markdown_report(
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
