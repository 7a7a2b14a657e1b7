"""The CUDA path measured: speed, accuracy against the CPU, memory, a GTZAN-sized run.

Issue 14, section 4. One prepared script for a GPU machine lent for a short time
(about 10 minutes on an H200 with the defaults; ``--time-budget`` bounds it):

1. **features against the CPU**: every architecture at ``--width`` on
   ``--accuracy-clips`` synthetic 30-second clips, on the GPU in each precision
   and on the CPU in float32 (same ``random_state``: the weights are drawn on
   the CPU, so the networks are identical). The difference of a clip is
   ``max |gpu - cpu| / max |cpu|`` over its features (relative to the scale of
   its feature vector; single features near zero would make an elementwise
   ratio meaningless); the table gives the worst clip. Target: float32 within
   1e-4.
2. **speed**: every architecture in float32, tf32 and bfloat16 on
   ``--clips`` clips already at 12 kHz (input preparation, log-mel, network,
   averages; no decoding), best of ``--repeats``: clips/s, GFLOP/s from the
   analytic count (:func:`skaudio_random.architectures.count_macs`), and the
   ratio to a same-run square GEMM of ``--gemm-size`` at the same precision
   (timed right before and after the model; the mean is used). Target: the
   heavy models (SampleLevel, FrameLevel, FrameLevelManyShapes, VGG,
   Vertical7x86, Timbral) at least 0.5 of the GEMM. The peak GPU memory of the
   ``batch_size="auto"`` transform (``torch.cuda.max_memory_allocated``) is
   reported for each row.
3. **GTZAN-sized featurization**: ``--files`` synthetic thirty-second
   22.05 kHz WAV files written to ``--files-dir`` (decoded and resampled like
   GTZAN's), featurized from their paths by all eleven models at ``--width``
   in float32 with ``--n-jobs`` decoding threads; seconds per model and in all.

The tables are printed and, unless ``--quick`` (or with ``--results-md``),
appended to ``benchmarks/RESULTS.md`` under a heading naming the device. A JSON
copy goes to ``--out``. ``--device cpu --quick`` runs everything on tiny sizes
on the CPU (the smoke test of the test suite).

Usage::

    python benchmarks/gpu_check.py                      # on the GPU machine
    python benchmarks/gpu_check.py --device cpu --quick  # seconds, any machine
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout
sys.path.insert(0, str(HERE))
from _common import today  # noqa: E402

import skaudio_random as skr  # noqa: E402
from skaudio_random._cnn_base import precision_context  # noqa: E402
from skaudio_random._utils import resolve_device  # noqa: E402
from skaudio_random.architectures import ARCHITECTURES, count_macs, nf_for_width  # noqa: E402

#: Transformer class -> registry key, the paper's eleven models.
MODELS = {
    "SampleLevel": "sample_level",
    "FrameLevel": "frame_level",
    "FrameLevelManyShapes": "frame_level_many_shapes",
    "Vertical7x96": "vertical_7x96",
    "Vertical7x86": "vertical_7x86",
    "Timbral": "timbral",
    "Temporal": "temporal",
    "TimbralTemporal": "timbral_temporal",
    "Time": "time",
    "TimbralTime": "timbral_time",
    "VGG": "vgg",
}
HEAVY = (
    "SampleLevel",
    "FrameLevel",
    "FrameLevelManyShapes",
    "VGG",
    "Vertical7x86",
    "Timbral",
)
PRECISIONS = ("float32", "tf32", "bfloat16")
GEMM_TARGET = 0.5
FLOAT32_TARGET = 1e-4
SR = 12000
FILE_SR = 22050


# ------------------------------------------------------------------------- timing
class Budget:
    """Wall-clock budget of the whole run; sections ask before each item."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def allows(self, estimate: float, reserve: float = 0.0) -> bool:
        """Whether an item of ``estimate`` seconds fits, keeping ``reserve``."""
        return self.left() - reserve >= estimate


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_gflops(
    device: torch.device, precision: str, n: int, repeats: int = 3
) -> float:
    """Best ``n x n`` matrix-product rate at ``precision`` (GFLOP/s).

    float32 with TF32 off, tf32 with it on, bfloat16 on bfloat16 operands
    (float32 accumulation), as the transformers' precisions.
    """
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    with torch.inference_mode(), precision_context(device, precision):
        a @ b
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        # products per timing: enough for about 50 ms (a bfloat16 8192^2 GEMM
        # takes about 2 ms on an H200, too short for one wall-clock reading)
        k = max(1, min(100, int(0.05 / max(time.perf_counter() - t, 1e-6))))
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(k):
                a @ b
            sync(device)
            best = min(best, (time.perf_counter() - t) / k)
    return 2 * n**3 / best / 1e9


