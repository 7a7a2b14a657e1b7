"""Audio input: decoding, mono mix-down, resampling and length fixing.

NumPy in, NumPy out. Decoding goes through libsndfile (:mod:`soundfile`: wav, flac,
ogg, mp3, au, aiff, ...) with :func:`librosa.load` as a fallback for containers
libsndfile cannot open; resampling uses :mod:`soxr` at high quality.

A path that is not a regular file (a pipe, process substitution ``<(...)``,
``/dev/stdin``, a device) can be read only once, so it is read once into memory,
up to :data:`MAX_STREAM_BYTES`, and every later decode or fingerprint of it in
the process uses those bytes (:func:`stream_bytes`).
"""

from __future__ import annotations

import io
import os
import select
import stat
import threading
import warnings
from numbers import Integral

import numpy as np
import soundfile as sf
import soxr

__all__ = ["load_audio", "fix_length", "to_mono", "check_waveform", "FIX_LENGTH_MODES"]

#: Length-fixing modes understood by :func:`fix_length`.
FIX_LENGTH_MODES = ("crop", "repeat", "zero", "none")

#: Largest accepted sample magnitude: 2**31, the full scale of 32-bit integer PCM,
#: the widest integer format audio is stored in. Larger finite values are no
#: audio at any common scale, and squared in the float32 spectrogram or through
#: the network's layers they overflow to inf (1e30 does).
MAX_ABS_SAMPLE = float(2**31)

#: Peak above which float waveforms are taken for integer PCM values stored as
#: floats (a warning). Full scale is 1.0; resampling overshoot stays near it and
#: even unit-variance Gaussian noise (a common test signal) peaks below 8 over
#: 10**12 samples, while 16-bit PCM values (full scale 32768) peak in the
#: hundreds or thousands for any audible clip.
INT_SCALE_PEAK = 16.0


#: Most bytes read from a path that is not a regular file (1 GiB: over an hour
#: of 16-bit stereo audio at 44.1 kHz). A device with no end (``/dev/zero``)
#: fails once it is passed, after a second or so; save longer streams to a file.
MAX_STREAM_BYTES = 1 << 30

#: Seconds a pipe or device may give no data before reading it fails: a pipe
#: that no program writes to fails instead of waiting for ever.
STREAM_TIMEOUT_S = 10.0

_STREAM_CHUNK = 1 << 20
# Bytes of the non-regular paths read so far, by (device, inode): a pipe gives
# its data once, so every later use in the process reads them from here.
_STREAMS: dict[tuple[int, int], bytes] = {}
_STREAMS_LOCK = threading.Lock()


def stream_bytes(path: str | os.PathLike) -> bytes | None:
    """The content of ``path`` if it is not a regular file; ``None`` if it is one.

    A pipe, process substitution (``/dev/fd/N``), ``/dev/stdin`` or device is
    read once, without blocking: at most :data:`MAX_STREAM_BYTES`, each wait for
    data lasting at most :data:`STREAM_TIMEOUT_S`. The bytes are kept for the
    rest of the process (a pipe cannot be read twice), so the same path gives
    the same bytes to every later call, even if new data was written to it.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    TimeoutError
        If ``path`` gives no data for :data:`STREAM_TIMEOUT_S` seconds (a pipe
        with no writer, a terminal).
    ValueError
        If ``path`` is a socket, or gives more than :data:`MAX_STREAM_BYTES`.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"audio file {path!r} does not exist.") from None
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None
    if stat.S_ISSOCK(st.st_mode):
        raise ValueError(f"audio file {path!r} is a socket, not a file.")
    key = (st.st_dev, st.st_ino)
    with _STREAMS_LOCK:
        if key not in _STREAMS:
            _STREAMS[key] = _read_stream(path)
        return _STREAMS[key]


def _read_stream(path: str) -> bytes:
    """Read a pipe or device to its end, within the limits of :func:`stream_bytes`."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    data = io.BytesIO()
    try:
        poller = select.poll() if hasattr(select, "poll") else None
        if poller is not None:
            poller.register(fd, select.POLLIN)
        while True:
            if poller is not None and not poller.poll(1000 * STREAM_TIMEOUT_S):
                raise TimeoutError(
                    f"audio file {path!r} is not a regular file and gave no data for "
                    f"{STREAM_TIMEOUT_S:g} s (a pipe that no program writes to?); "
                    f"{data.tell()} bytes were read."
                )
            try:
                chunk = os.read(fd, _STREAM_CHUNK)
            except BlockingIOError:  # the writer is still there: wait again
                continue
            if not chunk:
                return data.getvalue()
            data.write(chunk)
            if data.tell() > MAX_STREAM_BYTES:
                raise ValueError(
                    f"audio file {path!r} is not a regular file and gives more than "
                    f"{MAX_STREAM_BYTES / 2**20:g} MiB (the limit for pipes and "
                    "devices, which are read into memory); save the audio to a file."
                )
    finally:
        os.close(fd)


