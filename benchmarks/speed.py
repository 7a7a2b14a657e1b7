"""Featurization speed of the eleven random CNNs and MFCC against the machine's peak.

Issue 6. For every architecture at the requested widths (paper: 120 and 3500):

- **FLOPs per clip, analytically**: 2 x the multiply-accumulates of every
  convolution, counted from the layer shapes on the meta device
  (:func:`skaudio_random.architectures.count_macs`; padding zeros included,
  pooling, activations, means and the log-mel front end not counted);
- **network time** of ``transform`` on a batch of real 29-second clips already
  at 12 kHz (so: input preparation, log-mel for the spectrogram models, network,
  averages; no decoding), best of ``--repeats``, for each implementation
  (``--variants``):

  ``plain``  the straightforward modules (one torch convolution per layer, whole
             maps; ``forward(reference=True)``), one clip at a time with torch's
             default intra-op threads: the implementation before issue 6;
  ``serial`` the fast kernels (``architectures/_fast.py``), one clip at a time
             on all intra-op threads;
  ``fast``   what the transformers do on a CPU: the fast kernels, each clip on
             one thread, ``torch.get_num_threads()`` clips at once;
  ``bf16``   as ``fast`` with ``precision="bfloat16"``;

- **the practical peak**: a ``--mm-size`` square float32 matrix product with
  torch's default threads, timed right before and after each measurement; the
  ratio column is achieved GFLOP/s over the mean of the two. On a shared
  machine other jobs take cores away in bursts, so a second, load-robust figure
  is given: the "CPU ratio", GFLOP per CPU-second of this process over the
  single-thread matrix-product rate (CPU seconds of threads that spin-wait
  count against the variant that has them);
- **end to end from files** (``--e2e-files``): 30-second 22.05 kHz 16-bit WAV
  files cut from the librosa example recordings (like GTZAN's), featurized by
  every transformer from paths (decode + resample to 12 kHz + log-mel + network
  + averages, decoding in ``--n-jobs`` threads overlapped with compute), with
  the decode-only time of the same files and the peak resident memory; then
  all of them at once with ``featurize`` (one decode per file, one log-mel per
  front-end group; decode and log-mel shares of the CPU), and MFCC's clips one
  at a time vs ``os.cpu_count()`` at once;
- **memory over many clips** (``--memory-clips``): resident memory after each
  decoded batch while one width-3500 transformer featurizes that many files.

Usage::

    python benchmarks/speed.py --quick                 # seconds: smoke test
    python benchmarks/speed.py                          # tables for RESULTS.md
    python benchmarks/speed.py --widths 120 --e2e-files 1000 --variants fast
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
import skaudio_random as skr  # noqa: E402
from skaudio_random.architectures import ARCHITECTURES, count_macs  # noqa: E402
from skaudio_random.audio import load_audio  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data" / "librosa_examples"
#: transformer class name -> registry key (None: MFCC), in registry order
CLASSES = {spec.class_name: key for key, spec in ARCHITECTURES.items()} | {"MFCC": None}
SR = 12000
CLIP = 360000  # 30 s at 12 kHz: enough for 350 000 samples and 1376 frames
FILE_SR = 22050


# ----------------------------------------------------------------------- machine
def cpu_info() -> str:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]
    have = [f for f in wanted if f in flags]
    return f"{os.cpu_count()} x {model}; {' '.join(have) or 'no AVX flags read'}"


def mm_gflops(n: int, repeats: int = 3, threads: int | None = None) -> float:
    """Best float32 ``n x n`` matrix-product rate, torch's default threads or
    ``threads``."""
    saved = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
    finally:
        torch.set_num_threads(saved)
    return 2 * n**3 / best / 1e9


def rss_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRSS:
    """Samples the resident set size every 5 ms in a thread; ``.peak`` in bytes."""

    def __enter__(self):
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


# -------------------------------------------------------------------------- data
def example_recordings(limit: int | None = None) -> list[Path]:
    files = sorted(p for p in SHARED.glob("*.ogg") if not p.name.endswith(".hq.ogg"))
    if not files:
        raise SystemExit(f"no librosa example recordings in {SHARED}")
    return files[:limit]


def real_clips(n: int, sr: int = SR, length: int = CLIP) -> np.ndarray:
    """``n`` real clips (the librosa examples, repeated to ``length``), float32."""
    out = np.empty((n, length), dtype=np.float32)
    recordings = example_recordings()
    cache = {}
    for i in range(n):
        path = recordings[i % len(recordings)]
        if path not in cache:
            cache[path] = load_audio(str(path), sr=sr)
        y = cache[path]
        shift = (i // len(recordings)) * 7 * sr % len(y)  # later copies start later
        y = np.roll(y, -shift)
        out[i] = np.resize(y, length)
    return out


def write_files(n: int, folder: Path, seconds: float = 30.0) -> list[str]:
    """``n`` 30-second 22.05 kHz PCM-16 WAV files cut and mixed from the examples."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"clip{i:05d}.wav" for i in range(n)]
    if all(p.exists() for p in paths):
        return [str(p) for p in paths]
    length = int(seconds * FILE_SR)
    base = real_clips(len(example_recordings()), sr=FILE_SR, length=length)
    rng = np.random.default_rng(0)
    for p in paths:
        if p.exists():
            continue
        a, b = rng.choice(len(base), 2, replace=False)
        y = np.roll(base[a], -int(rng.integers(len(base[a])))) + 0.3 * base[b]
        y = 0.9 * y / max(1e-6, np.abs(y).max())
        sf.write(str(p), y, FILE_SR, subtype="PCM_16")
    return [str(p) for p in paths]


