"""The paper's log-mel front end as a batched torch module.

Pons & Serra (2019), SPEC section 2: power STFT (n_fft=512, hop=256, periodic Hann
window, centred with reflect padding), 96 Slaney mel bands over 0-6000 Hz with area
normalisation (librosa's filter bank), then decibels with ``ref=1``,
``amin=1e-10`` and an 80 dB floor below each clip's own maximum, i.e.
``librosa.power_to_db(librosa.feature.melspectrogram(...), ref=1.0, amin=1e-10,
top_db=80.0)``.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
from torch import Tensor, nn

from ._utils import resolve_device

__all__ = ["LogMelSpectrogram", "log_mel_spectrogram"]


class LogMelSpectrogram(nn.Module):
    """Batched log-mel spectrogram matching librosa with the paper's settings.

    Parameters
    ----------
    sr : int, default=12000
        Sample rate of the input waveforms.
    n_fft : int, default=512
        FFT size and window length.
    hop_length : int, default=256
        Hop between frames.
    n_mels : int, default=96
        Number of mel bands.
    fmin : float, default=0.0
        Lowest band edge in Hz.
    fmax : float or None, default=None
        Highest band edge in Hz; ``None`` means ``sr / 2`` (6000 Hz at 12 kHz).
    top_db : float or None, default=80.0
        Floor each clip at its own maximum minus ``top_db`` decibels. ``None``
        disables the floor.
    amin : float, default=1e-10
        Power floor before the logarithm.

    Notes
    -----
    Every clip is normalised by its own maximum only, so a clip's spectrogram never
    depends on the other clips of its batch.

    Examples
    --------
    >>> import torch
    >>> y = torch.sin(2 * torch.pi * 440 * torch.arange(12000) / 12000)
    >>> LogMelSpectrogram()(y[None]).shape
    torch.Size([1, 96, 47])
    """

    def __init__(
        self,
        sr: int = 12000,
        n_fft: int = 512,
        hop_length: int = 256,
        n_mels: int = 96,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float | None = 80.0,
        amin: float = 1e-10,
    ) -> None:
        super().__init__()
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.top_db = top_db
        self.amin = amin
        mel_basis = librosa.filters.mel(
            sr=sr,
            n_fft=n_fft,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            htk=False,
            norm="slaney",
        )  # (n_mels, 1 + n_fft // 2)
        self.register_buffer(
            "mel_basis", torch.from_numpy(mel_basis.astype(np.float32))
        )
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True))

    def n_frames(self, n_times: int) -> int:
        """Number of frames for a signal of ``n_times`` samples."""
        return 1 + n_times // self.hop_length

    def frames_to_db(self, spec: Tensor) -> Tensor:
        """Mel power in dB, before the floor, of STFT frames ``(batch, bins, frames)``.

        Each frame's values depend on that frame only, so frames computed in
        chunks (:func:`log_mel_crop_of_blocks`) take the same path as a whole clip.
        """
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.mel_basis, power)  # (batch, n_mels, n_frames)
        return 10.0 * torch.log10(torch.clamp(mel, min=self.amin))

    def forward(self, y: Tensor) -> Tensor:
        """Waveforms ``(batch, n_times)`` to log-mel ``(batch, n_mels, n_frames)``."""
        if y.ndim != 2:
            raise ValueError(
                f"expected waveforms of shape (batch, n_times); got {tuple(y.shape)}."
            )
        if y.shape[-1] < self.n_fft:
            raise ValueError(
                f"each waveform must have at least n_fft={self.n_fft} samples; "
                f"got {y.shape[-1]}."
            )
        spec = torch.stft(
            y.float(),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )  # (batch, 1 + n_fft // 2, n_frames)
        db = self.frames_to_db(spec)
        if self.top_db is not None:
            floor = db.amax(dim=(1, 2), keepdim=True) - self.top_db
            db = torch.maximum(db, floor)
        return db


def log_mel_spectrogram(
    y: np.ndarray,
    sr: int = 12000,
    *,
    n_fft: int = 512,
    hop_length: int = 256,
    n_mels: int = 96,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float | None = 80.0,
    device: str = "cpu",
) -> np.ndarray:
    """Log-mel spectrogram of one waveform, shaped like librosa's output.

    Parameters
    ----------
    y : ndarray of shape (n_times,)
        Floating-point waveform at ``sr``.
    sr, n_fft, hop_length, n_mels, fmin, fmax, top_db
        See :class:`LogMelSpectrogram`; the defaults are the paper's.
    device : str, default="cpu"
        Where to compute (see :func:`skaudio_random._utils.resolve_device`).

    Returns
    -------
    S_db : ndarray of shape (n_mels, n_frames), dtype float32
        ``n_frames = 1 + n_times // hop_length``.

    Examples
    --------
    >>> y = np.sin(2 * np.pi * 440 * np.arange(24000) / 12000).astype(np.float32)
    >>> log_mel_spectrogram(y).shape
    (96, 94)
    """
    from .audio import check_waveform

    y = check_waveform(y, name="y")
    dev = resolve_device(device)
    module = LogMelSpectrogram(
        sr=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        top_db=top_db,
    ).to(dev)
    with torch.inference_mode():
        out = module(torch.from_numpy(y)[None].to(dev))[0]
    return out.cpu().numpy()


def n_samples_for_frames(n_frames: int, hop_length: int = 256) -> int:
    """Fewest samples whose centred STFT has ``n_frames`` frames."""
    return max(0, (n_frames - 1) * hop_length)


def log_mel_of_clip(
    y, frontend, n_frames: int, mode: str, name: str, device=None, mel=None
):
    """Log-mel of a whole clip, then the frame-length rule (SPEC section 1).

    The dB floor is relative to the whole clip's maximum; ``crop`` keeps the
    first ``n_frames`` frames (clips giving fewer are an error), ``repeat`` tiles
    log-mel frames (the paper's UrbanSound8K rule), ``zero`` pads the audio with
    silence, ``none`` returns every frame of the clip.

    Parameters
    ----------
    y : ndarray of shape (n_times,)
        The clip, at the front end's sample rate.
    frontend : LogMelSpectrogram
    n_frames : int
    mode : {"crop", "repeat", "zero", "none"}
    name : str
        How errors name the clip.
    device : torch.device, default=None
        Where the clip goes before the front end (its tensor's own device if None).
    mel : Tensor, default=None
        The clip's :func:`whole_clip_log_mel` under the same front end, length
        rule and device, already computed (by :func:`skaudio_random.featurize`
        for several models at once); only the frame rule is applied then.

    Returns
    -------
    Tensor of shape (n_mels, n_frames), or (n_mels, clip frames) under ``none``.
    """
    if mel is None:
        mel = whole_clip_log_mel(y, frontend, n_frames, mode, name, device)
    if mode == "none":
        return mel
    if mel.shape[-1] < n_frames and mode == "crop":
        raise ValueError(
            f"{name} gives {mel.shape[-1]} frames, fewer than n_frames={n_frames}, "
            "so it cannot be cropped; use fix_length='zero' or 'repeat' for short "
            "clips."
        )
    if mel.shape[-1] < n_frames:  # repeat
        mel = mel.repeat(1, -(-n_frames // mel.shape[-1]))
    return mel[:, :n_frames]


#: STFT frames computed at once by :func:`log_mel_crop_of_blocks` (every chunk
#: has at least this many: BLAS picks other kernels for narrow matrices).
STREAM_CHUNK_FRAMES = 256


def log_mel_crop_of_blocks(
    blocks,
    frontend: LogMelSpectrogram,
    n_frames: int,
    name: str,
    device=None,
    *,
    chunk_frames: int = STREAM_CHUNK_FRAMES,
) -> Tensor:
    """``crop`` log-mel of a clip arriving in blocks, in memory bounded by the crop.

    Equals ``log_mel_of_clip(np.concatenate(blocks), frontend, n_frames, "crop",
    name, device)``: the first ``n_frames`` frames, floored ``top_db`` below the
    maximum over every frame of the whole clip (SPEC section 2). The clip is
    never held whole: its centred, reflect-padded STFT is computed in chunks of
    at least ``chunk_frames`` frames from a buffer that keeps the halo (the
    ``n_fft - hop_length`` samples a chunk's next frame shares with it) and the
    last ``n_fft // 2 + 1`` samples (for the reflect padding at the end); only
    the kept frames' dB and the running maximum dB stay. Each frame is computed
    from the same samples, by the same STFT and :meth:`LogMelSpectrogram.frames_to_db`
    as the whole clip's, so the result is bitwise the same on the CPU (tested,
    with tiny blocks and chunks); a GPU FFT or GEMM may round the last bit of a
    frame differently in a chunk than in the whole clip.

    Parameters
    ----------
    blocks : iterable of ndarray of shape (n,), float32
        Consecutive samples of the clip at the front end's rate (e.g.
        :func:`skaudio_random.audio.iter_audio_blocks`); blocks may be empty.
    frontend : LogMelSpectrogram
    n_frames : int
        Frames kept.
    name : str
        How errors name the clip.
    device : torch.device, default=None
        Where the frames are computed (the front end's device).
    chunk_frames : int, default=STREAM_CHUNK_FRAMES
        Least frames per STFT chunk; chunks have up to twice as many.

    Returns
    -------
    Tensor of shape (n_mels, n_frames)

    Raises
    ------
    ValueError
        With :func:`log_mel_of_clip`'s messages: the clip is shorter than one
        STFT window, or gives fewer than ``n_frames`` frames.
    """
    n_fft, hop = frontend.n_fft, frontend.hop_length
    half = n_fft // 2  # torch.stft(center=True) pads this much on each side
    head: list[np.ndarray] = []  # samples before the left padding can be built
    buf = None  # padded-signal samples from index `start` on
    start = n_x = next_frame = 0
    kept: list[Tensor] = []
    top = None  # running maximum dB over every frame so far

    def compute(t1: int) -> None:
        nonlocal next_frame, top
        t0 = next_frame
        seg = buf[t0 * hop - start : (t1 - 1) * hop + n_fft - start]
        wave = torch.from_numpy(np.ascontiguousarray(seg))
        if device is not None:
            wave = wave.to(device)
        spec = torch.stft(
            wave[None],
            n_fft=n_fft,
            hop_length=hop,
            window=frontend.window,
            center=False,
            return_complex=True,
        )  # (1, 1 + n_fft // 2, t1 - t0): the padded signal's frames t0..t1-1
        db = frontend.frames_to_db(spec)[0]  # (n_mels, t1 - t0)
        if t0 < n_frames:
            kept.append(db[:, : min(t1, n_frames) - t0].clone())
        peak = db.amax()
        top = peak if top is None else torch.maximum(top, peak)
        next_frame = t1

    def flush(final: bool) -> None:
        nonlocal buf, start
        available = start + len(buf)
        n_ready = (available - n_fft) // hop + 1 if available >= n_fft else 0
        while n_ready - next_frame >= 2 * chunk_frames:
            compute(next_frame + chunk_frames)
        if final and n_ready > next_frame:
            compute(n_ready)
        # keep the next frame's samples and the last half + 1 samples of the clip
        keep_from = min(next_frame * hop, available - (half + 1))
        buf = buf[keep_from - start :]
        start = keep_from

    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        n_x += len(block)
        if buf is None:
            head.append(block)
            if n_x > half:  # x[1..half] exist: build the reflect padding
                x = np.concatenate(head)
                head = []
                buf = np.concatenate([x[half:0:-1], x])
        else:
            buf = np.concatenate([buf, block])
        if buf is not None:
            flush(final=False)

    if n_x < n_fft:
        raise ValueError(
            f"{name} has {n_x} samples, shorter than one STFT window "
            f"(n_fft={n_fft}); use fix_length='zero' or 'repeat' for short clips."
        )
    n_total = (n_x + 2 * half - n_fft) // hop + 1
    if n_total < n_frames:
        raise ValueError(
            f"{name} gives {n_total} frames, fewer than n_frames={n_frames}, "
            "so it cannot be cropped; use fix_length='zero' or 'repeat' for short "
            "clips."
        )
    end = n_x - 2 + half - start  # buf index of the clip's last sample but one
    buf = np.concatenate([buf, buf[end - half + 1 : end + 1][::-1]])
    flush(final=True)
    db = torch.cat(kept, dim=-1)
    if frontend.top_db is not None:
        db = torch.maximum(db, top - frontend.top_db)
    return db


def whole_clip_log_mel(y, frontend, n_frames: int, mode: str, name: str, device=None):
    """The front end's output for a clip before the frame rule of
    :func:`log_mel_of_clip` (the audio-side part of the length rule applied:
    ``zero`` pads or cuts the audio, ``repeat`` tiles a clip shorter than one
    STFT window, other clips shorter than a window are an error).

    Returns
    -------
    Tensor of shape (n_mels, clip frames)
    """
    from .audio import fix_length

    n_fft = frontend.n_fft
    if mode == "zero":
        y = fix_length(y, _zero_length(frontend, n_frames), "zero", name=name)
    elif mode == "repeat" and y.shape[-1] < n_fft:
        y = fix_length(y, n_fft, "repeat", name=name)
    elif y.shape[-1] < n_fft:
        raise ValueError(
            f"{name} has {y.shape[-1]} samples, shorter than one STFT window "
            f"(n_fft={n_fft}); use fix_length='zero' or 'repeat' for short clips."
        )
    wave = torch.from_numpy(np.ascontiguousarray(y))
    if device is not None:
        wave = wave.to(device)
    return frontend(wave[None])[0]  # (n_mels, n_frames_clip)


def _zero_length(frontend, n_frames: int) -> int:
    """Samples a clip is padded or cut to under ``fix_length="zero"``."""
    return max((n_frames - 1) * frontend.hop_length, frontend.n_fft)


def whole_clip_key(frontend, n_frames: int, mode: str, device) -> tuple | None:
    """What :func:`whole_clip_log_mel` depends on besides the clip, for clips of
    at least ``frontend.n_fft`` samples.

    Equal keys give bitwise the same whole-clip log-mel of such a clip (computed
    the same way, e.g. on one thread), so models with equal keys can share it:
    ``crop``, ``repeat`` and ``none`` leave such a clip as it is (they differ
    only in the frame rule applied afterwards); ``zero`` pads or cuts the audio
    to a length set by ``n_frames``. ``None`` for a front end other than
    :class:`LogMelSpectrogram` (its parameters are unknown here).
    """
    if type(frontend) is not LogMelSpectrogram:
        return None
    audio_rule = ("zero", _zero_length(frontend, n_frames)) if mode == "zero" else ()
    return (
        frontend.sr,
        frontend.n_fft,
        frontend.hop_length,
        frontend.n_mels,
        frontend.fmin,
        frontend.fmax,
        frontend.top_db,
        frontend.amin,
        frontend.mel_basis.dtype,
        str(frontend.mel_basis.device),
        str(device),
        audio_rule,
    )
