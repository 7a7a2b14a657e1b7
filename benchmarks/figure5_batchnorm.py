"""Paper Figure 5 (section 3.4): batch-statistics normalisation and batch size.

Pons & Serra reproduce the random-CNN baseline of Choi et al. (ISMIR 2017),
whose VGG-like network normalises every layer with the statistics of the current
batch, and show that its accuracy then depends on how the clips are batched
(SPEC section 8):

- data: the full GTZAN collection (1000 clips, ``load_gtzan(split="all")``), ten
  stratified folds;
- features: :class:`skaudio_random.VGG` on 96 x 1360 log-mel frames (Choi's 29 s),
  five layers of 32 filters (``width=160``), with ``batchnorm="batch"`` at batch
  sizes 1, 10 and 100, the clips fed genre-sorted (a batch of 100 then holds
  exactly one genre) or shuffled (fixed seed); and without normalisation
  (``batchnorm=None``, the paper's model);
- classifier: the paper's 32-point SVM grid (the fast precomputed-kernel path,
  :func:`skaudio_random.make_kernel_svc`), reported number = ``best_score_`` of
  ``GridSearchCV(cv=<the ten folds>)``;
- 3 runs (``random_state`` = 0, 1, 2: the network of run k is shared by all its
  conditions, a paired design); mean +- std over runs;
- one-way ANOVA (``scipy.stats.f_oneway``, H0: equal means) across batch sizes,
  for the un-normalised network (paper: p = 0.491) and for each order with
  batch normalisation.

With normalisation the clips are transformed in the chosen order and the
features put back in the loader's order before the SVM, so rows always match
labels and folds. Without normalisation a clip's features do not depend on its
batch (one forward pass per clip on the CPU; batches on a GPU agree to float
precision, checked on a few clips), so they are computed once per run and
scored once: every batch size then has the same accuracy and the ANOVA gives
F = 0, p = 1. ``--independent-no-bn`` instead draws a new network for every run
and batch size, as the paper's separate executions did, so that its ANOVA
compares networks rather than batch sizes.

Usage::

    python benchmarks/figure5_batchnorm.py --data-home ~/data           # paper settings
    python benchmarks/figure5_batchnorm.py --data-home ~/data --quick   # smaller

Writes ``results.csv`` (one row per run and condition), ``results.md`` (table,
ANOVA, machine, date) and ``figure5.png`` into ``--out``
(default ``benchmarks/results/figure5_batchnorm/``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout
sys.path.insert(0, str(HERE))

from _common import (  # noqa: E402
    add_threads_argument,
    limit_threads,
    machine_description,
    today,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from skaudio_random import (  # noqa: E402
    VGG,
    clear_kernel_cache,
    load_audio,
    load_gtzan,
    make_kernel_svc,
    paper_svm_grid,
)
from skaudio_random.datasets import FOLD_SEED  # noqa: E402

DEFAULT_OUT = HERE / "results" / "figure5_batchnorm"

#: Conditions in table and figure order: (normalisation, order).
CONDITIONS = (("none", "-"), ("batch", "sorted"), ("batch", "shuffled"))
LABELS = {
    ("none", "-"): "no normalisation",
    ("batch", "sorted"): "batch norm, genre-sorted",
    ("batch", "shuffled"): "batch norm, shuffled",
}

#: Paper value (SPEC section 7.1): ANOVA across batch sizes without normalisation.
PAPER_P_NO_BN = 0.491

#: Settings of --quick (each used unless the flag is given explicitly).
QUICK = {"width": 40, "n_frames": 344, "runs": 2}
PAPER = {"width": 160, "n_frames": 1360, "runs": 3}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data-home",
        default=None,
        help="folder holding gtzan/ (default: SKAUDIO_RANDOM_DATA or "
        "~/skaudio_random_data)",
    )
    p.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[1, 10, 100],
        help="batch sizes (default: 1 10 100)",
    )
    p.add_argument(
        "--runs",
        type=int,
        default=None,
        help="runs, random_state 0..runs-1 (default 3)",
    )
    p.add_argument(
        "--width",
        type=int,
        default=None,
        help="VGG width, 5 x filters (default 160: 32 filters per layer)",
    )
    p.add_argument(
        "--n-frames",
        type=int,
        default=None,
        help="log-mel frames per clip (default 1360, Choi's 29 s)",
    )
    p.add_argument(
        "--n-folds",
        type=int,
        default=None,
        help="stratified folds (default: the loader's ten)",
    )
    p.add_argument(
        "--shuffle-seed",
        type=int,
        default=0,
        help="seed of the shuffled order (default 0)",
    )
    p.add_argument(
        "--independent-no-bn",
        action="store_true",
        help="new network per run and batch size without normalisation "
        "(as the paper's separate executions), instead of reusing "
        "one run's features for every batch size",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_threads_argument(p)
    p.add_argument(
        "--n-jobs", type=int, default=None, help="threads decoding audio (default one)"
    )
    p.add_argument(
        "--no-preload",
        action="store_true",
        help="decode the clips from disk for every condition instead of "
        "holding them in memory (about 1.4 GB for GTZAN)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smaller settings for a first look: {QUICK}",
    )
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output folder")
    args = p.parse_args(argv)
    base = QUICK if args.quick else PAPER
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for name in ("runs", "width", "n_frames"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(args.batch_sizes) < 1:
        p.error("--batch-sizes must be positive integers")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    if args.n_folds is not None and args.n_folds < 2:
        p.error("--n-folds must be at least 2")
    return args


def load_clips(filenames, sr: int, n_jobs) -> list[np.ndarray]:
    """Decode every clip once (threads), so that the conditions do not re-decode."""
    workers = 1 if n_jobs is None else (None if n_jobs == -1 else max(1, n_jobs))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda f: load_audio(f, sr=sr), filenames))


def svm_score(F: np.ndarray, y: np.ndarray, cv, device) -> tuple[float, dict]:
    """``best_score_`` of the paper's 32-point SVM grid (fast kernel path)."""
    search = GridSearchCV(
        make_kernel_svc(device=device),
        paper_svm_grid(precomputed=True, n_features=F.shape[1]),
        cv=cv,
        refit=False,
    )
    search.fit(F.astype(np.float64), y)
    clear_kernel_cache()
    return float(search.best_score_), search.best_params_


