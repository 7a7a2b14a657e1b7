"""librosa's MFCC and delta, without importing ``librosa.feature``.

Importing ``librosa.feature`` (or anything that loads ``librosa.util.utils``)
compiles librosa's numba kernels; with an empty numba cache (a fresh
environment, or a worker whose site-packages is read-only, where numba cannot
keep its cache) that took 20-30 s on a 2-core AMD EPYC, longer than the
paper's MFCC baseline of a whole demo. The MFCC needs none of those kernels:
:func:`mfcc` and :func:`delta` make the calls ``librosa.feature.mfcc(y=y,
sr=sr, n_mfcc=..., n_fft=..., hop_length=..., n_mels=..., pad_mode="reflect")``
and ``librosa.feature.delta(data, width=..., order=...)`` make (librosa 0.10 and
0.11: the centred STFT split into the same ``scipy.fft.rfft`` calls, the power
spectrogram, ``librosa.filters.mel``, ``power_to_db`` and the DCT), so the
results are bitwise librosa's; ``tests/test_mfcc.py`` checks it against
``librosa.feature`` itself.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.signal
from librosa.filters import mel as mel_filters

__all__ = ["delta", "mfcc"]

#: ``librosa.util.MAX_MEM_BLOCK``: bytes of frames per ``rfft`` call of the STFT.
MAX_MEM_BLOCK = 2**8 * 2**10


def _frame(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``librosa.util.frame(x, frame_length=n_fft, hop_length=hop)`` of 1-D ``x``."""
    n_frames = 1 + (x.shape[-1] - n_fft) // hop
    step = x.strides[-1]
    return np.lib.stride_tricks.as_strided(
        x, shape=(n_fft, n_frames), strides=(step, hop * step), writeable=False
    )


def _stft(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``librosa.stft(y, n_fft=n_fft, hop_length=hop, pad_mode="reflect")``.

    1-D float32 ``y`` of at least ``n_fft`` samples; Hann window, centred.
    """
    window = scipy.signal.get_window("hann", n_fft, fftbins=True)[:, None]
    half = n_fft // 2
    start_k = int(np.ceil(half / hop))
    tail_k = (y.shape[-1] + half - n_fft) // hop + 1
    if tail_k <= start_k:
        start = extra = 0
        pre = post = None
        y = np.pad(y, (half, half), mode="reflect")
    else:
        start = start_k * hop - half
        y_pre = np.pad(
            y[: (start_k - 1) * hop - half + n_fft + 1], (half, 0), "reflect"
        )
        pre = _frame(y_pre, n_fft, hop)[:, :start_k]
        extra = pre.shape[-1]
        post = None
        if tail_k * hop - half + n_fft <= y.shape[-1] + half:
            y_post = np.pad(y[tail_k * hop - half :], (0, half), mode="reflect")
            post = _frame(y_post, n_fft, hop)
            extra += post.shape[-1]
    frames = _frame(y[start:], n_fft, hop)
    n_bins = 1 + n_fft // 2
    out = np.zeros((n_bins, frames.shape[-1] + extra), dtype=np.complex64, order="F")
    off_start = 0
    if pre is not None:
        off_start = pre.shape[-1]
        out[:, :off_start] = scipy.fft.rfft(window * pre, axis=-2)
        if post is not None and post.shape[-1] > 0:
            out[:, -post.shape[-1] :] = scipy.fft.rfft(window * post, axis=-2)
    n_columns = max(int(MAX_MEM_BLOCK // (frames.shape[0] * frames.itemsize)), 1)
    for a in range(0, frames.shape[-1], n_columns):
        b = min(a + n_columns, frames.shape[-1])
        out[:, a + off_start : b + off_start] = scipy.fft.rfft(
            window * frames[:, a:b], axis=-2
        )
    return out


def mfcc(
    y: np.ndarray, *, sr: int, n_mfcc: int, n_fft: int, hop_length: int, n_mels: int
) -> np.ndarray:
    """``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft,
    hop_length=hop_length, n_mels=n_mels, pad_mode="reflect")`` of a 1-D float32
    clip of at least ``n_fft`` samples: shape ``(n_mfcc, n_frames)``."""
    power = np.abs(_stft(y, n_fft, hop_length)) ** 2.0
    basis = mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, norm="slaney")
    mel = np.einsum("...ft,mf->...mt", power, basis, optimize=True)
    # power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)
    log_spec = 10.0 * np.log10(np.maximum(1e-10, mel))
    log_spec -= 10.0 * np.log10(np.maximum(1e-10, np.abs(1.0)))
    log_spec = np.maximum(log_spec, log_spec.max() - 80.0)
    return scipy.fft.dct(log_spec, axis=-2, type=2, norm="ortho")[..., :n_mfcc, :]


def delta(data: np.ndarray, *, width: int, order: int) -> np.ndarray:
    """``librosa.feature.delta(data, width=width, order=order)`` along the last
    axis (``mode="interp"``): a Savitzky-Golay derivative."""
    if width < 3 or width % 2 != 1 or width > data.shape[-1]:
        raise ValueError(
            f"delta width={width} must be an odd integer >= 3 and at most the "
            f"{data.shape[-1]} frames."
        )
    return scipy.signal.savgol_filter(
        data, width, deriv=order, axis=-1, mode="interp", polyorder=order
    )