def audio_source(path: str) -> str | io.BytesIO:
    """What the decoders open for ``path``: the path of a regular file, or the
    bytes of any other (:func:`stream_bytes`) as a new file object."""
    data = stream_bytes(path)
    return path if data is None else io.BytesIO(data)


def warn_integer_scale(name: str, peak: float, others: str = "", stacklevel=2):
    """Warn that ``name`` peaking at ``peak`` looks like integer PCM as floats."""
    warnings.warn(
        f"{name} peaks at {peak:.6g}{others} above {INT_SCALE_PEAK}: audio samples "
        "are expected in [-1, 1], and these look like integer PCM values stored as "
        "floats. Features depend on the scale; divide by the format's full scale "
        "(32768 for 16-bit PCM).",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


def check_decoded_peak(peak: float, name: str, stacklevel=2) -> None:
    """The amplitude checks of a decoded file: an error beyond 2**31, a warning
    (:func:`warn_integer_scale`) above :data:`INT_SCALE_PEAK`."""
    check_amplitude(peak, name)
    if peak > INT_SCALE_PEAK:
        warn_integer_scale(name, peak, stacklevel=stacklevel + 1)


def peak_amplitude(y: np.ndarray) -> float:
    """``max(|y|)`` without a temporary copy; NaN or inf when ``y`` holds one."""
    if y.size == 0:
        return 0.0
    lo, hi = float(np.min(y)), float(np.max(y))
    if np.isnan(lo) or np.isnan(hi):
        return float("nan")
    return max(-lo, hi)


def check_amplitude(peak: float, name: str) -> None:
    """Raise a ValueError naming ``name`` if ``peak`` exceeds :data:`MAX_ABS_SAMPLE`."""
    if peak > MAX_ABS_SAMPLE:
        raise ValueError(
            f"{name} holds samples up to |x| = {peak:.3g}, beyond {MAX_ABS_SAMPLE:.0f} "
            "(2**31, the full scale of 32-bit integer PCM): this is not audio at any "
            "common scale. Audio samples are expected in [-1, 1]."
        )


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average the channels of ``y`` of shape ``(n_times, n_channels)``.

    This is the mix-down of :func:`librosa.load` that the paper's loader used.
    A 1-D input is returned unchanged.
    """
    y = np.asarray(y)
    if y.ndim == 1:
        return y
    if y.ndim != 2:
        raise ValueError(
            f"audio must be 1-D or 2-D (n_times, n_channels); got {y.ndim}-D."
        )
    return y.mean(axis=1, dtype=np.float64).astype(y.dtype, copy=False)


def check_waveform(y, *, name: str = "y") -> np.ndarray:
    """Validate one waveform and return it as a contiguous float32 1-D array.

    Parameters
    ----------
    y : array-like of shape (n_times,)
        Floating-point samples.
    name : str, default="y"
        How the waveform is named in error messages (a path, ``"X[3]"``, ...).

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, not floating point, empty, holds NaN or infinite
        samples, or samples beyond :data:`MAX_ABS_SAMPLE` (2**31).
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D waveform; got an array of shape {y.shape}."
        )
    if np.iscomplexobj(y):
        raise ValueError(
            f"Complex data not supported: {name} must hold real audio samples."
        )
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(
            f"{name} must hold floating-point samples in [-1, 1]; got dtype {y.dtype}. "
            "Convert integer PCM with y / np.iinfo(y.dtype).max."
        )
    if y.size == 0:
        raise ValueError(f"{name} is empty: it holds no audio samples.")
    peak = peak_amplitude(y)
    if not np.isfinite(peak):
        n_bad = int(y.size - np.isfinite(y).sum())
        raise ValueError(
            f"{name} holds {n_bad} NaN or infinite sample(s) out of {y.size}; "
            "audio must be finite."
        )
    check_amplitude(peak, name)
    return np.ascontiguousarray(y, dtype=np.float32)