def run_experiment(args, data) -> list[dict]:
    """All runs and conditions; one dict per (run, condition, batch size)."""
    y = np.asarray(data.target)
    n = len(y)
    cv = data.cv
    if args.n_folds is not None:
        cv = StratifiedKFold(
            n_splits=args.n_folds, shuffle=True, random_state=FOLD_SEED
        )
    if args.no_preload:
        X = list(data.filenames)
    else:
        t0 = time.perf_counter()
        X = load_clips(data.filenames, 12000, args.n_jobs)
        print(f"decoded {n} clips in {time.perf_counter() - t0:.1f} s", flush=True)
    orders = {
        "sorted": np.argsort(y, kind="stable"),
        "shuffled": np.random.default_rng(args.shuffle_seed).permutation(n),
    }
    common = dict(
        width=args.width,
        n_frames=args.n_frames,
        fix_length=data.fix_length,
        device=args.device,
        n_jobs=args.n_jobs,
    )
    rows: list[dict] = []

    def record(run, seed, norm, order, bs, F, t_feat):
        t0 = time.perf_counter()
        acc, params = svm_score(F, y, cv, args.device)
        row = dict(
            run=run,
            seed=seed,
            normalisation=norm,
            order=order,
            batch_size=bs,
            n_features=F.shape[1],
            accuracy=acc,
            best_params=" ".join(f"{k}={v}" for k, v in sorted(params.items())),
            feature_seconds=round(t_feat, 2),
            grid_seconds=round(time.perf_counter() - t0, 2),
        )
        rows.append(row)
        print(
            f"run {run}  {LABELS[(norm, order)]:<26} batch {bs:>4}: "
            f"{100 * acc:6.2f} %  ({row['feature_seconds']} s features, "
            f"{row['grid_seconds']} s grid)",
            flush=True,
        )

    for run in range(args.runs):
        # -- no normalisation: features do not depend on the batch ----------------
        if args.independent_no_bn:
            for j, bs in enumerate(args.batch_sizes):
                seed = 1000 * (j + 1) + run
                t0 = time.perf_counter()
                F = VGG(batch_size=bs, random_state=seed, **common).transform(X)
                record(run, seed, "none", "-", bs, F, time.perf_counter() - t0)
        else:
            t0 = time.perf_counter()
            F = VGG(random_state=run, **common).transform(X)
            t_feat = time.perf_counter() - t0
            probe = X[: min(n, 3)]
            for bs in args.batch_sizes:
                G = VGG(batch_size=bs, random_state=run, **common).transform(probe)
                if not np.allclose(G, F[: len(probe)], rtol=1e-4, atol=1e-6):
                    raise AssertionError(
                        "features without normalisation changed with batch_size="
                        f"{bs}: max |diff| = {np.abs(G - F[: len(probe)]).max():.3g}"
                    )
            t0 = time.perf_counter()
            acc, params = svm_score(F, y, cv, args.device)
            t_grid = time.perf_counter() - t0
            for bs in args.batch_sizes:  # the same features and score at every size
                rows.append(
                    dict(
                        run=run,
                        seed=run,
                        normalisation="none",
                        order="-",
                        batch_size=bs,
                        n_features=F.shape[1],
                        accuracy=acc,
                        best_params=" ".join(
                            f"{k}={v}" for k, v in sorted(params.items())
                        ),
                        feature_seconds=round(t_feat, 2),
                        grid_seconds=round(t_grid, 2),
                    )
                )
            print(
                f"run {run}  {LABELS[('none', '-')]:<26} any batch: "
                f"{100 * acc:6.2f} %  "
                f"({t_feat:.1f} s features, {t_grid:.1f} s grid)",
                flush=True,
            )
        # -- batch-statistics normalisation, per order and batch size -------------
        for order in ("sorted", "shuffled"):
            perm = orders[order]
            Xp = [X[i] for i in perm]
            for bs in args.batch_sizes:
                t0 = time.perf_counter()
                Fp = VGG(
                    batchnorm="batch", batch_size=bs, random_state=run, **common
                ).transform(Xp)
                F = np.empty_like(Fp)
                F[perm] = Fp  # back to the loader's order: rows match y and the folds
                record(run, run, "batch", order, bs, F, time.perf_counter() - t0)
    return rows


