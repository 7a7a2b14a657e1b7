"""Scaling of Dask featurization: one worker process against two.

Issue 14, section 2. The same ``--clips`` synthetic 30-second files (22.05 kHz
WAV, decoded and resampled like GTZAN's) are featurized by one CNN through
:func:`skaudio_random.distributed.transform_distributed` on a
:class:`distributed.LocalCluster` of one worker process, then of two (one
thread each, so one core per worker). Each cluster is warmed up first (worker
start, imports, the network built from its seed), then timed without a feature
cache. Scaling efficiency = t1 / (2 x t2): 1.0 means two workers are twice as
fast as one.

The result is printed and, unless ``--quick`` (or with ``--results-md``),
appended to ``benchmarks/RESULTS.md`` with the ``lscpu`` model name, the load
and the date. Run it on an otherwise idle machine.

Usage::

    python benchmarks/dask_scaling.py                    # 200 files, VGG, width 120
    python benchmarks/dask_scaling.py --quick            # seconds: smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout
sys.path.insert(0, str(HERE))
from _common import cpu_model_name, today  # noqa: E402
from distributed.utils import get_mp_context  # noqa: E402
from gpu_check import write_files  # noqa: E402

import skaudio_random as skr  # noqa: E402
from skaudio_random.distributed import transform_distributed  # noqa: E402


def timed_run(args, paths, n_workers: int) -> float:
    """Seconds to featurize ``paths`` on ``n_workers`` one-thread worker processes.

    Workers are forked from a server process that has imported the package, so
    they start in seconds rather than importing torch each (start-up is not
    timed either way).
    """
    import dask
    from distributed import Client

    est = getattr(skr, args.model)(
        width=args.width, random_state=0, device="cpu", **args.length
    )
    with (
        dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}),
        Client(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
        ) as client,
    ):
        # warm-up: every worker starts, imports and builds the network
        transform_distributed(est, paths[:n_workers], client=client, chunk_size=1)
        t = time.perf_counter()
        transform_distributed(est, paths, client=client, chunk_size=args.chunk_size)
        return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="seconds: tiny files")
    p.add_argument("--clips", type=int, default=200)
    p.add_argument("--seconds", type=float, default=30.0, help="length of each file")
    p.add_argument("--model", default="VGG")
    p.add_argument("--width", type=int, default=120)
    p.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="clips per task (default: transform_distributed's)",
    )
    p.add_argument(
        "--files-dir", default=str(Path(tempfile.gettempdir()) / "skaudio_dask_scaling")
    )
    p.add_argument(
        "--results-md",
        default=None,
        help="markdown file to append to (default: benchmarks/RESULTS.md; "
        "with --quick: none)",
    )
    args = p.parse_args(argv)
    args.length = {}
    if args.quick:
        args.clips, args.seconds, args.width = 4, 2.5, 32
        args.length = {"n_frames": 96}
    elif args.results_md is None:
        args.results_md = str(HERE / "RESULTS.md")

    import dask

    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        get_mp_context().set_forkserver_preload(["distributed", "skaudio_random"])
    folder = Path(args.files_dir) / f"{args.clips}x{args.seconds:g}s"
    paths = write_files(args.clips, folder, args.seconds, threads=os.cpu_count() or 1)
    cpu = cpu_model_name()
    t1 = timed_run(args, paths, 1)
    t2 = timed_run(args, paths, 2)
    efficiency = t1 / (2 * t2)
    load = os.getloadavg()[0]
    line = (
        f"| {cpu} | {os.cpu_count()} | {args.model} | {args.width} | {len(paths)} x "
        f"{args.seconds:g} s | {t1:.1f} | {t2:.1f} | {efficiency:.2f} | {load:.1f} | "
        f"{today()} |"
    )
    header = (
        "| CPU (lscpu) | cores | model | width | files | 1 worker s | 2 workers s | "
        "efficiency t1/(2 t2) | load | date |\n" + "|---" * 10 + "|"
    )
    print(f"{header}\n{line}")
    if args.results_md:
        with open(args.results_md, "a", encoding="utf-8") as f:
            f.write(
                "\n## Dask scaling (issue 14)\n\n`benchmarks/dask_scaling.py`: one "
                "CNN over the same files on a LocalCluster of 1, then 2 worker "
                "processes (one thread each), no feature cache, after a warm-up.\n\n"
                f"{header}\n{line}\n"
            )
        print(f"appended to {args.results_md}")
    return dict(t1=t1, t2=t2, efficiency=efficiency, cpu=cpu)


if __name__ == "__main__":
    main()
