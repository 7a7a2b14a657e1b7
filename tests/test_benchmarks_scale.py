"""benchmarks/gpu_check.py and dask_scaling.py keep running (--quick, on the CPU)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(
        f"_bench_{name}", BENCHMARKS / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_quick_on_cpu(tmp_path, capsys):
    gpu_check = _script("gpu_check")
    md = tmp_path / "RESULTS.md"
    results = gpu_check.main(
        [
            "--device",
            "cpu",
            "--quick",
            "--models",
            "SampleLevel",
            "Timbral",
            "VGG",
            "--out",
            str(tmp_path / "out"),
            "--files-dir",
            str(tmp_path / "files"),
            "--results-md",
            str(md),
        ]
    )
    out = capsys.readouterr().out
    # CPU against CPU: the float32 and tf32 features are the same computation
    assert [r["model"] for r in results["accuracy"]] == [
        "SampleLevel",
        "Timbral",
        "VGG",
    ]
    # bfloat16 math runs only on CPUs with bfloat16 instructions (else float32)
    from skaudio_random.architectures._fast import cpu_has_bf16

    for r in results["accuracy"]:
        assert r["float32"] == r["tf32"] == 0.0 and r["ok"]
        if cpu_has_bf16():
            assert 0 < r["bfloat16"] < 0.05
        else:
            assert r["bfloat16"] == 0.0
    speed = {(r["model"], r["precision"]): r for r in results["speed"]}
    assert set(speed) == {
        (m, p) for m in ("SampleLevel", "Timbral", "VGG") for p in gpu_check.PRECISIONS
    }
    for r in speed.values():
        assert r["clips_per_s"] > 0 and r["gemm_before"] > 0 and r["peak_gib"] is None
        assert r["heavy"] and r["ok"] == (r["ratio"] >= 0.5)
    # analytic FLOPs of the quick setting, from the registry's count
    assert (
        speed["VGG", "float32"]["gflop_per_clip"]
        == gpu_check.flops_per_clip("VGG", gpu_check.parse(["--quick"])) / 1e9
    )
    gtzan = results["gtzan"]
    assert gtzan["files"] == 3 and gtzan["complete"]
    assert set(gtzan["seconds_per_model"]) == {"SampleLevel", "Timbral", "VGG"}
    assert "Targets: float32 features within 1e-4 of the CPU: True" in out
    text = md.read_text()
    assert text.count("## GPU check (issue 14): CPU") == 1
    assert "| VGG | bfloat16 |" in text and "GTZAN-sized set: 3 files" in text
    saved = json.loads((tmp_path / "out" / "gpu_check_quick.json").read_text())
    assert saved["targets"]["float32_within_1e4"] is True


def test_gpu_check_time_budget_skips_rows(tmp_path):
    gpu_check = _script("gpu_check")
    results = gpu_check.main(
        [
            "--device",
            "cpu",
            "--quick",
            "--models",
            "Temporal",
            "Time",
            "--files",
            "0",
            "--time-budget",
            "0.001",
            "--out",
            str(tmp_path),
        ]
    )
    assert all(r.get("skipped") for r in results["accuracy"] + results["speed"])
    assert results["targets"]["skipped"] == 2 + 2 * 3


@pytest.mark.slow
def test_dask_scaling_quick(tmp_path):
    pytest.importorskip("distributed")
    dask_scaling = _script("dask_scaling")
    md = tmp_path / "RESULTS.md"
    result = dask_scaling.main(
        ["--quick", "--files-dir", str(tmp_path / "files"), "--results-md", str(md)]
    )
    assert result["t1"] > 0 and result["t2"] > 0
    assert result["efficiency"] == result["t1"] / (2 * result["t2"])
    text = md.read_text()
    assert "## Dask scaling (issue 14)" in text and result["cpu"] in text
