"""bfloat16 against float32 on this CPU: CPU seconds for one clip, one thread.

Issue 14, section 3: ``precision="bfloat16"`` must not be slower than float32
where the CPU lacks bfloat16 instructions. For each model, one real clip:

- ``float32``: the transformer with ``precision="float32"``;
- ``bfloat16``: the transformer with ``precision="bfloat16"`` (what users get:
  bfloat16 maps and GEMMs only where ``_fast.cpu_has_bf16()``);
- ``bf16 forced``: the network's fast path run in bfloat16 regardless
  (``compute_dtype=torch.bfloat16``), i.e. what ``"bfloat16"`` did before.

Usage::

    python benchmarks/bf16_check.py --width 120 --models Vertical7x86 Timbral
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from speed import cpu_info, make, real_clips  # noqa: E402

from skaudio_random.architectures import _fast  # noqa: E402


def cpu_seconds(fn, repeats: int = 2) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        c = time.process_time()
        fn()
        best = min(best, time.process_time() - c)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["Vertical7x86", "Timbral", "VGG"])
    p.add_argument("--width", type=int, default=120)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    clip = real_clips(1)
    print(
        f"# {cpu_info()}; bf16 instructions: {_fast.cpu_has_bf16()}; "
        f"width {args.width}; CPU s per clip (1 thread)"
    )
    for name in args.models:
        f32 = make(name, args.width, n_jobs=1)
        bf16 = make(name, args.width, n_jobs=1, precision="bfloat16")
        t32 = cpu_seconds(lambda est=f32: est.transform(clip))
        t16 = cpu_seconds(lambda est=bf16: est.transform(clip))
        net = f32._network
        with torch.inference_mode():
            x = f32._prepare_fn()(clip[0], "clip")[None]
            forced = cpu_seconds(
                lambda net=net, x=x: net(x, compute_dtype=torch.bfloat16), repeats=1
            )
            plain = cpu_seconds(lambda net=net, x=x: net(x), repeats=1)
        print(
            f"{name:14s} float32 {t32:.3f}  bfloat16 {t16:.3f}  "
            f"(network alone: float32 {plain:.3f}, bf16 forced {forced:.3f}, "
            f"x{forced / plain:.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