# ---------------------------------------------------------------------- variants
def make(name: str, width: int, **params):
    cls = getattr(skr, name)
    if name == "MFCC":
        return cls(**{k: v for k, v in params.items() if k in ("n_jobs",)})
    return cls(width=width, device="cpu", random_state=0, **params)


def plain_transform_clips(est):
    """The transformer's CPU path before issue 6: plain modules, a clip at a time."""

    def run(clips, names):
        prepare = est._prepare_fn()
        out = np.empty((len(clips), est._n_features()), dtype=np.float32)
        with torch.inference_mode():
            for i, (y, name) in enumerate(zip(clips, names, strict=True)):
                x = prepare(y, name)[None]
                out[i] = est._network(x, reference=True)[0].numpy()
        return out

    return run


def serial_transform_clips(est):
    """Fast kernels, one clip at a time on all intra-op threads."""

    def run(clips, names):
        prepare = est._prepare_fn()
        out = np.empty((len(clips), est._n_features()), dtype=np.float32)
        with torch.inference_mode():
            for i, (y, name) in enumerate(zip(clips, names, strict=True)):
                out[i] = est._network(prepare(y, name)[None])[0].numpy()
        return out

    return run


def estimator(name: str, width: int, variant: str):
    bf16 = variant == "bf16" and name != "MFCC"
    est = make(name, width, precision="bfloat16") if bf16 else make(name, width)
    if name != "MFCC":
        est._prepare()
        if variant == "plain":
            est._transform_clips = plain_transform_clips(est)
        elif variant == "serial":
            est._transform_clips = serial_transform_clips(est)
    return est


def flops_per_clip(name: str, width: int) -> int | None:
    key = CLASSES[name]
    if key is None:
        return None
    spec = ARCHITECTURES[key]
    from skaudio_random.architectures import nf_for_width

    gen = torch.Generator().manual_seed(0)
    net = spec.build(nf_for_width(key, width), generator=gen)
    shape = (1, 350000) if spec.input_kind == "waveform" else (1, 96, 1376)
    return 2 * sum(count_macs(net, shape).values())


# ------------------------------------------------------------------- measurements
def network_table(args, names, clips) -> list[dict]:
    rows = []
    for width in args.widths:
        for name in names:
            flops = flops_per_clip(name, width)
            variants = ["fast"] if name == "MFCC" else args.variants
            for variant in variants:
                bf16 = name != "MFCC" and variant == "bf16"
                if bf16 and width not in args.bf16_widths:
                    continue
                est = estimator(name, width, variant)
                est.transform(clips[:1])  # build, weight matrices, warm caches
                n = len(clips)
                mm_before = mm_gflops(args.mm_size)
                mm1_before = mm_gflops(args.mm_size, threads=1)
                best = cpu = float("inf")
                with PeakRSS() as mem:
                    for _ in range(args.repeats):
                        t, c = time.perf_counter(), time.process_time()
                        est.transform(clips)
                        if time.perf_counter() - t < best:
                            best = time.perf_counter() - t
                            cpu = time.process_time() - c
                mm_after = mm_gflops(args.mm_size)
                mm1 = (mm1_before + mm_gflops(args.mm_size, threads=1)) / 2
                mm = (mm_before + mm_after) / 2
                gflops = None if flops is None else flops * n / best / 1e9
                row = dict(
                    model=name,
                    width=width,
                    variant=variant,
                    clips=n,
                    seconds=best,
                    clips_per_s=n / best,
                    cpu_s_per_clip=cpu / n,
                    gflop_per_clip=None if flops is None else flops / 1e9,
                    gflops=gflops,
                    mm_before=mm_before,
                    mm_after=mm_after,
                    ratio=None if flops is None else gflops / mm,
                    mm1=mm1,
                    cpu_ratio=None if flops is None else flops * n / cpu / 1e9 / mm1,
                    peak_mb=(mem.peak - mem.start) / 2**20,
                    load=os.getloadavg()[0],
                )
                rows.append(row)
                print(format_network_row(row), flush=True)
    return rows


