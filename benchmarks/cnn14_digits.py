"""CNN14-style random network next to VGG and MFCC on spoken digits (issue 11).

The CNN14-style model (``skaudio_random.CNN14``, PANNs' stack of six blocks of
two 3x3 convolutions with average pooling, no batch norm) was added through the
architecture plug-in path; this script measures it the paper's way next to the
paper's VGG and the MFCC baseline:

- data: the 300 shipped spoken digits (``load_spoken_digits``) and the Free
  Spoken Digit Dataset in ``../shared/data/fsdd`` (3000 clips; ``--fsdd-per-class``
  keeps a stratified subset spread over the six speakers);
- input: every clip repeated to 1 s (47 log-mel frames; ``fix_length="repeat"``);
- classifier: the paper's SVM grid (``paper_svm_grid``, 28 RBF + 4 linear
  points) on the cached-kernel path, 5 stratified shuffled folds; the number is
  the paper's, the best grid point's mean cross-validated accuracy;
- seeds: each seed draws new network weights (``random_state``) and new folds;
  the table gives mean +- std over seeds (MFCC varies by the folds only).

Features are cached per clip (``memory=``), so a rerun or a wider grid reuses
them.

Usage::

    python benchmarks/cnn14_digits.py                      # digits + all of FSDD
    python benchmarks/cnn14_digits.py --fsdd-per-class 60 --widths 120 3500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from _common import add_threads_argument, limit_threads, today  # noqa: E402

import skaudio_random as skr  # noqa: E402

HERE = Path(__file__).resolve().parent
FSDD = HERE.parents[1] / "shared" / "data" / "fsdd"
N_FRAMES = 47  # 1 s at 12 kHz, hop 256


def fsdd(per_class: int | None):
    files = sorted((FSDD / "recordings").glob("*.wav"))
    labels = np.array([int(p.name.split("_")[0]) for p in files])
    if per_class is not None:  # spread the picks over the speakers of each digit
        keep = np.concatenate(
            [
                idx[np.linspace(0, len(idx) - 1, per_class).astype(int)]
                for idx in (np.flatnonzero(labels == c) for c in range(10))
            ]
        )
        files, labels = [files[i] for i in keep], labels[keep]
    return [str(p) for p in files], labels


def models(width: int, seed: int, memory: str) -> dict:
    common = dict(
        n_frames=N_FRAMES,
        fix_length="repeat",
        width=width,
        random_state=seed,
        memory=memory,
        device="cpu",
    )
    return {
        f"CNN14 ({width})": skr.CNN14(**common),
        f"VGG ({width})": skr.VGG(**common),
    }


def accuracy(X: np.ndarray, y: np.ndarray, seed: int) -> float:
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    grid = GridSearchCV(
        skr.make_kernel_svc(device="cpu"),
        skr.paper_svm_grid(precomputed=True),
        cv=cv,
        refit=False,
    )
    return grid.fit(X.astype(np.float64), y).best_score_


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--datasets", nargs="+", default=["digits", "fsdd"], choices=["digits", "fsdd"]
    )
    p.add_argument(
        "--fsdd-per-class",
        type=int,
        default=None,
        help="clips per digit from FSDD (default: all 300)",
    )
    p.add_argument("--widths", type=int, nargs="+", default=[120])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--memory",
        default=str(Path(tempfile.gettempdir()) / "skaudio_cnn14"),
        help="per-clip feature cache folder",
    )
    add_threads_argument(p)
    args = p.parse_args(argv)

    rows = []
    with limit_threads(args.threads):
        for dataset in args.datasets:
            if dataset == "digits":
                files, y = skr.load_spoken_digits(return_X_y=True)
            else:
                files, y = fsdd(args.fsdd_per_class)
            clips = [skr.load_audio(f, sr=12000) for f in files]
            scores: dict[str, list[float]] = {}
            for seed in args.seeds:
                named = {"MFCC": skr.MFCC(fix_length="repeat", memory=args.memory)}
                for width in args.widths:
                    named |= models(width, seed, args.memory)
                for name, est in named.items():
                    t0 = time.perf_counter()
                    X = est.transform(clips)
                    acc = accuracy(X, y, seed)
                    scores.setdefault(name, []).append(acc)
                    print(
                        f"{dataset} seed {seed} {name}: {X.shape[1]} features, "
                        f"{acc:.3f} ({time.perf_counter() - t0:.0f} s)",
                        flush=True,
                    )
            for name, accs in scores.items():
                rows.append((dataset, len(files), name, np.mean(accs), np.std(accs)))

    print(
        f"\nDate: {today()}; seeds {args.seeds}; 1 s inputs; paper SVM grid, 5 folds\n"
    )
    print("| data | clips | model (width) | accuracy (mean +- std) |")
    print("|---|---|---|---|")
    for dataset, n, name, mean, std in rows:
        print(f"| {dataset} | {n} | {name} | {mean:.3f} +- {std:.3f} |")


if __name__ == "__main__":
    main()
