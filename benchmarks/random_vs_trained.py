"""Random vs trained: does random-feature accuracy predict trained accuracy?

Issue 12, section 3. The paper (Pons & Serra, ICASSP 2019) ranks architectures
by the accuracy of their random-weight features, relying on Saxe et al. (2011):
that ranking should follow the ranking of the same architectures trained end to
end. For every architecture at one width this script measures, on the same
outer folds:

- random: the random-feature transformer, then an SVM with the paper's
  32-point grid, selected by a 3-fold stratified CV inside the training folds
  (nested: nothing is chosen on the test fold);
- trained: :class:`skaudio_random.TrainedNetworkClassifier`, the same network
  and input trained end to end with Adam, early stopping on a stratified 10 %
  of the training folds (``--max-epochs``, ``--patience``);

and reports each one's mean accuracy over the folds, the rank correlation
across architectures (Spearman and Kendall, with p-values) and the wall time,
draws random against trained accuracy, and appends the table to
``benchmarks/RESULTS.md``.

Datasets:

- ``fsdd``: the Free Spoken Digit Dataset (``--fsdd``, default
  ``../shared/data/fsdd``): 3000 clips, 10 digits, all six speakers, 1 s
  inputs (47 log-mel frames / 12000 samples, ``fix_length="repeat"``), the
  loader's 5 shuffled stratified folds;
- ``philharmonia``: the Philharmonia notes (``--philharmonia``, default
  ``../shared/data/philharmonia``; read where they are, never copied: the
  licence forbids redistribution): 960 MP3s, 16 instruments, 2 s inputs
  (94 frames / 24000 samples, ``fix_length="repeat"``), 5 shuffled
  stratified folds;
- ``digits`` (``--quick``): the 300 spoken digits shipped with the package.

Budget (stated in the output): short inputs, ``--max-epochs`` (default 20)
with ``--patience`` (default 3), ``--max-clips`` (a stratified subset),
``--folds`` (use the first k outer folds). ``--quick`` runs three
architectures at a tiny width on 60 shipped digits in about a minute (the
test suite runs it).

Training dominates the cost: about (clips in the training folds) x (epochs)
x (outer folds) forward and backward passes per architecture. On a small CPU,
start with a subset and fewer folds, e.g. ``--max-clips 1000 --folds 3``, and
raise them when the time allows; the budget is printed with the table.

Usage::

    python benchmarks/random_vs_trained.py --datasets fsdd philharmonia
    python benchmarks/random_vs_trained.py --datasets fsdd --max-clips 1000 \\
        --folds 3 --threads 2
    python benchmarks/random_vs_trained.py --quick --results /tmp/RESULTS.md
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.utils import Bunch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from _common import (  # noqa: E402
    add_threads_argument,
    limit_threads,
    machine_description,
    today,
)

from skaudio_random import (  # noqa: E402
    TrainedNetworkClassifier,
    clear_kernel_cache,
    make_kernel_svc,
    paper_svm_grid,
)
from skaudio_random.architectures import ARCHITECTURES  # noqa: E402
from skaudio_random.premise import (  # noqa: E402
    evaluate_trained,
    plot_random_vs_trained,
    rank_correlation,
)

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data"
#: seconds of input per dataset (SPEC: 12 kHz, hop 256)
SECONDS = {"fsdd": 1.0, "philharmonia": 2.0, "digits": 1.0}
SR = 12000
QUICK_ARCHITECTURES = ["vgg", "timbral", "sample_level"]


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
def load_philharmonia(root) -> Bunch:
    """The Philharmonia subset of ../shared/data/philharmonia, where it lies."""
    root = Path(root)
    labels = root / "labels.csv"
    if not labels.is_file():
        raise OSError(
            f"no labels.csv in {root}; expected the Philharmonia subset "
            "(labels.csv with filename,label,... and audio/<instrument>/*.mp3)."
        )
    with open(labels, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    files = [str(root / r["filename"]) for r in rows]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise OSError(f"{len(missing)} files of {labels} are absent, e.g. {missing[0]}")
    return Bunch(
        filenames=files,
        target=np.array([r["label"] for r in rows]),
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
        protocol="cv",
        fix_length="repeat",
        name="philharmonia",
    )


def load(name: str, args) -> Bunch:
    if name == "fsdd":
        from skaudio_random.cli import load_fsdd

        data = load_fsdd(args.fsdd)
        data.fix_length = "repeat"
        return data
    if name == "philharmonia":
        return load_philharmonia(args.philharmonia)
    from skaudio_random import load_spoken_digits

    return load_spoken_digits()


def subset(data: Bunch, max_clips: int | None, seed: int = 0) -> Bunch:
    """A stratified random subset of ``max_clips`` clips (all when None)."""
    y = np.asarray(data.target)
    if max_clips is None or max_clips >= len(y):
        return data
    keep, _ = train_test_split(
        np.arange(len(y)), train_size=max_clips, stratify=y, random_state=seed
    )
    keep = np.sort(keep)
    out = Bunch(**data)
    out.filenames = [data.filenames[i] for i in keep]
    out.target = y[keep]
    if getattr(data, "groups", None) is not None:
        out.groups = np.asarray(data.groups)[keep]
    return out


class FirstFolds:
    """The first ``k`` splits of a splitter (a budget on the outer folds)."""

    def __init__(self, cv, k):
        self.cv, self.k = cv, k

    def split(self, X, y=None, groups=None):
        for i, split in enumerate(self.cv.split(X, y, groups)):
            if self.k is not None and i >= self.k:
                return
            yield split

    def __repr__(self):
        return f"first {self.k} folds of {self.cv!r}"


# --------------------------------------------------------------------------- #
# one architecture
# --------------------------------------------------------------------------- #
def _lengths(seconds: float) -> dict:
    n_samples = int(round(seconds * SR))
    return {"n_samples": n_samples, "n_frames": 1 + n_samples // 256}


def random_scores(arch, data, args, lengths) -> dict:
    """Random features + the paper's SVM grid, nested in the outer folds."""
    from skaudio_random.study import MODELS  # architecture name -> transformer

    cls = MODELS[arch]
    key = "n_frames" if ARCHITECTURES[arch].input_kind == "mel" else "n_samples"
    transformer = cls(
        width=args.width,
        random_state=args.seed,
        fix_length=data.fix_length,
        device=args.device,
        n_jobs=args.n_jobs,
        memory=args.out / "features",
        **{key: lengths[key]},
    )
    t0 = time.perf_counter()
    X = transformer.transform(list(data.filenames)).astype(np.float64)
    y = np.asarray(data.target)
    scores = []
    for train, test in data.cv.split(X, y, getattr(data, "groups", None)):
        search = GridSearchCV(
            make_kernel_svc(device=args.device),
            paper_svm_grid(precomputed=True),
            cv=StratifiedKFold(3, shuffle=True, random_state=0),
            error_score="raise",
        )
        search.fit(X[train], y[train])
        scores.append(float(search.score(X[test], y[test])))
        clear_kernel_cache()
    return {"scores": scores, "seconds": time.perf_counter() - t0}


