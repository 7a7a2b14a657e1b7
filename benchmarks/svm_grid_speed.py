"""Speed of the paper's SVM grid: plain ``GridSearchCV(SVC)`` vs the cached kernel.

Issue 7. The paper's grid (SPEC section 5.1: 28 RBF + 4 linear points, C outer,
gamma inner) over 10 stratified folds, on features of the Extended Ballroom size
(4180 clips x 3584 features, the width of the paper's largest CNNs):

- plain: ``GridSearchCV(SVC(), paper_svm_grid())``; libsvm recomputes every dot
  product at every fit;
- fast: ``GridSearchCV(make_kernel_svc(), paper_svm_grid(precomputed=True))``;
  the dot products are computed once in torch and sliced per fit.

Both use ``n_jobs=1`` and ``refit=False`` (the search only), the same folds, and
torch limited to ``--torch-threads`` (default 1, as libsvm is single-threaded).

Real CNN features of that size are not available yet, so the features are
SYNTHETIC: non-negative means of ReLU "frames" (like a random CNN's global
mean-pooled activations) of a random projection of 13 class-structured latent
clips, with the Extended Ballroom class sizes (SPEC section 6.2). An RBF
``SVC`` reaches about 78 % accuracy on them with a small gamma; the grid's large
gammas (2**-3 to 2**-7) give degenerate, majority-class fits, as they do on
unscaled real features.

The plain grid takes hours at full size, so by default it runs every grid point
on ``--plain-folds`` of the folds only and is extrapolated to all folds from the
measured time (labelled as such); the scores of the folds it ran are compared
with the fast path's. ``--small-samples`` runs both in full on a stratified
subset, where the complete plain grid finishes, and compares the selections.

Usage::

    python benchmarks/svm_grid_speed.py            # full size (25 CPU minutes)
    python benchmarks/svm_grid_speed.py --quick    # small sizes, about a minute
    python benchmarks/svm_grid_speed.py --phases small   # one phase only

Each phase writes a JSON file to ``--out-dir``; the table is built from whatever
phases are there, so phases can run separately (e.g. in the background).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from skaudio_random import (  # noqa: E402
    clear_kernel_cache,
    kernel_cache_info,
    make_kernel_svc,
    paper_svm_grid,
)

#: Extended Ballroom class sizes (SPEC section 6.2), Chacha ... Wcswing.
BALLROOM_SIZES = np.array([455, 507, 350, 53, 497, 470, 47, 468, 65, 464, 252, 529, 23])

PHASES = ("fast", "plain", "small")


def make_features(n_samples, n_features, *, seed=0, n_latent=64, n_frames=8):
    """Synthetic, non-negative, class-structured features (see module docstring).

    Returns ``X`` float32 ``(n_samples, n_features)`` and ``y`` in 0..12 with the
    Extended Ballroom class proportions, rows in random order.
    """
    rng = np.random.default_rng(seed)
    sizes = np.maximum(1, np.round(BALLROOM_SIZES * n_samples / BALLROOM_SIZES.sum()))
    sizes = sizes.astype(int)
    sizes[np.argmax(sizes)] += n_samples - sizes.sum()
    y = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    centers = 0.35 * rng.normal(size=(len(sizes), n_latent))
    W = (rng.normal(size=(n_latent, n_features)) / np.sqrt(n_latent)).astype(np.float32)
    b = (0.3 * rng.normal(size=n_features)).astype(np.float32)
    clips = (centers[y] + rng.normal(size=(n_samples, n_latent))).astype(np.float32)
    X = np.zeros((n_samples, n_features), np.float32)
    for _ in range(n_frames):  # mean over "frames" of ReLU activations
        frame = clips + 0.7 * rng.normal(size=clips.shape).astype(np.float32)
        X += np.maximum(frame @ W + b, 0.0)
    X /= n_frames
    return X, y


def _unprefix(params: dict) -> dict:
    """``{"kernel__gamma": g, "kernel__kernel": k, "svc__C": c}`` -> SVC's names."""
    return dict(
        sorted((key.split("__", 1)[-1], value) for key, value in params.items())
    )