def format_network_row(r) -> str:
    g = "-" if r["gflops"] is None else f"{r['gflops']:8.1f}"
    ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
    cpu_ratio = "-" if r["cpu_ratio"] is None else f"{r['cpu_ratio']:.2f}"
    fl = "-" if r["gflop_per_clip"] is None else f"{r['gflop_per_clip']:.2f}"
    return (
        f"| {r['model']} | {r['width']} | {r['variant']} | {fl} | "
        f"{r['clips_per_s']:.2f} | {g} | {r['mm_before']:.0f} / {r['mm_after']:.0f} | "
        f"{ratio} | {r['cpu_s_per_clip']:.3f} | {r['mm1']:.0f} | {cpu_ratio} | "
        f"{r['peak_mb']:.0f} | {r['load']:.1f} |"
    )


NETWORK_HEADER = (
    "| model | width | variant | GFLOP/clip | clips/s | GFLOP/s | matmul GFLOP/s "
    "(before / after) | ratio | CPU s/clip | 1-thread matmul | CPU ratio | +RSS MB | "
    "load |\n" + "|---" * 13 + "|"
)


def end_to_end(args, names, paths) -> list[dict]:
    """Featurize ``paths`` with every transformer; decode-only time for reference."""
    rows = []
    t = time.perf_counter()
    for p in paths:
        load_audio(p, sr=SR)
    decode_serial = time.perf_counter() - t
    print(
        f"decode + resample only, one thread: {decode_serial:.2f} s for {len(paths)} "
        f"files ({1e3 * decode_serial / len(paths):.1f} ms/file)",
        flush=True,
    )
    total = total_cpu = 0.0
    for name in [] if args.featurize_only else names:
        est = make(name, args.e2e_width, n_jobs=args.n_jobs)
        est.transform(paths[:1])
        mm_before = mm_gflops(args.mm_size)
        with PeakRSS() as mem:
            t, c = time.perf_counter(), time.process_time()
            est.transform(paths)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        total += wall
        total_cpu += cpu
        row = dict(
            model=name,
            width=args.e2e_width,
            files=len(paths),
            seconds=wall,
            cpu_seconds=cpu,
            files_per_s=len(paths) / wall,
            decode_cpu_share=decode_serial / cpu,
            peak_mb=mem.peak / 2**20,
            mm=mm_before,
            load=os.getloadavg()[0],
        )
        rows.append(row)
        print(
            f"| {name} | {args.e2e_width} | {len(paths)} | {wall:.1f} | {cpu:.1f} | "
            f"{row['decode_cpu_share']:.0%} | {row['files_per_s']:.1f} | "
            f"{row['peak_mb']:.0f} | {row['load']:.1f} |",
            flush=True,
        )
    print(
        "(each transformer's own transform: skipped, --featurize-only)"
        if args.featurize_only
        else f"total, {len(names)} transformers: wall {total:.1f} s, CPU "
        f"{total_cpu:.1f} s (CPU / {os.cpu_count()} cores = "
        f"{total_cpu / os.cpu_count():.1f} s: the wall time on an otherwise idle "
        "machine if both cores stay busy)",
        flush=True,
    )
    rows.append(
        dict(
            model="TOTAL",
            seconds=total,
            cpu_seconds=total_cpu,
            decode_serial=decode_serial,
        )
    )
    rows.append(shared_decode(args, names, paths, decode_serial))
    if "MFCC" in names:
        rows.append(mfcc_workers(paths))
    return rows


