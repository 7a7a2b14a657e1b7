"""benchmarks/speed.py must keep running: its --quick mode on real example clips."""

import json
import subprocess
import sys
from pathlib import Path

from .conftest import requires_librosa_examples

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


@requires_librosa_examples
def test_speed_quick_runs_and_reports(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--out",
            str(tmp_path / "out"),
            "--files-dir",
            str(tmp_path / "files"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| Temporal | 120 | plain |" in proc.stdout
    assert "End to end from 2 files" in proc.stdout
    results = json.loads((tmp_path / "out" / "speed_quick.json").read_text())
    rows = {(r["model"], r["variant"]): r for r in results["network"]}
    # analytic FLOPs: Vertical7x96 at width 120 is 160 filters x 672 x 1370 MACs
    assert rows["Vertical7x96", "fast"]["gflop_per_clip"] == 2 * 160 * 672 * 1370 / 1e9
    for r in results["network"]:
        assert r["clips_per_s"] > 0 and r["mm_before"] > 0
    assert rows["MFCC", "fast"]["gflops"] is None  # not a CNN: time only
    e2e = [
        r
        for r in results["end_to_end"]
        if r["model"] not in ("TOTAL", "SHARED", "MFCC_WORKERS")
    ]
    assert {r["model"] for r in e2e} == {
        "Temporal",
        "Vertical7x96",
        "SampleLevel",
        "MFCC",
    }
    assert all(r["files"] == 2 and r["peak_mb"] > 0 for r in e2e)
    shared = next(r for r in results["end_to_end"] if r["model"] == "SHARED")
    assert shared["files"] == 2 and shared["n_mel_models"] == 2  # Temporal, 7x96
    assert shared["n_front_ends"] == 1  # their log-mel computed once per file
    assert shared["shared_logmel_cpu_seconds"] > 0
    assert 0 < shared["decode_cpu_share"] and 0 < shared["logmel_cpu_share"]
    assert "each file decoded once" in proc.stdout
    workers = next(r for r in results["end_to_end"] if r["model"] == "MFCC_WORKERS")
    assert workers["bitwise"] and workers["files"] == 2
