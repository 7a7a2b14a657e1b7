"""Inputs that are not regular files: pipes, process substitution, devices.

They are read once into memory (bounded in size and in waiting time) and then
decoded and fingerprinted from those bytes; none may hang, so every test runs
the call under a timeout and fails if it does not return.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import skaudio_random.audio as audio_module
from skaudio_random._input import AudioInput
from skaudio_random.audio import load_audio
from skaudio_random.mfcc import MFCC

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")

ROOT = Path(__file__).resolve().parents[1]


def _within(seconds, func, *args):
    """``func(*args)``, failing the test if it has not returned after ``seconds``."""
    result = {}

    def target():
        try:
            result["value"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{getattr(func, '__name__', func)} hung for {seconds} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture
def clip(tmp_path, rng):
    path = tmp_path / "clip.wav"
    sf.write(path, 0.3 * rng.standard_normal(12000), 12000, subtype="PCM_16")
    return path


def _fifo_with_writer(tmp_path, data: bytes, name="pipe.wav") -> str:
    fifo = tmp_path / name
    os.mkfifo(fifo)

    def write():
        with open(fifo, "wb") as f:
            f.write(data)

    threading.Thread(target=write, daemon=True).start()
    return str(fifo)


def test_a_fifo_is_read_once_then_decoded_and_fingerprinted(clip, tmp_path):
    fifo = _fifo_with_writer(tmp_path, clip.read_bytes())
    cached = MFCC(memory=tmp_path / "cache")
    out = _within(60, cached.transform, [fifo])  # fingerprint, then decode
    np.testing.assert_array_equal(out, MFCC().transform([str(clip)]))
    # the bytes read once serve every later use of the path in the process
    assert AudioInput([fifo]).fingerprint(0) == AudioInput([str(clip)]).fingerprint(0)
    np.testing.assert_array_equal(_within(60, load_audio, fifo), load_audio(str(clip)))


def test_a_fifo_without_a_writer_fails_after_a_bounded_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_module, "STREAM_TIMEOUT_S", 0.5)
    fifo = tmp_path / "nobody.wav"
    os.mkfifo(fifo)
    with pytest.raises(TimeoutError, match=r"nobody\.wav.*gave no data for 0\.5 s"):
        _within(30, AudioInput([str(fifo)]).fingerprint, 0)
    with pytest.raises(TimeoutError, match=r"nobody\.wav.*no data"):
        _within(30, load_audio, str(fifo))
    assert audio_module.STREAM_TIMEOUT_S > 0  # the default bound is finite


def test_a_device_without_an_end_fails_quickly_naming_it(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    match = r"'/dev/zero' is not a regular file and gives more than 1024 MiB"
    with pytest.raises(ValueError, match=match):  # the default cap, read in ~1 s
        _within(60, MFCC(memory=tmp_path / "cache").transform, ["/dev/zero"])


def test_small_cap_and_empty_devices(tmp_path, monkeypatch, clip):
    monkeypatch.setattr(audio_module, "MAX_STREAM_BYTES", 1000)
    fifo = _fifo_with_writer(tmp_path, clip.read_bytes())
    with pytest.raises(ValueError, match=r"pipe\.wav.*more than .* MiB"):
        _within(30, load_audio, fifo)
    if os.path.exists("/dev/null"):
        with pytest.raises(ValueError, match=r"'/dev/null' is empty \(0 bytes\)"):
            _within(30, load_audio, "/dev/null")


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.bind(str(path))
        except OSError as exc:  # e.g. a path too long for AF_UNIX
            pytest.skip(f"cannot bind a Unix socket: {exc}")
        with pytest.raises(ValueError, match=r"s\.sock' is a socket"):
            _within(30, load_audio, str(path))


def _cli(script: str, cwd, timeout=240) -> subprocess.CompletedProcess:
    """``script`` run by bash (for ``<(...)``), with this checkout importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    try:
        return subprocess.run(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung for {timeout} s: {script}")


@pytest.mark.skipif(not os.path.exists("/bin/bash"), reason="needs bash")
def test_cli_extract_and_predict_read_process_substitution(clip, tmp_path):
    py = f"'{sys.executable}' -m skaudio_random"
    classes = tmp_path / "classes"
    rng = np.random.default_rng(1)
    for name, freq in (("low", 300.0), ("high", 2000.0)):
        (classes / name).mkdir(parents=True)
        for k in range(3):
            t = np.arange(6000) / 12000
            y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(6000)
            sf.write(classes / name / f"{k}.wav", y, 12000)
    script = (
        f"{py} extract <(cat clip.wav) --out out --models mfcc --quiet && "
        f"{py} extract clip.wav --out ref --models mfcc --quiet && "
        f"{py} train classes --model mfcc --classifier svm --n-splits 2 --quiet "
        "--out model.joblib && "
        f"{py} predict model.joblib <(cat classes/high/0.wav) --quiet"
    )
    result = _cli(script, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(
        np.load(tmp_path / "out" / "mfcc.npy"), np.load(tmp_path / "ref" / "mfcc.npy")
    )
    assert "high" in result.stdout
