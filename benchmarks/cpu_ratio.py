"""Load-robust CPU ratio of the heavy models: one clip, one thread.

Issue 14, section 3. For each model at ``--width`` (paper: 3500) one real
29-second clip is prepared (log-mel for the spectrogram models) and its
features are computed by the fast CPU path (``architectures/_fast.py``) on a
single intra-op thread, ``--repeats`` times. The figure is

    CPU ratio = GFLOP per CPU-second of the process (``time.process_time``)
                / GFLOP per CPU-second of a single-thread ``--mm-size`` square
                  float32 matrix product, timed right before and after

which, unlike wall-clock ratios, barely moves when other jobs share the cores
(CPU time is only counted while this process runs; cache pollution by the
other jobs is not removed and hits both sides). ``--profile`` adds torch's
profiler table (self CPU time per operator) for each model, to see which GEMMs
and epilogues lose time; ``--bf16`` also times ``precision="bfloat16"`` (as the
transformers run it on this CPU, see ``_fast.cpu_compute_dtype``) and the raw
bfloat16 path.

Usage::

    python benchmarks/cpu_ratio.py                       # all heavy models
    python benchmarks/cpu_ratio.py --models VGG --profile
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from speed import cpu_info, flops_per_clip, make, real_clips  # noqa: E402

from skaudio_random.architectures import _fast  # noqa: E402

HERE = Path(__file__).resolve().parent
HEAVY = [
    "SampleLevel",
    "FrameLevel",
    "FrameLevelManyShapes",
    "VGG",
    "Vertical7x86",
    "Timbral",
]


def mm_cpu_gflops(n: int, repeats: int = 3) -> float:
    """Best single-thread float32 ``n x n`` matmul rate per CPU-second."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = a @ b
    best = float("inf")
    for _ in range(repeats):
        c = time.process_time()
        torch.mm(a, b, out=out)
        best = min(best, time.process_time() - c)
    return 2 * n**3 / best / 1e9


def clip_cpu_seconds(net, x: torch.Tensor, repeats: int) -> float:
    """Best CPU seconds of the fast path on one prepared clip ``x``."""
    net._fast_features(x)  # weight matrices, allocator warm-up
    best = float("inf")
    for _ in range(repeats):
        c = time.process_time()
        net._fast_features(x)
        best = min(best, time.process_time() - c)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=HEAVY)
    p.add_argument("--width", type=int, default=3500)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--mm-size", type=int, default=3072)
    p.add_argument("--bf16", action="store_true", help="also time bfloat16")
    p.add_argument("--profile", action="store_true", help="per-operator table")
    p.add_argument("--label", default="", help="free text stored with the rows")
    p.add_argument("--out", default=str(HERE / "results" / "cpu_ratio"))
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    clip = real_clips(1)[0]
    print(
        f"# {cpu_info()}; torch {torch.__version__}; "
        f"capability {torch.backends.cpu.get_cpu_capability()}; "
        f"bf16 instructions: {getattr(_fast, 'cpu_has_bf16', lambda: None)()}",
        flush=True,
    )
    rows = []
    for name in args.models:
        est = make(name, args.width)
        est._prepare()
        net = est._network
        with torch.inference_mode():
            x = est._prepare_fn()(clip, "clip")
            flops = flops_per_clip(name, args.width)
            variants = [("float32", torch.float32)]
            if args.bf16:
                variants.append(("bfloat16 raw", torch.bfloat16))
            for label, dtype in variants:
                load = os.getloadavg()[0]
                mm_before = mm_cpu_gflops(args.mm_size)
                cpu = clip_cpu_seconds(net, x.to(dtype), args.repeats)
                mm = (mm_before + mm_cpu_gflops(args.mm_size)) / 2
                row = dict(
                    model=name,
                    width=args.width,
                    variant=label,
                    gflop_per_clip=flops / 1e9,
                    cpu_s=cpu,
                    gflops_cpu=flops / cpu / 1e9,
                    mm1_cpu=mm,
                    cpu_ratio=flops / cpu / 1e9 / mm,
                    load=load,
                    label=args.label,
                )
                rows.append(row)
                print(
                    f"{name:22s} {label:13s} {flops / 1e9:7.1f} GFLOP "
                    f"{cpu:7.2f} CPU-s {row['gflops_cpu']:6.1f} GFLOP/s "
                    f"mm {mm:6.1f}  CPU ratio {row['cpu_ratio']:.2f}  "
                    f"load {load:.1f}",
                    flush=True,
                )
            if args.profile:
                from torch.profiler import ProfilerActivity, profile

                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    net._fast_features(x)
                print(
                    prof.key_averages(group_by_input_shape=True).table(
                        sort_by="self_cpu_time_total", row_limit=25
                    ),
                    flush=True,
                )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(dict(cpu=cpu_info(), rows=rows), indent=1))
    print(f"# saved {path}")


if __name__ == "__main__":
    main()
