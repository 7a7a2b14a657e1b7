"""Every example in ``examples/`` runs offline as a script, so none can rot.

Each one runs in a subprocess, in a temporary working folder, with the
non-interactive Agg backend (the examples then save their figure instead of
showing it). The subprocess gets ``OMP_NUM_THREADS=1``: the examples push one
short clip at a time through small networks, where a second intra-op thread
brings nothing and, on a busy machine (the rest of the suite, other jobs),
spin-waiting threads slow the passes down many times over. Each example is a
test of its own, so a parallel run (pytest-xdist) spreads them over its
processes.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))

#: What each example must print and the figure it must save.
EXPECTED = {
    "plot_quickstart.py": ("test accuracy:", "quickstart.png"),
    "plot_compare_architectures.py": ("Timbral+temporal", "compare_architectures.png"),
    "plot_grid_search.py": ("same score at every grid point: True", "grid_search.png"),
    "plot_your_own_architecture.py": ("SVM accuracy", "your_own_architecture.png"),
}


def test_the_examples_are_known():
    names = {p.name for p in EXAMPLES}
    assert set(EXPECTED) <= names, "an example listed here is missing"
    assert names <= set(EXPECTED), "add the new example to EXPECTED"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_has_a_gallery_docstring(path):
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc, f"{path.name} needs a module docstring"
    lines = doc.splitlines()
    title, underline = lines[0], lines[1]
    assert set(underline) == {"="} and len(underline) >= len(title), path.name
    assert len(" ".join(lines[2:]).split()) > 30, f"{path.name}: explain the example"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, tmp_path):
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    proc = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text, figure = EXPECTED[path.name]
    assert text in proc.stdout, proc.stdout
    assert (tmp_path / figure).stat().st_size > 5000
