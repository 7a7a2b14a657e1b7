"""Training speed: TrainedNetworkClassifier against a plain PyTorch loop.

Issue 20, section 2. For each architecture, on the same clips, in the same
process, back to back (the plain loop first, then the classifier, then the
plain loop again; the ratio uses the mean of the two plain runs, so a machine
whose speed drifts is seen):

- ``plain``: the loop anyone would write: decode the clips, compute their
  log-mel with the package's front end (mel networks), build the same network
  (:func:`skaudio_random.trained.build_network`) and a linear head, then Adam
  on the cross-entropy for ``--epochs`` epochs in shuffled mini-batches of
  ``--batch-size``, nothing else;
- ``classifier``: ``TrainedNetworkClassifier(...).fit`` with the same
  network, input, batch size and epochs, and its defaults otherwise (early
  stopping on a stratified 10 % held out, evaluated after every epoch;
  ``patience`` high enough that every epoch runs), and with
  ``validation_fraction=0`` (``no-val``: the same work as the plain loop).

Both use every core (torch's intra-op threads, one per core). The ratio
classifier / plain is printed and appended to ``benchmarks/RESULTS.md``; the
target is at most 1.2.

Usage::

    python benchmarks/train_speed.py                     # FSDD, 3 architectures
    python benchmarks/train_speed.py --quick --results /tmp/RESULTS.md
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from _common import machine_description, today  # noqa: E402

from skaudio_random import load_spoken_digits  # noqa: E402
from skaudio_random.architectures import ARCHITECTURES  # noqa: E402
from skaudio_random.audio import fix_length, load_audio  # noqa: E402
from skaudio_random.cli import load_fsdd  # noqa: E402
from skaudio_random.spectrogram import LogMelSpectrogram  # noqa: E402
from skaudio_random.trained import TrainedNetworkClassifier, build_network  # noqa: E402

SR = 12000
N_FRAMES, N_SAMPLES = 47, 12000  # 1 s, as benchmarks/random_vs_trained.py
FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"


def plain_loop(arch, width, files, y, *, epochs, batch_size, seed) -> float:
    """Seconds of the plain loop, decoding included."""
    start = time.perf_counter()
    kind = ARCHITECTURES[arch].input_kind
    waves = torch.from_numpy(
        np.stack([fix_length(load_audio(f, sr=SR), N_SAMPLES, "repeat") for f in files])
    ).float()
    with torch.no_grad():
        x = LogMelSpectrogram(sr=SR)(waves)[..., :N_FRAMES] if kind == "mel" else waves
    net = build_network(arch, width=width, random_state=seed)
    n_features = net(x[:1], reference=True).shape[1]
    head = torch.nn.Linear(n_features, int(y.max()) + 1)
    params = [*net.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    y = torch.from_numpy(y)
    for _ in range(epochs):
        net.train()
        for rows in torch.randperm(len(x), generator=gen).split(batch_size):
            optimizer.zero_grad()
            loss = F.cross_entropy(head(net(x[rows], reference=True)), y[rows])
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def classifier_fit(arch, width, files, y, *, epochs, batch_size, seed, val) -> float:
    start = time.perf_counter()
    TrainedNetworkClassifier(
        arch,
        width=width,
        n_frames=N_FRAMES,
        n_samples=N_SAMPLES,
        fix_length="repeat",
        max_epochs=epochs,
        patience=epochs + 1,
        batch_size=batch_size,
        validation_fraction=val,
        random_state=seed,
        device="cpu",
    ).fit(files, y)
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--architectures", nargs="+", default=["vertical_7x86", "vgg", "sample_level"]
    )
    p.add_argument("--width", type=int, default=120)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument(
        "--clips",
        type=int,
        default=2700,
        help="FSDD clips (a stratified subset of the 3000)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--quick", action="store_true", help="the shipped digits, width 16, 1 epoch"
    )
    p.add_argument(
        "--results", type=Path, default=Path(__file__).with_name("RESULTS.md")
    )
    args = p.parse_args(argv)
    if args.quick:
        data = load_spoken_digits()
        files, y = list(data.filenames[:64]), np.asarray(data.target[:64])
        args.width, args.epochs = 16, 1
        args.architectures = args.architectures[:2]
    else:
        data = load_fsdd(FSDD)
        keep = np.sort(
            np.random.default_rng(0).permutation(len(data.filenames))[: args.clips]
        )
        files = [data.filenames[i] for i in keep]
        y = np.asarray(data.target)[keep]
    torch.set_num_threads(torch.get_num_threads())  # every core, one thread each
    common = dict(epochs=args.epochs, batch_size=args.batch_size, seed=0)
    rows = []
    for arch in args.architectures:
        first = plain_loop(arch, args.width, files, y, **common)
        fit = classifier_fit(arch, args.width, files, y, val=0.1, **common)
        no_val = classifier_fit(arch, args.width, files, y, val=0.0, **common)
        second = plain_loop(arch, args.width, files, y, **common)
        plain = (first + second) / 2
        rows.append((arch, first, second, fit, no_val, fit / plain, no_val / plain))
        print(
            f"{arch:14s} plain {first:7.1f} / {second:7.1f} s  classifier "
            f"{fit:7.1f} s (x{fit / plain:.2f})  no-val {no_val:7.1f} s "
            f"(x{no_val / plain:.2f})",
            flush=True,
        )
    table = [
        f"\n## Training speed: classifier vs plain loop ({today()})\n",
        f"Machine: {machine_description('cpu')}; {torch.get_num_threads()} torch "
        f"threads. {len(files)} clips ({'shipped digits' if args.quick else 'FSDD'}), "
        f"width {args.width}, {args.epochs} epochs, batch {args.batch_size}, "
        f"{N_FRAMES} frames / {N_SAMPLES} samples. `python benchmarks/train_speed.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`. Target: "
        "classifier / plain <= 1.2.\n",
        "| architecture | plain 1st (s) | plain 2nd (s) | classifier (s) | "
        "no-val (s) | classifier / plain | no-val / plain |",
        "|---|---|---|---|---|---|---|",
    ]
    table += [
        f"| {a} | {f:.1f} | {s:.1f} | {c:.1f} | {n:.1f} | {r:.2f} | {rn:.2f} |"
        for a, f, s, c, n, r, rn in rows
    ]
    with open(args.results, "a") as fh:
        fh.write("\n".join(table) + "\n")
    worst = max(r[5] for r in rows)
    print(f"worst classifier / plain: {worst:.2f} (target <= 1.2)")
    return 0 if math.isfinite(worst) else 1


if __name__ == "__main__":
    sys.exit(main())
