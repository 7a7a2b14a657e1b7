"""Peak memory of decoding a long recording (issue 10, item 9).

Writes long 44.1 kHz stereo wav files (default 10 and 20 minutes) to a scratch
folder, then measures in a fresh subprocess per case the peak resident memory
above the process's baseline (Linux ``VmHWM``, reset through
``/proc/self/clear_refs`` after the imports; ``ru_maxrss`` elsewhere) of:

- ``before``: the previous decoder (the whole file as a float32 stereo array,
  a float64 mean to mono, one-shot soxr resampling);
- ``load crop``: :func:`skaudio_random.load_audio` with ``max_samples=350000``,
  what ``fix_length="crop"`` decodes for waveform models and MFCC;
- ``load none``: the whole file, streamed (``fix_length="none"``);
- ``SampleLevel crop``: the transformer end to end (width 120, CPU);
- ``Vertical7x96 crop``: a spectrogram model (width 120, CPU). Its 80 dB floor
  is relative to the whole clip's maximum (SPEC 2), so it reads the whole file,
  but streams it block by block into a chunked log-mel front end that keeps only
  the first ``n_frames`` frames and the running maximum.

Targets: under crop the peak does not grow with the file; under none it stays
within twice the decoded float32 mono signal at 12 kHz. Memory numbers do not
depend on machine load. Prints a markdown table and appends it to
``benchmarks/RESULTS.md`` (``--no-append`` to skip).

Usage: ``python benchmarks/memory_decode.py [--minutes 10 20] [--scratch /tmp]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SR_FILE = 44100
SR = 12000
N_SAMPLES = 350000

CASES = {
    "before": """
import soundfile as sf, soxr
from skaudio_random.audio import to_mono
def run(path):
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    y = to_mono(y)
    return soxr.resample(y, sr, 12000, quality="HQ")
""",
    "load crop": """
from skaudio_random import load_audio
def run(path):
    return load_audio(path, max_samples=350000)
""",
    "load none": """
from skaudio_random import load_audio
def run(path):
    return load_audio(path)
""",
    "SampleLevel crop": """
from skaudio_random import SampleLevel
est = SampleLevel(width=120, device="cpu", random_state=0)
def run(path):
    return est.transform([path])
""",
    "Vertical7x96 crop": """
from skaudio_random import Vertical7x96
est = Vertical7x96(width=120, device="cpu", random_state=0)
def run(path):
    return est.transform([path])
""",
}

_CHILD = """
import json, os, resource, sys
sys.path.insert(0, {root!r})
{setup}
import numpy as np

def rss_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None

run(sys.argv[1] + ".warm.wav")  # imports, thread pools, first-call caches
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    reset = True
except OSError:
    reset = False
base = rss_kb("VmRSS") or 0
before_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = run(sys.argv[1])
peak = rss_kb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"base_kb": base, "peak_kb": peak, "reset": reset,
                   "shape": list(np.shape(out))}}))
"""


def write_long_wav(path: Path, minutes: float) -> None:
    """A stereo 44.1 kHz PCM-16 file of noise and tones, written in blocks."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    n = int(minutes * 60 * SR_FILE)
    block = 1 << 20
    with sf.SoundFile(path, "w", SR_FILE, 2, subtype="PCM_16") as f:
        for start in range(0, n, block):
            m = min(block, n - start)
            t = (start + np.arange(m)) / SR_FILE
            tone = 0.2 * np.sin(2 * np.pi * 440 * t)
            noise = 0.05 * rng.standard_normal((m, 2))
            f.write((noise + tone[:, None]).astype(np.float32))


def measure(case: str, path: Path) -> dict:
    code = _CHILD.format(root=str(ROOT), setup=CASES[case])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{case} on {path} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown CPU"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 20.0])
    parser.add_argument("--scratch", default=tempfile.gettempdir())
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from _common import today  # noqa: E402

    scratch = Path(tempfile.mkdtemp(prefix="memory_decode_", dir=args.scratch))
    rows = []
    try:
        for minutes in args.minutes:
            path = scratch / f"long_{minutes:g}min.wav"
            write_long_wav(path, minutes)
            write_long_wav(Path(str(path) + ".warm.wav"), 0.6)
            mono_12k = 4 * minutes * 60 * SR / 1e6
            for case in args.cases:
                r = measure(case, path)
                peak = (r["peak_kb"] - r["base_kb"]) / 1024
                rows.append((f"{minutes:g} min", case, peak, mono_12k))
                print(f"{minutes:g} min  {case:18s} peak +{peak:8.1f} MiB", flush=True)
            path.unlink()
            Path(str(path) + ".warm.wav").unlink()
    finally:
        for f in scratch.glob("*"):
            f.unlink()
        scratch.rmdir()

    lines = [
        "",
        "## Decoding memory (issue 10)",
        "",
        f"`benchmarks/memory_decode.py`, {today()}, {cpu_name()}, "
        f"{os.cpu_count()} cores (shared, loaded machine; memory does not depend on "
        "load). Peak resident memory above the warmed-up process baseline while "
        "decoding one 44.1 kHz stereo PCM-16 wav; `crop` keeps 350,000 samples "
        "(29 s at 12 kHz). The float32 mono signal at 12 kHz is 2.88 MB per minute.",
        "",
        "| file | case | peak above baseline (MiB) | float32 mono at 12 kHz (MB) |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {a} | {b} | {c:.1f} | {d:.1f} |" for a, b, c, d in rows]
    lines += [
        "",
        "`before` is the previous decoder (whole float32 stereo array, float64 "
        "mix-down, one-shot resampling). `load crop` and `SampleLevel crop` decode "
        "only the blocks the crop needs, so their peak does not grow with the file. "
        "`load none` streams blocks into one 12 kHz buffer. Spectrogram models "
        "(`Vertical7x96 crop`) must read the whole file, because the paper's 80 dB "
        "floor is relative to the whole clip's maximum, but they stream it into a "
        "chunked log-mel front end that keeps only the first `n_frames` frames and "
        "the running maximum, so their peak does not grow with the file either "
        "(same features as decoding the whole file, bitwise on the CPU).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_append:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