# --------------------------------------------------------------------------- data
def synthetic_clip(i: int, n: int, sr: int) -> np.ndarray:
    """A clip of ``n`` samples: a few harmonic tones with vibrato, plus noise."""
    rng = np.random.default_rng(i)
    t = np.arange(n) / sr
    y = 0.02 * rng.standard_normal(n)
    for _ in range(3):
        f0 = rng.uniform(80, 1500)
        vib = 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(2, 6) * t)
        phase = 2 * np.pi * f0 * np.cumsum(vib) / sr
        env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 2) * t) ** 2
        y += sum(env * np.sin(h * phase) / h for h in (1, 2, 3)) / 6
    return (0.9 * y / np.abs(y).max()).astype(np.float32)


def synthetic_clips(count: int, n: int, sr: int = SR) -> np.ndarray:
    return np.stack([synthetic_clip(i, n, sr) for i in range(count)])


def write_files(count: int, folder: Path, seconds: float, threads: int) -> list[str]:
    """``count`` synthetic 22.05 kHz PCM-16 WAV files (kept for a rerun)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    n = int(seconds * FILE_SR)
    paths = [folder / f"clip{i:05d}.wav" for i in range(count)]
    bases = synthetic_clips(8, n, FILE_SR)  # files mix shifted copies of these

    def write(i: int) -> None:
        if paths[i].exists():
            return
        rng = np.random.default_rng(10_000 + i)
        a, b = rng.choice(len(bases), 2, replace=False)
        y = np.roll(bases[a], -int(rng.integers(n))) + 0.3 * bases[b]
        sf.write(str(paths[i]), 0.9 * y / np.abs(y).max(), FILE_SR, subtype="PCM_16")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(count)))
    return [str(p) for p in paths]


# ------------------------------------------------------------------------- models
def make(name: str, args, device: str, precision: str = "float32", **extra):
    params = dict(width=args.width, device=device, precision=precision, random_state=0)
    if MODELS[name] and ARCHITECTURES[MODELS[name]].input_kind == "mel":
        params["n_frames"] = args.n_frames
    else:
        params["n_samples"] = args.n_samples
    return getattr(skr, name)(**params, **extra)


def flops_per_clip(name: str, args) -> int:
    spec = ARCHITECTURES[MODELS[name]]
    net = spec.build(nf_for_width(spec.name, args.width), generator=torch.Generator())
    shape = (
        (1, args.n_samples) if spec.input_kind == "waveform" else (1, 96, args.n_frames)
    )
    return 2 * sum(count_macs(net, shape).values())


def max_relative_difference(a: np.ndarray, ref: np.ndarray) -> float:
    """Worst clip of ``max |a - ref| / max |ref|`` (row by row)."""
    scale = np.maximum(np.abs(ref).max(axis=1), np.finfo(np.float32).tiny)
    return float((np.abs(a - ref).max(axis=1) / scale).max())


def accuracy_table(args, device, clips, budget) -> list[dict]:
    rows = []
    for name in args.models:
        if not budget.allows(args.time_budget * 0.02, reserve=args.time_budget * 0.6):
            rows.append(dict(model=name, skipped=True))
            continue
        ref = make(name, args, "cpu").transform(clips)
        row = dict(model=name)
        for precision in PRECISIONS:
            feats = make(name, args, device, precision).transform(clips)
            row[precision] = max_relative_difference(feats, ref)
        row["ok"] = row["float32"] <= FLOAT32_TARGET
        rows.append(row)
        print(format_accuracy(row), flush=True)
    return rows


def format_accuracy(r) -> str:
    if r.get("skipped"):
        return f"| {r['model']} | skipped (time budget) | | | |"
    return (
        f"| {r['model']} | {r['float32']:.1e} | {r['tf32']:.1e} | "
        f"{r['bfloat16']:.1e} | {'yes' if r['ok'] else 'NO'} |"
    )


ACCURACY_HEADER = (
    "| model | float32 | tf32 | bfloat16 | float32 within 1e-4 |\n" + "|---" * 5 + "|"
)


def speed_table(args, device, clips, budget) -> list[dict]:
    rows = []
    n = len(clips)
    for name in args.models:
        flops = flops_per_clip(name, args)
        est = make(name, args, str(device), batch_size="auto")
        for precision in PRECISIONS:
            if not budget.allows(
                args.time_budget * 0.01, reserve=args.time_budget * 0.3
            ):
                rows.append(dict(model=name, precision=precision, skipped=True))
                continue
            est.set_params(precision=precision)  # same network, other arithmetic
            est.transform(clips[: min(n, 2)])  # build, cuDNN autotuning, warm caches
            gemm_before = gemm_gflops(device, precision, args.gemm_size)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            best = float("inf")
            for _ in range(args.repeats):
                t = time.perf_counter()
                est.transform(clips)
                best = min(best, time.perf_counter() - t)
            peak = (
                torch.cuda.max_memory_allocated(device) / 2**30
                if device.type == "cuda"
                else None
            )
            gemm_after = gemm_gflops(device, precision, args.gemm_size)
            gflops = flops * n / best / 1e9
            gemm = (gemm_before + gemm_after) / 2
            ratio = gflops / gemm
            row = dict(
                model=name,
                precision=precision,
                width=args.width,
                clips=n,
                seconds=best,
                clips_per_s=n / best,
                gflop_per_clip=flops / 1e9,
                gflops=gflops,
                gemm_before=gemm_before,
                gemm_after=gemm_after,
                ratio=ratio,
                peak_gib=peak,
                heavy=name in HEAVY,
                ok=None if name not in HEAVY else ratio >= GEMM_TARGET,
            )
            rows.append(row)
            print(format_speed(row), flush=True)
    return rows


def format_speed(r) -> str:
    if r.get("skipped"):
        return f"| {r['model']} | {r['precision']} | skipped (time budget) |||||||"
    peak = "-" if r["peak_gib"] is None else f"{r['peak_gib']:.2f}"
    ok = "-" if r["ok"] is None else ("yes" if r["ok"] else "NO")
    return (
        f"| {r['model']} | {r['precision']} | {r['gflop_per_clip']:.1f} | "
        f"{r['clips_per_s']:.1f} | {r['gflops']:.0f} | "
        f"{r['gemm_before']:.0f} / {r['gemm_after']:.0f} | {r['ratio']:.2f} | {ok} | "
        f"{peak} |"
    )


SPEED_HEADER = (
    "| model | precision | GFLOP/clip | clips/s | GFLOP/s | GEMM GFLOP/s (before / "
    "after) | ratio | heavy >= 0.5 | peak GiB (auto batch) |\n" + "|---" * 9 + "|"
)


def gtzan_run(args, device, budget) -> dict:
    t = time.perf_counter()
    folder = Path(args.files_dir) / f"{args.files}x{args.file_seconds:g}s"
    paths = write_files(args.files, folder, args.file_seconds, args.n_jobs)
    write_s = time.perf_counter() - t
    print(f"wrote/kept {len(paths)} files in {folder} ({write_s:.0f} s)", flush=True)
    per_model, total, complete = {}, 0.0, True
    for name in args.models:
        last = max(per_model.values(), default=0.0)
        if not budget.allows(1.2 * last):
            complete = False
            print(f"| {name} | skipped (time budget) |", flush=True)
            continue
        est = make(name, args, str(device), n_jobs=args.n_jobs, batch_size="auto")
        est.transform(paths[:1])  # build the network outside the timing
        t = time.perf_counter()
        est.transform(paths)
        per_model[name] = time.perf_counter() - t
        total += per_model[name]
        print(f"| {name} | {per_model[name]:.1f} |", flush=True)
    print(f"| all {len(per_model)} models | {total:.1f} |", flush=True)
    return dict(
        files=len(paths),
        seconds_per_model=per_model,
        total=total,
        complete=complete,
        n_jobs=args.n_jobs,
        write_seconds=write_s,
    )


# --------------------------------------------------------------------------- main
def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes (seconds; with --device cpu: the smoke test)",
    )
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--width", type=int, default=3500)
    p.add_argument(
        "--n-samples",
        type=int,
        default=350000,
        help="waveform input length (default: the paper's 350000)",
    )
    p.add_argument(
        "--n-frames",
        type=int,
        default=1376,
        help="log-mel input length (default: the paper's 1376)",
    )
    p.add_argument("--clips", type=int, default=32, help="clips per timed transform")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--accuracy-clips", type=int, default=2)
    p.add_argument("--gemm-size", type=int, default=8192)
    p.add_argument("--files", type=int, default=1000, help="GTZAN-sized set (0: skip)")
    p.add_argument("--file-seconds", type=float, default=30.0)
    p.add_argument(
        "--n-jobs",
        type=int,
        default=os.cpu_count(),
        help="decoding threads (default: all cores)",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=540.0,
        help="seconds for the whole run; rows that do not fit are skipped",
    )
    p.add_argument(
        "--files-dir", default=str(Path(tempfile.gettempdir()) / "skaudio_gpu_check")
    )
    p.add_argument("--out", default=str(HERE / "results" / "gpu_check"))
    p.add_argument(
        "--results-md",
        default=None,
        help="markdown file to append to (default: benchmarks/RESULTS.md; "
        "with --quick: none)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.width, args.n_samples, args.n_frames = 120, 24000, 96
        args.clips, args.repeats, args.accuracy_clips = 2, 1, 1
        args.gemm_size, args.files, args.file_seconds = 256, min(args.files, 3), 2.5
        args.n_jobs = min(args.n_jobs or 1, 2)
    elif args.results_md is None:
        args.results_md = str(HERE / "RESULTS.md")
    return args


def main(argv=None):
    args = parse(argv)
    device = resolve_device(args.device)
    budget = Budget(args.time_budget)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    header = (
        f"{name}; torch {torch.__version__}, CUDA {torch.version.cuda}; "
        f"{os.cpu_count()} CPU cores; {today()}; width {args.width}"
    )
    print(f"# GPU check: {header}", flush=True)
    results = dict(device=name, torch=torch.__version__, date=today(), args=vars(args))
    length = max(args.n_samples, 256 * (args.n_frames + 8))
    clips = synthetic_clips(max(args.clips, args.accuracy_clips), length)

    print(
        f"\nFeatures against the CPU (float32), {args.accuracy_clips} clip(s): "
        "max |gpu - cpu| / max |cpu|\n"
    )
    print(ACCURACY_HEADER, flush=True)
    results["accuracy"] = accuracy_table(
        args, device, clips[: args.accuracy_clips], budget
    )

    print(
        f"\nSpeed on {args.clips} clips at 12 kHz (best of {args.repeats}), "
        f"GEMM {args.gemm_size}^2 at the same precision\n"
    )
    print(SPEED_HEADER, flush=True)
    results["speed"] = speed_table(args, device, clips[: args.clips], budget)

    if args.files:
        print(
            f"\nGTZAN-sized set: {args.files} files of {args.file_seconds:g} s, "
            f"{len(args.models)} models at width {args.width}, float32, "
            f"{args.n_jobs} decoding threads\n\n| model | seconds |\n|---|---|",
            flush=True,
        )
        results["gtzan"] = gtzan_run(args, device, budget)

    checks = summary(results)
    results["targets"] = checks
    print(f"\nTargets: {checks['text']}\ntotal run time {budget.elapsed():.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu_check_quick" if args.quick else f"gpu_check_{int(time.time())}"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str))
    if args.results_md:
        append_markdown(Path(args.results_md), header, args, results)
        print(f"appended to {args.results_md}")
    return results


def summary(results) -> dict:
    acc = [r for r in results["accuracy"] if not r.get("skipped")]
    heavy = [r for r in results["speed"] if not r.get("skipped") and r["heavy"]]
    float32_ok = all(r["ok"] for r in acc) if acc else None
    gemm_ok = all(r["ok"] for r in heavy) if heavy else None
    slow = sorted({f"{r['model']} {r['precision']}" for r in heavy if not r["ok"]})
    skipped = sum(1 for r in results["speed"] + results["accuracy"] if r.get("skipped"))
    text = (
        f"float32 features within 1e-4 of the CPU: {float32_ok}; heavy models at "
        f">= 0.5 of the same-precision GEMM: {gemm_ok}"
        + (f" (below: {', '.join(slow)})" if slow else "")
        + (f"; {skipped} row(s) skipped for the time budget" if skipped else "")
    )
    return dict(
        float32_within_1e4=float32_ok,
        heavy_at_half_gemm=gemm_ok,
        below_target=slow,
        skipped=skipped,
        text=text,
    )


def append_markdown(path: Path, header: str, args, results) -> None:
    lines = [
        "",
        f"## GPU check (issue 14): {results['device']}",
        "",
        f"`benchmarks/gpu_check.py`; {header}; "
        f"total time budget {args.time_budget:g} s.",
        "",
        f"Features against the CPU, {args.accuracy_clips} clip(s):",
        "",
        ACCURACY_HEADER,
        *map(format_accuracy, results["accuracy"]),
        "",
        f"Speed, {args.clips} clips of {args.n_samples} samples / {args.n_frames} "
        f'frames, batch_size="auto":',
        "",
        SPEED_HEADER,
        *map(format_speed, results["speed"]),
        "",
    ]
    g = results.get("gtzan")
    if g:
        lines += [
            f"GTZAN-sized set: {g['files']} files of {args.file_seconds:g} s, float32, "
            f"{g['n_jobs']} decoding threads: {g['total']:.1f} s for "
            f"{len(g['seconds_per_model'])} models"
            + ("" if g["complete"] else " (incomplete: time budget)")
            + " ("
            + ", ".join(f"{k} {v:.1f}" for k, v in g["seconds_per_model"].items())
            + ").",
            "",
        ]
    lines += [f"Targets: {results['targets']['text']}.", ""]
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