def trained_scores(arch, data, args, lengths) -> dict:
    est = TrainedNetworkClassifier(
        arch,
        width=args.width,
        fix_length=data.fix_length,
        max_epochs=args.max_epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=args.lr,
        random_state=args.seed,
        device=args.device,
        n_jobs=args.n_jobs,
        **lengths,
    )
    res = evaluate_trained(data, est)
    return {
        "scores": res["scores"],
        "seconds": res["fit_seconds"],
        "epochs": res["epochs"],
        "best_epochs": res["best_epochs"],
    }


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #
def _pct(scores) -> str:
    return f"{100 * np.mean(scores):.1f} ± {100 * np.std(scores):.1f}"


def table(rows) -> str:
    lines = [
        "| architecture | input | random + SVM (%) | trained (%) | epochs (best) "
        "| random s | trained s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        epochs = ", ".join(
            f"{e} ({b})" for e, b in zip(r["epochs"], r["best_epochs"], strict=True)
        )
        lines.append(
            f"| {r['architecture']} | {r['input']} | {_pct(r['random'])} "
            f"| {_pct(r['trained'])} | {epochs} | {r['random_seconds']:.0f} "
            f"| {r['trained_seconds']:.0f} |"
        )
    return "\n".join(lines)


def run_dataset(name, args) -> str:
    data = subset(load(name, args), args.max_clips, seed=args.seed)
    data.cv = FirstFolds(data.cv, args.folds)
    lengths = _lengths(args.seconds or SECONDS[name])
    n_folds = sum(1 for _ in data.cv.split(np.zeros(len(data.target)), data.target))
    budget = (
        f"{len(data.target)} clips, {len(set(data.target))} classes, "
        f"{n_folds} outer folds; width {args.width}; inputs "
        f"{lengths['n_frames']} frames / {lengths['n_samples']} samples "
        f"(fix_length={data.fix_length!r}); trained: Adam lr={args.lr}, batch "
        f"{args.batch_size}, at most {args.max_epochs} epochs, patience "
        f"{args.patience}, 10 % held out; seed {args.seed}"
    )
    print(f"== {name}: {budget}", flush=True)
    rows = []
    t_all = time.perf_counter()
    for arch in args.architectures:
        kind = ARCHITECTURES[arch].input_kind
        rnd = random_scores(arch, data, args, lengths)
        trn = trained_scores(arch, data, args, lengths)
        row = {
            "dataset": name,
            "architecture": arch,
            "input": kind,
            "random": rnd["scores"],
            "trained": trn["scores"],
            "epochs": trn["epochs"],
            "best_epochs": trn["best_epochs"],
            "random_seconds": rnd["seconds"],
            "trained_seconds": trn["seconds"],
        }
        rows.append(row)
        print(
            f"{arch:24s} random {_pct(rnd['scores'])} %  trained "
            f"{_pct(trn['scores'])} %  ({rnd['seconds']:.0f} s + "
            f"{trn['seconds']:.0f} s)",
            flush=True,
        )
    wall = time.perf_counter() - t_all
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"{name}_folds.json", "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
    random_acc = {r["architecture"]: float(np.mean(r["random"])) for r in rows}
    trained_acc = {r["architecture"]: float(np.mean(r["trained"])) for r in rows}
    corr = rank_correlation(random_acc, trained_acc)
    one_sided = rank_correlation(random_acc, trained_acc, alternative="greater")
    figure = args.out / f"{name}_random_vs_trained.png"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = plot_random_vs_trained(random_acc, trained_acc, title=name)
        ax.figure.savefig(figure, dpi=120, bbox_inches="tight")
        plt.close(ax.figure)
    except ImportError:
        figure = None
    p_greater = (
        f"one-sided (positive correlation) p: Spearman "
        f"{one_sided.spearman_pvalue:.3g}, Kendall {one_sided.kendall_pvalue:.3g}"
        if not np.isnan(one_sided.spearman)
        else ""
    )
    text = "\n".join(
        [
            f"### {name}, width {args.width}",
            "",
            f"Budget: {budget}. Wall time {wall / 60:.1f} min "
            f"({machine_description(args.device)}; {today()}).",
            "",
            table(rows),
            "",
            "```",
            str(corr),
            *([f"  {p_greater}"] if p_greater else []),
            "```",
            "",
            f"Per-fold scores: `{args.out / f'{name}_folds.json'}`"
            + (f"; figure: `{figure}`." if figure else "."),
            "",
        ]
    )
    print(text, flush=True)
    return text


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("Usage::")[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--datasets",
        nargs="+",
        default=["fsdd", "philharmonia"],
        choices=["fsdd", "philharmonia", "digits"],
    )
    p.add_argument(
        "--architectures",
        nargs="+",
        default=list(ARCHITECTURES),
        choices=list(ARCHITECTURES),
    )
    p.add_argument("--width", type=int, default=120)
    p.add_argument("--max-clips", type=int, default=None, help="stratified subset")
    p.add_argument("--folds", type=int, default=None, help="first k outer folds only")
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="input length (default: 1 s digits, 2 s Philharmonia)",
    )
    p.add_argument("--max-epochs", type=int, default=20)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--n-jobs", type=int, default=None, help="threads decoding audio")
    add_threads_argument(p)
    p.add_argument("--fsdd", default=str(SHARED / "fsdd"))
    p.add_argument("--philharmonia", default=str(SHARED / "philharmonia"))
    p.add_argument("--out", type=Path, default=HERE / "results" / "random_vs_trained")
    p.add_argument(
        "--results",
        type=Path,
        default=HERE / "RESULTS.md",
        help="markdown file the tables are appended to",
    )
    p.add_argument("--no-append", action="store_true", help="print only")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 60 shipped digits, vgg/timbral/sample_level, width 16, "
        "2 folds, 2 epochs",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.datasets = ["digits"]
        if args.architectures == list(ARCHITECTURES):
            args.architectures = QUICK_ARCHITECTURES
        args.width, args.max_clips, args.folds = 16, 60, 2
        args.max_epochs, args.patience, args.seconds = 2, 1, 0.25
    for name in ("width", "max_clips", "folds", "max_epochs", "patience", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv=None) -> list[str]:
    args = parse_args(argv)
    texts = []
    # data.groups (speakers) reaches splitters that ignore it, as intended
    warnings.filterwarnings("ignore", message="The groups parameter is ignored")
    with limit_threads(args.threads):
        for name in args.datasets:
            texts.append(run_dataset(name, args))
    if not args.no_append:
        header = (
            ""
            if "## Random vs trained" in _read(args.results)
            else (
                "\n## Random vs trained (issue 12)\n\n"
                "`benchmarks/random_vs_trained.py`: random-weight features + the "
                "paper's SVM grid (nested) against the same architecture trained end "
                "to end, same outer folds.\n\n"
            )
        )
        with open(args.results, "a", encoding="utf-8") as f:
            f.write(header + "\n".join(texts) + "\n")
        print(f"appended to {args.results}")
    return texts


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


if __name__ == "__main__":
    main()