def summarise(rows, batch_sizes):
    """Mean and std over runs per condition and batch size, and the ANOVAs."""
    from scipy.stats import f_oneway

    table = []
    anova = []
    for cond in CONDITIONS:
        groups = []
        for bs in batch_sizes:
            acc = np.array(
                [
                    r["accuracy"]
                    for r in rows
                    if (r["normalisation"], r["order"]) == cond
                    and r["batch_size"] == bs
                ]
            )
            groups.append(acc)
            table.append(
                dict(
                    condition=LABELS[cond],
                    batch_size=bs,
                    runs=len(acc),
                    mean=100 * acc.mean(),
                    std=100 * acc.std(ddof=1) if len(acc) > 1 else float("nan"),
                )
            )
        stat = p = float("nan")
        note = ""
        if len(groups) < 2:
            note = "one batch size: no ANOVA"
        elif min(len(g) for g in groups) < 2:
            note = "one run: no within-group variance"
        elif np.ptp(np.concatenate(groups)) == 0:
            note = "all accuracies equal"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = f_oneway(*groups)
            stat, p = float(res.statistic), float(res.pvalue)
            if cond == ("none", "-") and np.ptp([g.mean() for g in groups]) == 0:
                note = "identical features at every batch size"
        anova.append(dict(condition=LABELS[cond], F=stat, p=p, note=note))
    return table, anova