def mfcc_workers(paths, n: int = 20) -> dict:
    """MFCC's clips one at a time vs ``os.cpu_count()`` at once (the clip
    workers follow ``torch.get_num_threads()``) on the first ``n`` files,
    already decoded: wall and CPU seconds of each, and whether the features
    are bitwise equal."""
    clips = [load_audio(p, sr=SR) for p in paths[:n]]
    est = skr.MFCC()
    est.transform(clips[:2])
    saved = torch.get_num_threads()
    row = dict(model="MFCC_WORKERS", files=len(clips))
    outs = {}
    try:
        for workers in (1, os.cpu_count()):
            torch.set_num_threads(workers)
            t, c = time.perf_counter(), time.process_time()
            outs[workers] = est.transform(clips)
            row[f"wall_{workers}"] = time.perf_counter() - t
            row[f"cpu_{workers}"] = time.process_time() - c
    finally:
        torch.set_num_threads(saved)
    row["bitwise"] = bool(np.array_equal(*outs.values()))
    row["load"] = os.getloadavg()[0]
    many = os.cpu_count()
    print(
        f"MFCC on {len(clips)} decoded files: 1 worker {row['wall_1']:.2f} s wall "
        f"({row['cpu_1']:.2f} CPU s), {many} workers {row[f'wall_{many}']:.2f} s "
        f"wall ({row[f'cpu_{many}']:.2f} CPU s); bitwise equal: {row['bitwise']}; "
        f"load {row['load']:.1f}",
        flush=True,
    )
    return row


def logmel_seconds_per_file(paths, n: int = 20) -> float:
    """CPU seconds of the log-mel front end per file (one thread, first ``n`` files).

    The front end's cost is the same for every file of equal length, so it is
    measured on a sample and scaled (the stated extrapolation method).
    """
    front = skr.LogMelSpectrogram(sr=SR)
    clips = [load_audio(p, sr=SR) for p in paths[:n]]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            c = time.process_time()
            for y in clips:
                front(torch.from_numpy(y)[None])
            return (time.process_time() - c) / len(clips)
    finally:
        torch.set_num_threads(previous)


def shared_decode(args, names, paths, decode_serial) -> dict:
    """All transformers at once with ``skaudio_random.featurize`` (one decode per file).

    Reports the decode share (one-thread decode CPU over the run's CPU) and the
    log-mel share: featurize computes a clip's log-mel once per front-end group
    (the spectrogram models whose front ends agree, one group with this
    script's models), so the log-mel CPU is the front-end CPU per file,
    measured on a sample, times the files and the front ends computed per file
    (the groups, plus any spectrogram model computing its own); the CPU that
    featurize's shared log-mel threads report is given beside it.
    """
    ests = [make(name, args.e2e_width) for name in names]
    for e in ests:
        e._prepare()
    mel_models = [
        e for e in ests if getattr(getattr(e, "_spec", None), "input_kind", "") == "mel"
    ]
    n_mel = len(mel_models)
    keys = [e._whole_mel_key() for e in mel_models]
    n_front_ends = len({k for k in keys if k is not None}) + keys.count(None)
    logmel = logmel_seconds_per_file(paths) * len(paths) * n_front_ends
    with PeakRSS() as mem:
        t, c = time.perf_counter(), time.process_time()
        _, seconds = skr.featurize(ests, paths, n_jobs=args.n_jobs, return_seconds=True)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    row = dict(
        model="SHARED",
        width=args.e2e_width,
        files=len(paths),
        seconds=wall,
        cpu_seconds=cpu,
        files_per_s=len(paths) / wall,
        decode_cpu_share=decode_serial / cpu,
        logmel_cpu_share=logmel / cpu,
        shared_logmel_cpu_seconds=seconds["log_mel_cpu"],
        shared_logmel_wall_seconds=seconds["log_mel"],
        decode_wait_seconds=seconds["decode"],
        n_mel_models=n_mel,
        n_front_ends=n_front_ends,
        peak_mb=mem.peak / 2**20,
        load=os.getloadavg()[0],
    )
    print(
        f"\nall {len(names)} transformers with skaudio_random.featurize (each file "
        f"decoded once): wall {wall:.1f} s, CPU {cpu:.1f} s; decode {decode_serial:.1f}"
        f" CPU s = {row['decode_cpu_share']:.0%} of the CPU (waited "
        f"{seconds['decode']:.1f} s); log-mel {logmel:.1f} CPU s = "
        f"{row['logmel_cpu_share']:.0%} ({n_mel} spectrogram models sharing "
        f"{n_front_ends} front end(s) x "
        f"{logmel / max(1, n_front_ends * len(paths)) * 1e3:.1f} ms/file, measured "
        f"on {min(20, len(paths))} files; featurize's shared log-mel threads: "
        f"{seconds['log_mel_cpu']:.1f} CPU s, {seconds['log_mel']:.1f} s wall); "
        f"peak RSS {row['peak_mb']:.0f} MB; load "
        f"{row['load']:.1f}",
        flush=True,
    )
    return row


