"""Helpers shared by the paper-experiment scripts in ``benchmarks/``."""

from __future__ import annotations

import os
import platform
from contextlib import contextmanager
from datetime import datetime, timezone


def today() -> str:
    """UTC date, ``YYYY-MM-DD``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def machine_description(device="auto") -> str:
    """One line naming the machine: cores, architecture, GPU (if used), torch."""
    import torch

    from skaudio_random._utils import resolve_device

    dev = resolve_device(device)
    cpu = f"{os.cpu_count()}-core {platform.machine()}"
    if dev.type == "cuda":
        gpu = torch.cuda.get_device_name(dev)
        return f"{cpu}, {gpu}, torch {torch.__version__}"
    gpu = "no GPU" if not torch.cuda.is_available() else "GPU not used"
    return f"{cpu}, {gpu}, torch {torch.__version__} CPU"


@contextmanager
def limit_threads(n):
    """Limit torch and BLAS/OpenMP threads to ``n`` (``None``: no limit).

    Small per-clip passes and small solves gain nothing from a second thread, and
    on a busy machine spin-waiting threads make them many times slower.
    """
    if n is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(previous)


def add_threads_argument(parser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch and BLAS threads (default: the libraries' own); 1 is often "
        "fastest on a busy CPU",
    )


def study_parser(*, description: str, experiment: str, epilog: str = ""):
    """The command line shared by the table scripts (thin wrappers of ``run_study``)."""
    import argparse
    from pathlib import Path

    default_out = Path(__file__).resolve().parent / "results" / experiment
    p = argparse.ArgumentParser(
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data-home",
        default=None,
        help="folder holding the dataset (default: SKAUDIO_RANDOM_DATA or "
        "~/skaudio_random_data)",
    )
    p.add_argument(
        "--widths",
        type=int,
        nargs="+",
        default=[120, 3500],
        help="CNN feature widths (default: the paper's 120 3500)",
    )
    p.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs per model, random_state 0..runs-1 (default 3)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=None,
        help="model names (default: the paper's models for the dataset "
        "plus mfcc; see skaudio_random.study.MODELS)",
    )
    p.add_argument(
        "--classifiers",
        nargs="+",
        default=["svm", "elm"],
        choices=["svm", "elm"],
        help="default: svm elm",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_threads_argument(p)
    p.add_argument(
        "--n-jobs", type=int, default=None, help="threads decoding audio (default one)"
    )
    p.add_argument(
        "--memory",
        default=None,
        help="per-clip feature cache folder (default <out>/features)",
    )
    p.add_argument(
        "--n-frames",
        type=int,
        default=None,
        help="log-mel frames per clip for the spectrogram CNNs "
        "(default: the paper's 1376, about 29 s)",
    )
    p.add_argument(
        "--n-samples",
        type=int,
        default=None,
        help="samples per clip for the waveform CNNs "
        "(default: the paper's 350000, about 29 s)",
    )
    p.add_argument(
        "--backend-averaging",
        choices=("collapsed", "per_filter"),
        default="collapsed",
        help="back-end averaging of the frame-level models (default: collapsed, "
        "the authors' code, which produced the published frame-level numbers; "
        "per_filter: the paper's description, SPEC section 9)",
    )
    p.add_argument(
        "--no-nested",
        action="store_true",
        help="skip the nested-CV accuracy (CV protocols only)",
    )
    p.add_argument(
        "--restart",
        "--fresh",
        dest="fresh",
        action="store_true",
        help="discard the results in --out (the cached features are kept) instead "
        "of resuming; needed when --out holds another study",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars or per-row lines (the table is still printed)",
    )
    p.add_argument(
        "--out",
        default=str(default_out),
        help=f"results folder (default {default_out})",
    )
    return p


def study_main(argv, *, description: str, experiment: str, load, epilog: str = ""):
    """Parse ``argv``, load the dataset with ``load(data_home)`` and run the study.

    Returns the :class:`skaudio_random.study.StudyResult`.
    """
    parser = study_parser(description=description, experiment=experiment, epilog=epilog)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if min(args.widths) < 1:
        parser.error("--widths must be positive")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    # the published frame-level numbers came from collapsed back-end averaging
    tparams = {"backend_averaging": args.backend_averaging}
    for name in ("n_frames", "n_samples"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                parser.error(f"--{name.replace('_', '-')} must be positive")
            tparams[name] = value
    data = load(args.data_home)
    print(
        f"{experiment}: {data.name}, {len(data.target)} clips"
        + (f" + {len(data.test_target)} test" if data.protocol == "validation" else "")
        + f"; widths {args.widths}, {args.runs} runs, classifiers {args.classifiers}",
        flush=True,
    )
    with limit_threads(args.threads):
        result = _run(args, data, tparams)
    if args.no_progress:  # run_study prints the report itself when verbose
        print(result.report)
    print(f"{machine_description(args.device)}; {today()}; results in {result.out}")
    return result


def _run(args, data, tparams):
    from skaudio_random.study import run_study

    return run_study(
        data,
        models=args.models,
        widths=args.widths,
        classifiers=args.classifiers,
        runs=args.runs,
        out=args.out,
        device=args.device,
        n_jobs=args.n_jobs,
        memory=args.memory,
        nested=not args.no_nested,
        verbose=not args.no_progress,
        transformer_params=tparams,
        restart=args.fresh,
    )


def cpu_model_name() -> str:
    """The CPU's model name as ``lscpu`` gives it (``/proc/cpuinfo`` as a fallback)."""
    import subprocess

    try:
        out = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
        for line in out.splitlines():
            if line.strip().startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