def write_outputs(out: Path, args, data, rows, table, anova) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    folds = f"{args.n_folds} folds" if args.n_folds else "the loader's folds"
    lines = [
        "# Figure 5: batch-statistics normalisation (paper section 3.4)",
        "",
        f"{today()}, {machine_description(args.device)}.",
        f"GTZAN {data.split!r}: {len(data.target)} clips; VGG width {args.width} "
        f"({rows[0]['n_features']} features), {args.n_frames} log-mel frames; "
        f"{args.runs} runs; SVM 32-point grid, best mean CV accuracy "
        f"({folds}).",
        "",
        "| condition | " + " | ".join(f"batch {bs}" for bs in args.batch_sizes) + " |",
        "|---|" + "---|" * len(args.batch_sizes),
    ]
    for cond in CONDITIONS:
        cells = [
            f"{t['mean']:.2f} ± {t['std']:.2f}"
            for t in table
            if t["condition"] == LABELS[cond]
        ]
        lines.append(f"| {LABELS[cond]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Accuracy in % (mean ± sample std over runs).",
        "",
        "One-way ANOVA across batch sizes (H0: equal means):",
        "",
        "| condition | F | p | paper | note |",
        "|---|---|---|---|---|",
    ]
    for a in anova:
        paper = (
            f"p = {PAPER_P_NO_BN}" if a["condition"] == LABELS[("none", "-")] else "—"
        )
        lines.append(
            f"| {a['condition']} | {a['F']:.3g} | {a['p']:.3g} | {paper} "
            f"| {a['note']} |"
        )
    lines += [
        "",
        "Paper (SPEC section 8): with batch statistics the accuracy depends on the "
        "batch size and is best when a batch of 100 holds one genre (sorted order); "
        "without normalisation batch size has no effect (p = 0.491).",
        "",
    ]
    (out / "results.md").write_text("\n".join(lines), encoding="utf-8")
    plot(out / "figure5.png", table, args.batch_sizes)


def plot(path: Path, table, batch_sizes) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = [{**r, "std": 0.0 if np.isnan(r["std"]) else r["std"]} for r in table]
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    x = np.arange(len(batch_sizes))
    width = 0.27
    colours = ("0.55", "tab:blue", "tab:orange")
    for k, (cond, colour) in enumerate(zip(CONDITIONS, colours, strict=True)):
        t = [r for r in table if r["condition"] == LABELS[cond]]
        ax.bar(
            x + (k - 1) * width,
            [r["mean"] for r in t],
            width,
            yerr=[r["std"] for r in t],
            capsize=3,
            color=colour,
            label=LABELS[cond],
        )
    ax.set_xticks(x, [str(b) for b in batch_sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel("accuracy (%)")
    top = max(r["mean"] + r["std"] for r in table)
    ax.set_ylim(0, min(100.0, top + 5))
    ax.set_title("Random VGG features on GTZAN: batch-statistics normalisation")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> dict:
    """Run the experiment; returns the rows, table, ANOVA and output folder."""
    args = parse_args(argv)
    data = load_gtzan(args.data_home, split="all")
    print(
        f"GTZAN (all): {len(data.target)} clips; VGG width {args.width}, "
        f"{args.n_frames} frames; batch sizes {args.batch_sizes}; {args.runs} runs",
        flush=True,
    )
    with limit_threads(args.threads):
        rows = run_experiment(args, data)
    table, anova = summarise(rows, args.batch_sizes)
    out = Path(args.out)
    write_outputs(out, args, data, rows, table, anova)
    print()
    print((out / "results.md").read_text(encoding="utf-8"))
    print(f"wrote {out / 'results.csv'}, {out / 'results.md'}, {out / 'figure5.png'}")
    return dict(rows=rows, table=table, anova=anova, out=out)


if __name__ == "__main__":
    main()