def memory_growth(args, paths) -> list[dict]:
    rows = []
    for name in args.memory_models:
        est = make(name, 3500, n_jobs=args.n_jobs)
        samples = []
        original = est._transform_clips

        def spy(clips, names, original=original, samples=samples):
            out = original(clips, names)
            samples.append((len(samples), rss_bytes()))
            return out

        est._transform_clips = spy
        with PeakRSS() as mem:
            t = time.perf_counter()
            est.transform(paths)
            wall = time.perf_counter() - t
        rss = [s for _, s in samples]
        first = rss[min(1, len(rss) - 1)]
        row = dict(
            model=name,
            clips=len(paths),
            seconds=wall,
            peak_mb=mem.peak / 2**20,
            rss_after_batch_mb=[r / 2**20 for r in rss],
            growth_mb=(max(rss[1:] or rss) - first) / 2**20,
        )
        rows.append(row)
        print(
            f"| {name} | 3500 | {len(paths)} | {wall:.0f} | {row['peak_mb']:.0f} | "
            f"{first / 2**20:.0f} -> {rss[-1] / 2**20:.0f} | {row['growth_mb']:+.0f} |",
            flush=True,
        )
    return rows


# --------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few seconds: tiny subset")
    p.add_argument("--widths", type=int, nargs="+", default=[120, 3500])
    p.add_argument("--models", nargs="+", default=list(CLASSES), choices=list(CLASSES))
    p.add_argument(
        "--variants",
        nargs="+",
        default=["plain", "serial", "fast", "bf16"],
        choices=["plain", "serial", "fast", "bf16"],
    )
    p.add_argument("--bf16-widths", type=int, nargs="+", default=[3500])
    p.add_argument(
        "--clips",
        type=int,
        default=4,
        help="clips per timed batch (a multiple of the threads)",
    )
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--mm-size", type=int, default=3072)
    p.add_argument("--no-network", action="store_true", help="skip the network table")
    p.add_argument("--e2e-files", type=int, default=0, help="0: no end-to-end run")
    p.add_argument("--e2e-width", type=int, default=120)
    p.add_argument(
        "--featurize-only",
        action="store_true",
        help="end to end: only skaudio_random.featurize (one decode per file), "
        "not each transformer's own transform",
    )
    p.add_argument("--n-jobs", type=int, default=2, help="decoding threads end to end")
    p.add_argument(
        "--memory-clips",
        type=int,
        default=0,
        help="width-3500 files for the memory-growth run (0: skip)",
    )
    p.add_argument(
        "--memory-models", nargs="+", default=["VGG", "FrameLevelManyShapes"]
    )
    default_dir = Path(tempfile.gettempdir()) / "skaudio_speed"
    p.add_argument("--files-dir", default=str(default_dir))
    p.add_argument("--out", default=str(HERE / "results" / "speed"))
    args = p.parse_args(argv)
    if args.quick:
        args.widths = [120]
        args.models = ["Temporal", "Vertical7x96", "SampleLevel", "MFCC"]
        args.variants = ["plain", "fast"]
        args.clips, args.repeats, args.mm_size = 2, 1, 1024
        args.e2e_files = min(args.e2e_files, 2) or 2
        args.memory_clips = 0

    print(
        f"# {cpu_info()}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = {
        "cpu": cpu_info(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "args": vars(args),
    }
    if not args.no_network:
        clips = real_clips(args.clips)
        print(
            f"\nNetwork time on {len(clips)} real 30-s clips at 12 kHz "
            f"(best of {args.repeats})\n"
        )
        print(NETWORK_HEADER, flush=True)
        results["network"] = network_table(args, args.models, clips)

    if args.e2e_files:
        folder = Path(args.files_dir) / f"{args.e2e_files}"
        paths = write_files(args.e2e_files, folder)
        print(
            f"\nEnd to end from {len(paths)} files (22.05 kHz WAV, {args.n_jobs} "
            "decode threads)\n\n| model | width | files | wall s | CPU s | decode "
            "share of CPU | files/s | peak RSS MB | load |\n" + "|---" * 9 + "|",
            flush=True,
        )
        results["end_to_end"] = end_to_end(args, args.models, paths)

    if args.memory_clips:
        folder = Path(args.files_dir) / f"{args.memory_clips}"
        paths = write_files(args.memory_clips, folder)
        print(
            f"\nMemory over {len(paths)} files at width 3500\n\n| model | width | "
            "files | wall s | peak RSS MB | RSS after batch 2 -> last MB | "
            "growth MB |\n" + "|---" * 7 + "|",
            flush=True,
        )
        results["memory"] = memory_growth(args, paths)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "speed_quick.json" if args.quick else f"speed_{int(time.time())}.json"
    (out / name).write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwrote {out / name}")
    return results


if __name__ == "__main__":
    main()
