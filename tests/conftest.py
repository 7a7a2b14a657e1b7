"""Shared fixtures: seeded generators, short synthetic clips, the ../shared data."""

from __future__ import annotations

import os

# Before torch loads its OpenMP runtime: idle OpenMP threads sleep instead of
# spinning. The suite runs in several processes (pytest-xdist) and many tests
# start subprocesses, so cores are shared; spinning threads then burn the time
# that the other processes need (the suite took about 20% less wall time, and
# less CPU, on 2 cores with this setting).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

#: ``../shared`` beside the checkout (real, licensed recordings); may be absent.
SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"
FSDD = SHARED_DATA / "fsdd"
LIBROSA_EXAMPLES = SHARED_DATA / "librosa_examples"

if LIBROSA_EXAMPLES.is_dir():  # read by librosa at import time
    os.environ.setdefault("LIBROSA_DATA_DIR", str(LIBROSA_EXAMPLES))

requires_fsdd = pytest.mark.skipif(
    not (FSDD / "recordings").is_dir(), reason="../shared/data/fsdd is not available"
)
requires_librosa_examples = pytest.mark.skipif(
    not LIBROSA_EXAMPLES.is_dir(),
    reason="../shared/data/librosa_examples is not available",
)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def tone(freq=440.0, seconds=1.0, sr=12000, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def wav_files(tmp_path, rng):
    """Three short files: 8 kHz mono, 22.05 kHz stereo, 12 kHz flac."""
    paths = []
    for i, (sr, channels, ext) in enumerate(
        [(8000, 1, "wav"), (22050, 2, "wav"), (12000, 1, "flac")]
    ):
        y = 0.3 * rng.standard_normal((int(0.5 * sr), channels))
        path = tmp_path / f"clip{i}.{ext}"
        sf.write(path, y, sr)
        paths.append(str(path))
    return paths


def fsdd_files(n_per_class=None, takes=None):
    """FSDD recordings and labels: all, ``n_per_class`` of each digit, or some takes.

    ``takes`` keeps the given take indices of every speaker and digit (file names
    are ``{digit}_{speaker}_{take}.wav``).
    """
    files = sorted((FSDD / "recordings").glob("*.wav"))
    if takes is not None:
        files = [p for p in files if int(p.stem.split("_")[2]) in takes]
    labels = np.array([int(p.name.split("_")[0]) for p in files])
    if n_per_class is not None:
        # spread the picks over the six speakers of each digit
        keep = np.concatenate(
            [
                idx[np.linspace(0, len(idx) - 1, n_per_class).astype(int)]
                for idx in (np.flatnonzero(labels == c) for c in range(10))
            ]
        )
        files = [files[i] for i in keep]
        labels = labels[keep]
    return [str(p) for p in files], labels