def _search(estimator, grid, X, y, cv):
    search = GridSearchCV(
        estimator, grid, cv=cv, n_jobs=1, refit=False, error_score="raise"
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    res = search.cv_results_
    n_splits = search.n_splits_
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "n_fits": len(res["params"]) * n_splits,
        "best_params": _unprefix(search.best_params_),
        "best_score": float(search.best_score_),
        "params": [_unprefix(p) for p in res["params"]],
        "mean_test_score": res["mean_test_score"].tolist(),
        "split_test_scores": [
            res[f"split{k}_test_score"].tolist() for k in range(n_splits)
        ],
        "mean_fit_time": res["mean_fit_time"].tolist(),
        "mean_score_time": res["mean_score_time"].tolist(),
    }


def _fast(X, y, cv, device):
    clear_kernel_cache()
    grid = paper_svm_grid(precomputed=True)
    out = _search(make_kernel_svc(device=device), grid, X, y, cv)
    out["cache"] = kernel_cache_info()
    clear_kernel_cache()
    return out


def _plain(X, y, cv):
    return _search(SVC(), paper_svm_grid(), X, y, cv)


def run_phase(phase, args):
    X, y = make_features(args.n_samples, args.n_features, seed=args.seed)
    folds = list(StratifiedKFold(n_splits=args.folds).split(X, y))
    meta = {
        "phase": phase,
        "n_samples": args.n_samples,
        "n_features": args.n_features,
        "folds": args.folds,
        "seed": args.seed,
        "torch_threads": torch.get_num_threads(),
        "device": args.device,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": platform.machine(),
    }
    if phase == "fast":
        return {**meta, "fast": _fast(X, y, folds, args.device)}
    if phase == "plain":
        k = min(args.plain_folds, args.folds)
        return {**meta, "plain_folds": k, "plain": _plain(X, y, folds[:k])}
    # small: both in full on a stratified subset of the same features
    n = args.small_samples
    if n >= args.n_samples:
        keep = np.arange(args.n_samples)
    else:
        keep = next(
            StratifiedKFold(
                n_splits=int(np.ceil(args.n_samples / n)),
                shuffle=True,
                random_state=args.seed,
            ).split(X, y)
        )[1]
    Xs, ys = X[keep], y[keep]
    cv = list(StratifiedKFold(n_splits=args.folds).split(Xs, ys))
    meta["small_samples"] = len(keep)
    return {**meta, "plain": _plain(Xs, ys, cv), "fast": _fast(Xs, ys, cv, args.device)}


