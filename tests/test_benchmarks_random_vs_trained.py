"""benchmarks/random_vs_trained.py must keep running: its --quick mode on the
shipped spoken digits."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "random_vs_trained.py"


def test_random_vs_trained_quick_runs_and_reports(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--threads",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        "| vgg | mel |" in proc.stdout and "| sample_level | waveform |" in proc.stdout
    )
    assert "Spearman rho = " in proc.stdout and "Kendall tau-b = " in proc.stdout
    rows = json.loads((tmp_path / "out" / "digits_folds.json").read_text())
    assert [r["architecture"] for r in rows] == ["vgg", "timbral", "sample_level"]
    for r in rows:
        assert len(r["random"]) == len(r["trained"]) == 2  # the same two folds
        assert all(0 <= s <= 1 for s in r["random"] + r["trained"])
    text = results.read_text(encoding="utf-8")
    assert text.startswith("# Results\n") and "## Random vs trained" in text
    assert "### digits, width 16" in text and "Wall time" in text
    assert (tmp_path / "out" / "digits_random_vs_trained.png").stat().st_size > 0