#: Source frames decoded at a time when streaming a file to mono.
DECODE_BLOCK = 1 << 16


def _decode(path: str) -> tuple[np.ndarray, int]:
    """Decode ``path`` to float32 ``(n_times, n_channels)`` and its sample rate."""
    try:
        y, sr_native = sf.read(audio_source(path), dtype="float32", always_2d=True)
        return y, int(sr_native)
    except (sf.LibsndfileError, RuntimeError, TypeError) as sf_exc:
        sf_error = sf_exc
    return _decode_fallback(path, sf_error)


def _decode_fallback(path: str, sf_error: Exception) -> tuple[np.ndarray, int]:
    """Containers libsndfile cannot open (m4a, some mp3): librosa's audioread path."""
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, sr_native = librosa.load(
                audio_source(path), sr=None, mono=False, dtype=np.float32
            )
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported below
        raise ValueError(
            f"could not decode audio file {path!r}: {sf_error} (libsndfile); "
            f"{type(exc).__name__}: {exc} (fallback decoder). The file may be "
            "corrupt or in an unsupported format."
        ) from exc
    y = np.atleast_2d(y).T  # librosa gives (n_channels, n_times)
    return np.ascontiguousarray(y, dtype=np.float32), int(sr_native)


def _stream_mono(
    path: str, sr: int | None, res_type: str, max_samples: int | None
) -> np.ndarray | None:
    """Decode, mix down and resample ``path`` block by block.

    Blocks of :data:`DECODE_BLOCK` source frames are decoded as float32, mixed
    to mono (the same float64 mean per frame as :func:`to_mono`) and fed to a
    :class:`soxr.ResampleStream`, whose output equals :func:`soxr.resample` of
    the whole signal bitwise. Decoding stops once ``max_samples`` output samples
    exist, so a crop reads only the start of a long file. Memory is the output
    plus one block, never the multi-channel float64 file. Returns ``None`` when
    libsndfile cannot open the file.
    """
    try:
        f = sf.SoundFile(audio_source(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    try:
        with f:
            return _read_blocks(f, path, sr, res_type, max_samples)
    except (sf.LibsndfileError, RuntimeError):  # damaged data: the slow path reports
        return None


def _mono_blocks(f: sf.SoundFile, sr: int | None, res_type: str):
    """Yield ``(n_read, mono)`` per block of :data:`DECODE_BLOCK` source frames.

    ``mono`` is the block mixed down (a float64 mean per frame, as
    :func:`to_mono`) and, when ``sr`` differs from the file's rate, passed
    through one :class:`soxr.ResampleStream`, so the concatenated blocks equal
    :func:`soxr.resample` of the whole signal bitwise. ``n_read`` counts the
    source frames of the block; the last block is shorter than
    :data:`DECODE_BLOCK` (it may be empty).
    """
    sr_native = int(f.samplerate)
    stream = None
    if sr is not None and sr != sr_native:
        stream = soxr.ResampleStream(
            sr_native, sr, 1, dtype="float32", quality=res_type
        )
    while True:
        block = f.read(DECODE_BLOCK, dtype="float32", always_2d=True)
        n_read = len(block)
        last = n_read < DECODE_BLOCK
        mono = block.mean(axis=1, dtype=np.float64).astype(np.float32)
        del block
        if stream is not None:
            mono = stream.resample_chunk(mono, last=last)
        yield n_read, mono
        if last:
            return


def _read_blocks(
    f: sf.SoundFile, path: str, sr: int | None, res_type: str, max_samples: int | None
) -> np.ndarray:
    """The decoding loop of :func:`_stream_mono` over an open file.

    The output goes into one buffer sized from the file's frame count (grown if
    the count was wrong), so the peak is about the output plus one block.
    """
    ratio = 1.0 if sr is None else sr / int(f.samplerate)
    capacity = int(np.ceil(max(f.frames, 0) * ratio)) + 64
    if max_samples is not None:
        capacity = min(capacity, max_samples + int(np.ceil(DECODE_BLOCK * ratio)) + 64)
    out = np.empty(capacity, dtype=np.float32)
    n_out = n_in = 0
    for n_read, mono in _mono_blocks(f, sr, res_type):
        n_in += n_read
        if n_out + len(mono) > len(out):
            grown = np.empty(max(2 * len(out), n_out + len(mono)), dtype=np.float32)
            grown[:n_out] = out[:n_out]
            out = grown
        out[n_out : n_out + len(mono)] = mono
        n_out += len(mono)
        if max_samples is not None and n_out >= max_samples:
            break
    if n_in == 0:
        raise ValueError(f"audio file {path!r} holds no samples (zero length).")
    n = n_out if max_samples is None else min(n_out, max_samples)
    return out[:n] if n > len(out) // 2 else out[:n].copy()  # free a large slack


class AudioStreamUnavailable(Exception):
    """:func:`iter_audio_blocks` cannot stream this file: decode it whole.

    Raised for containers libsndfile cannot open and for data it fails to
    decode part-way; :func:`load_audio` then decodes the file (with librosa's
    fallback) or reports the error.
    """


def iter_audio_blocks(
    path: str | os.PathLike, sr: int | None = 12000, *, res_type="HQ"
):
    """Yield a file as float32 mono blocks at ``sr``, decoding as it goes.

    The blocks concatenated equal ``load_audio(path, sr, res_type=res_type)``
    bitwise, and the same checks apply (missing, empty or zero-length files,
    NaN or infinite samples, samples beyond 2**31, the warning about integer
    scale), raised with the same messages once the whole file has been read.
    Memory is one block, whatever the file's length, channel count and rate.

    Parameters
    ----------
    path : str or os.PathLike
        A file libsndfile can read.
    sr : int or None, default=12000
        Target sample rate in Hz; ``None`` keeps the file's own rate.
    res_type : str, default="HQ"
        :func:`soxr.resample` quality.

    Yields
    ------
    block : ndarray of shape (n,), dtype float32
        Consecutive samples at ``sr``; some blocks may be empty.

    Raises
    ------
    AudioStreamUnavailable
        If libsndfile cannot open the file or fails while decoding it.
    """
    path = _check_audio_path(path, sr)
    try:
        f = sf.SoundFile(audio_source(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioStreamUnavailable(path) from exc
    n_in = n_out = n_bad = 0
    peak = 0.0
    with f:
        blocks = _mono_blocks(f, sr, res_type)
        while True:
            try:
                n_read, mono = next(blocks)
            except StopIteration:
                break
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioStreamUnavailable(path) from exc
            n_in += n_read
            n_out += len(mono)
            block_peak = peak_amplitude(mono)
            if np.isfinite(block_peak):
                peak = max(peak, block_peak)
            else:
                n_bad += int(mono.size - np.isfinite(mono).sum())
            yield mono
    if n_in == 0:
        raise ValueError(f"audio file {path!r} holds no samples (zero length).")
    if n_out == 0:
        raise ValueError(f"audio file {path!r} is too short to resample to sr={sr}.")
    if n_bad:
        raise ValueError(
            f"audio file {path!r} holds {n_bad} NaN or infinite sample(s); audio "
            "must be finite."
        )
    check_decoded_peak(peak, f"audio file {path!r}")


def _check_audio_path(path: str | os.PathLike, sr) -> str:
    """``path`` as a str once it names a non-empty file and ``sr`` is valid.

    A path that is not a regular file is read here (:func:`stream_bytes`).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"audio file {path!r} does not exist.")
    if os.path.isdir(path):
        raise ValueError(f"audio file {path!r} is a directory, not a file.")
    data = stream_bytes(path)
    if (os.path.getsize(path) if data is None else len(data)) == 0:
        raise ValueError(f"audio file {path!r} is empty (0 bytes).")
    if sr is not None and (not isinstance(sr, Integral) or sr <= 0):
        raise ValueError(f"sr must be a positive int or None; got {sr!r}.")
    return path


def load_audio(
    path: str | os.PathLike,
    sr: int | None = 12000,
    *,
    mono: bool = True,
    res_type: str = "HQ",
    max_samples: int | None = None,
) -> np.ndarray:
    """Load an audio file as float32 at sample rate ``sr``.

    Parameters
    ----------
    path : str or os.PathLike
        Any file libsndfile can read (wav, flac, ogg, mp3, au, aiff, ...), or one
        librosa's fallback decoder can read.
    sr : int or None, default=12000
        Target sample rate in Hz (the paper's 12 kHz). ``None`` keeps the file's
        own rate.
    mono : bool, default=True
        Average the channels to one, as the paper's loader (``librosa.load``) did.
        With ``mono=False`` the result has shape ``(n_channels, n_times)``.
    res_type : {"HQ", "VHQ", "MQ", "LQ", "QQ"}, default="HQ"
        :func:`soxr.resample` quality. ``"HQ"`` is librosa's default
        (``res_type="soxr_hq"``).
    max_samples : int or None, default=None
        Return at most the first ``max_samples`` samples (at ``sr``), decoding
        only the start of the file that they need: a crop of a long recording
        costs the crop's memory, not the file's. They equal the start of the
        whole file's result bitwise.

    Returns
    -------
    y : ndarray of shape (n_times,) or (n_channels, n_times), dtype float32

    Notes
    -----
    With ``mono=True`` (libsndfile formats) the file is streamed: blocks of
    float32 frames are mixed down and resampled as they are decoded, so the
    peak memory is about the mono output, whatever the file's channel count
    and rate.

    A path that is not a regular file (a pipe, ``<(...)``, ``/dev/stdin``) is
    read once into memory and decoded from there (:func:`stream_bytes`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    TimeoutError
        If ``path`` is a pipe or device that gives no data for
        :data:`STREAM_TIMEOUT_S` seconds.
    ValueError
        If the file is empty, cannot be decoded, holds no samples, or holds NaN or
        infinite samples, or samples beyond 2**31; or if a pipe or device gives
        more than :data:`MAX_STREAM_BYTES`.

    Warns
    -----
    UserWarning
        If the samples peak above :data:`INT_SCALE_PEAK` (16): a float file
        holding integer PCM values (the warning names the file).

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> t = np.arange(22050) / 22050
    >>> sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), 22050)
    >>> y = load_audio(path)
    >>> y.dtype, y.shape
    (dtype('float32'), (12000,))
    """
    path = _check_audio_path(path, sr)
    if max_samples is not None and (
        not isinstance(max_samples, Integral) or max_samples < 1
    ):
        raise ValueError(
            f"max_samples must be a positive int or None; got {max_samples!r}."
        )

    y = _stream_mono(path, sr, res_type, max_samples) if mono else None
    if y is None:  # several channels kept, or a container libsndfile cannot open
        y, sr_native = _decode(path)  # (n_times, n_channels)
        if y.shape[0] == 0:
            raise ValueError(f"audio file {path!r} holds no samples (zero length).")
        if mono:
            y = to_mono(y)
        if sr is not None and sr != sr_native:
            y = soxr.resample(y, sr_native, sr, quality=res_type)
        y = np.ascontiguousarray(y.T if y.ndim == 2 else y, dtype=np.float32)
        if max_samples is not None:
            y = np.ascontiguousarray(y[..., :max_samples])
    if y.shape[-1] == 0:
        raise ValueError(f"audio file {path!r} is too short to resample to sr={sr}.")
    peak = peak_amplitude(y)
    if not np.isfinite(peak):
        raise ValueError(
            f"audio file {path!r} holds {int(y.size - np.isfinite(y).sum())} NaN or "
            "infinite sample(s); audio must be finite."
        )
    check_decoded_peak(peak, f"audio file {path!r}")
    return y


def fix_length(
    y: np.ndarray,
    n_samples: int,
    mode: str = "crop",
    *,
    axis: int = -1,
    pad_value: float = 0.0,
    name: str = "y",
) -> np.ndarray:
    """Bring ``y`` to ``n_samples`` along ``axis`` with one of the paper's rules.

    Parameters
    ----------
    y : ndarray
        A waveform (or any array: log-mel frames use ``axis=-1`` too).
    n_samples : int
        Target size along ``axis`` (the paper: 350,000 samples at 12 kHz).
    mode : {"crop", "repeat", "zero", "none"}, default="crop"
        - ``"crop"``: keep the first ``n_samples`` (GTZAN, Extended Ballroom). A
          shorter input is an error, as in the paper's code: pick ``"zero"`` or
          ``"repeat"`` for datasets of short clips.
        - ``"repeat"``: tile the clip until it is long enough, then cut (the
          paper's UrbanSound8K rule). Longer inputs are cropped.
        - ``"zero"``: append ``pad_value`` up to ``n_samples``; longer inputs are
          cropped.
        - ``"none"``: return ``y`` unchanged.
    axis : int, default=-1
        The time axis.
    pad_value : float, default=0.0
        Value appended by ``"zero"``.
    name : str, default="y"
        How ``y`` is named in error messages.

    Returns
    -------
    ndarray
        ``y`` with exactly ``n_samples`` along ``axis`` (unless ``mode="none"``).

    Examples
    --------
    >>> fix_length(np.arange(3.0), 7, mode="repeat")
    array([0., 1., 2., 0., 1., 2., 0.])
    >>> fix_length(np.arange(3.0), 5, mode="zero")
    array([0., 1., 2., 0., 0.])
    """
    if mode not in FIX_LENGTH_MODES:
        raise ValueError(f"mode must be one of {FIX_LENGTH_MODES}; got {mode!r}.")
    if mode == "none":
        return y
    if not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int; got {n_samples!r}.")
    n = y.shape[axis]
    if n >= n_samples:
        return np.take(y, np.arange(n_samples), axis=axis) if n > n_samples else y
    if mode == "crop":
        raise ValueError(
            f"{name} has {n} samples, fewer than n_samples={n_samples}, so it cannot "
            "be cropped; use fix_length='zero' or 'repeat' for short clips."
        )
    if n == 0:
        raise ValueError(f"{name} is empty: nothing to {mode}-pad.")
    if mode == "repeat":
        reps = -(-n_samples // n)
        tiled = np.concatenate([y] * reps, axis=axis)
        return np.take(tiled, np.arange(n_samples), axis=axis)
    pad = [(0, 0)] * y.ndim
    pad[axis] = (0, n_samples - n)
    return np.pad(y, pad, mode="constant", constant_values=pad_value)