def _same(a, b):
    """Exact equality of score lists, and the largest absolute difference."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.array_equal(a, b)), float(np.max(np.abs(a - b))) if a.size else 0.0


def _row(name, size, fits, wall, cpu, how, base=None):
    """A table row; ``base`` = (wall, cpu) of the fast run for the speed-ups."""
    speed = ("", "")
    if base is not None:
        speed = (f"{cpu / base[1]:.1f}x", f"{wall / base[0]:.1f}x")
    per_fit = f"{cpu / fits:.3f}"
    return [name, size, fits, f"{wall:.1f}", f"{cpu:.1f}", per_fit, how, *speed]


def report(out_dir: Path, csv_path: Path | None):
    """Print the comparison table (markdown) and notes from the phases' JSON files."""
    res = {
        p: json.loads((out_dir / f"{p}.json").read_text())
        for p in PHASES
        if (out_dir / f"{p}.json").exists()
    }
    rows, notes = [], []
    if "fast" in res:
        r = res["fast"]
        fast = r["fast"]
        size = f"{r['n_samples']} x {r['n_features']}"
        base = (fast["seconds"], fast["cpu_seconds"])
        rows.append(
            _row(
                "fast: cached torch kernel, 32 points",
                size,
                fast["n_fits"],
                *base,
                f"measured, {r['folds']} folds",
            )
        )
        if "plain" in res:
            p = res["plain"]
            plain, k = p["plain"], p["plain_folds"]
            rows.append(
                _row(
                    f"plain: GridSearchCV(SVC), 32 points x {k} fold(s)",
                    size,
                    plain["n_fits"],
                    plain["seconds"],
                    plain["cpu_seconds"],
                    "measured",
                )
            )
            scale = r["folds"] / k
            how = (
                "measured"
                if k == r["folds"]
                else (f"EXTRAPOLATED: row above x {scale:g}")
            )
            rows.append(
                _row(
                    f"plain: GridSearchCV(SVC), 32 points, {r['folds']} folds",
                    size,
                    int(plain["n_fits"] * scale),
                    plain["seconds"] * scale,
                    plain["cpu_seconds"] * scale,
                    how,
                    base,
                )
            )
            same, diff = _same(
                plain["split_test_scores"], fast["split_test_scores"][:k]
            )
            best = [
                int(np.argmax(sc[0]))
                for sc in (plain["split_test_scores"], fast["split_test_scores"])
            ]
            notes.append(
                f"{size}, fold(s) 1..{k}: the 32 test scores of plain and fast are "
                f"identical: {same} (max |diff| {diff:.1e}); best point on fold 1: "
                f"plain {plain['params'][best[0]]}, fast {fast['params'][best[1]]}."
            )
            per_point = np.add(plain["mean_fit_time"], plain["mean_score_time"])
            times = " ".join(f"{t:.1f}" for t in per_point)
            notes.append(
                "plain wall seconds per fit by grid point (C outer, gamma "
                f"inner, then linear): {times}"
            )
            notes.append(
                f"fast best_params_ over {r['folds']} folds: "
                f"{fast['best_params']} (mean accuracy "
                f"{fast['best_score']:.4f}); kernel cache: "
                f"{fast['cache']['rows_computed']} rows computed, "
                f"{fast['cache']['nbytes'] / 2**20:.0f} MiB."
            )
    if "small" in res:
        s = res["small"]
        size = f"{s['small_samples']} x {s['n_features']}"
        fast = s["fast"]
        base = (fast["seconds"], fast["cpu_seconds"])
        rows.append(
            _row(
                "fast: cached torch kernel, 32 points",
                size,
                fast["n_fits"],
                *base,
                f"measured, {s['folds']} folds",
            )
        )
        plain = s["plain"]
        rows.append(
            _row(
                "plain: GridSearchCV(SVC), 32 points",
                size,
                plain["n_fits"],
                plain["seconds"],
                plain["cpu_seconds"],
                f"measured, {s['folds']} folds",
                base,
            )
        )
        same, diff = _same(plain["mean_test_score"], fast["mean_test_score"])
        same_split, _ = _same(plain["split_test_scores"], fast["split_test_scores"])
        notes.append(
            f"{size}: best_params_ plain {plain['best_params']}, fast "
            f"{fast['best_params']}, identical: "
            f"{plain['best_params'] == fast['best_params']}; mean_test_score of all 32 "
            f"points identical: {same} (max |diff| {diff:.1e}); every split score "
            f"identical: {same_split}."
        )
    header = [
        "run",
        "features",
        "fits",
        "wall s",
        "CPU s",
        "CPU s/fit",
        "how",
        "speed-up (CPU)",
        "speed-up (wall)",
    ]
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()
    for note in notes:
        print("- " + note)
    if csv_path is not None and rows:
        with open(csv_path, "w", newline="") as f:
            csv.writer(f).writerows([header, *rows])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=4180)
    parser.add_argument("--n-features", type=int, default=3584)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument(
        "--plain-folds",
        type=int,
        default=1,
        help="folds of the plain grid run at full size (the rest is extrapolated)",
    )
    parser.add_argument(
        "--small-samples",
        type=int,
        default=1000,
        help="about this many clips (a stratified 1/k of the data, "
        "k = ceil(n_samples / small_samples)) for the phase where "
        "both grids run in full",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {PHASES}; '' only reports",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="n=600, d=512, 5 folds, small subset 300, all plain folds",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).parent / "results" / "svm_grid_speed",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.n_features, args.folds = 600, 512, 5
        args.small_samples, args.plain_folds = 300, 5
        args.out_dir = args.out_dir.with_name(args.out_dir.name + "_quick")
    torch.set_num_threads(args.torch_threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for phase in filter(None, args.phases.split(",")):
        if phase not in PHASES:
            parser.error(
                f"--phases: unknown phase {phase!r}; expected some of {PHASES}"
            )
        print(f"[{phase}] running ...", flush=True)
        result = run_phase(phase, args)
        (args.out_dir / f"{phase}.json").write_text(json.dumps(result, indent=1))
        print(f"[{phase}] done", flush=True)
    report(args.out_dir, args.out_dir / "summary.csv")


if __name__ == "__main__":
    main()
