"""The paper's hand-crafted baseline: MFCC statistics (SPEC section 4)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from . import _librosa_mfcc
from ._base import AudioFeatureTransformer
from ._cnn_base import map_on_clip_workers
from ._threads import one_blas_thread
from .audio import fix_length

__all__ = ["MFCC"]

_STATS = (
    "mfcc_mean",
    "mfcc_std",
    "delta_mean",
    "delta_std",
    "delta2_mean",
    "delta2_std",
)


class MFCC(AudioFeatureTransformer):
    """MFCCs, their deltas and double deltas, summarised by mean and std over time.

    The paper's baseline (Pons & Serra 2019, after Choi et al. 2017): 20 MFCCs
    with librosa's defaults at 12 kHz (n_fft 2048, hop 512, 128 Slaney mel bands
    over 0-6000 Hz, power spectrogram to dB with ``ref=1``, ``amin=1e-10``,
    ``top_db=80``, orthonormal DCT-II), their first and second differences, and
    the mean and population standard deviation of each over time: 120 values in
    the order ``[mean(MFCC), std(MFCC), mean(d), std(d), mean(dd), std(dd)]``.

    Parameters
    ----------
    n_mfcc : int, default=20
        Number of coefficients (c0 included), at most the 128 mel bands they are
        computed from.
    delta : {"diff", "savgol"}, default="diff"
        ``"diff"``: plain first differences along time, as the paper's code did;
        ``"savgol"``: :func:`librosa.feature.delta` (9-frame Savitzky-Golay).
    fix_length : {"none", "zero", "repeat", "crop"}, default="none"
        Length rule. ``"none"`` uses the whole clip, as the paper's results imply
        (SPEC section 4). With ``n_samples=None``, ``"zero"`` and ``"repeat"``
        only lengthen clips shorter than one analysis window (``n_fft``) and never
        cut, the paper's ``fixed_length`` rule; with an int ``n_samples`` they
        bring every clip to that length. ``"crop"`` needs ``n_samples``.
    n_samples : int or None, default=None
        Target length in samples for ``fix_length``.
    sr : int, default=12000
        Sample rate the audio is brought to.
    n_jobs : int, default=None
        Threads decoding audio files. The clips themselves are computed
        ``torch.get_num_threads()`` at once, each on one thread, as the CNNs'
        are (the result does not depend on how many).
    memory : str, os.PathLike or joblib.Memory, default=None
        Folder of the per-clip feature cache (see :class:`TimbralTemporal`).
    verbose : bool or int, default=False
        Show a progress bar over clips.

    Notes
    -----
    The STFT is centred with reflect padding (librosa's default before 0.10, the
    paper's era). Under ``fix_length="none"`` a clip shorter than ``n_fft=2048``
    samples is an error rather than silently padded: pick ``"zero"`` or
    ``"repeat"`` for datasets of very short sounds. BLAS runs on one thread
    while a clip is computed (:func:`one_blas_thread`), so the features are the
    same on every machine, whatever its core count.

    References
    ----------
    .. [1] J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio
       classification", ICASSP 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import MFCC
    >>> X = np.random.default_rng(0).standard_normal((3, 12000)).astype(np.float32)
    >>> MFCC().transform(X).shape
    (3, 120)
    >>> MFCC().get_feature_names_out()[[0, 20, 119]].tolist()
    ['mfcc_mean_00', 'mfcc_std_00', 'delta2_std_19']
    """

    n_fft = 2048
    hop_length = 512
    n_mels = 128

    _parameter_constraints: dict = {
        **AudioFeatureTransformer._parameter_constraints,
        "n_mfcc": [Interval(Integral, 1, None, closed="left")],
        "delta": [StrOptions({"diff", "savgol"})],
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        n_mfcc=20,
        delta="diff",
        fix_length="none",
        n_samples=None,
        sr=12000,
        n_jobs=None,
        memory=None,
        verbose=False,
    ):
        self.n_mfcc = n_mfcc
        self.delta = delta
        self.fix_length = fix_length
        self.n_samples = n_samples
        self.sr = sr
        self.n_jobs = n_jobs
        self.memory = memory
        self.verbose = verbose

    def _prepare(self) -> None:
        if self.n_mfcc > self.n_mels:
            # The DCT of n_mels bands has n_mels coefficients: librosa would return
            # fewer rows than the names promise.
            raise ValueError(
                f"n_mfcc={self.n_mfcc} exceeds the n_mels={self.n_mels} mel bands "
                f"the MFCCs are computed from; use n_mfcc <= {self.n_mels}."
            )
        if self.fix_length == "crop" and self.n_samples is None:
            raise ValueError("fix_length='crop' needs an int n_samples; got None.")

    def _n_features(self) -> int:
        return 6 * self.n_mfcc

    def _cache_key(self) -> dict:
        # features from before BLAS was held to one thread differ in the last bits
        return {**super()._cache_key(), "blas_threads": 1}

    def _feature_names(self) -> list[str]:
        return [f"{stat}_{k:02d}" for stat in _STATS for k in range(self.n_mfcc)]

    def _fix(self, y: np.ndarray, name: str) -> np.ndarray:
        mode = self.fix_length
        if mode != "none":
            target = self.n_samples
            if target is None:  # only lengthen clips shorter than one window
                target = max(y.shape[-1], self.n_fft)
            y = fix_length(y, target, mode, name=name)
        if y.shape[-1] < self.n_fft:
            raise ValueError(
                f"{name} has {y.shape[-1]} samples, shorter than one MFCC analysis "
                f"window (n_fft={self.n_fft}); use fix_length='zero' or 'repeat'."
            )
        return y

    def _trajectories(self, y: np.ndarray):
        """The MFCC, delta and double-delta matrices (n_mfcc, frames) of a clip."""
        # the mel product's last bits depend on BLAS's thread count (OpenBLAS):
        # one thread gives the same MFCC on every machine, at less CPU
        with one_blas_thread():
            mfcc = _librosa_mfcc.mfcc(  # librosa.feature.mfcc's numbers
                y,
                sr=self.sr,
                n_mfcc=self.n_mfcc,
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                n_mels=self.n_mels,
            )
        if self.delta == "diff":
            d1 = np.diff(mfcc, axis=1)
            d2 = np.diff(d1, axis=1)
        else:
            n = mfcc.shape[1]
            width = min(9, n if n % 2 else n - 1)  # odd, at most the frame count
            d1 = _librosa_mfcc.delta(mfcc, width=width, order=1)
            d2 = _librosa_mfcc.delta(mfcc, width=width, order=2)
        return mfcc, d1, d2

    def _clip_features(self, y: np.ndarray) -> np.ndarray:
        mfcc, d1, d2 = self._trajectories(y)
        stats = [f(m, axis=1) for m in (mfcc, d1, d2) for f in (np.mean, np.std)]
        return np.concatenate(stats).astype(np.float32)

    def _transform_clips(self, clips: list[np.ndarray], names: list[str]) -> np.ndarray:
        """Clips ``cpu_workers()`` at once, each on one thread (librosa's FFTs
        and BLAS release the GIL); the length rule first, so a bad clip is
        reported before any work, in clip order."""
        fixed = [self._fix(y, n) for y, n in zip(clips, names, strict=True)]
        out = np.empty((len(fixed), self._n_features()), dtype=np.float32)

        def one(i: int) -> None:
            out[i] = self._clip_features(fixed[i])

        with one_blas_thread():  # held over the batch, not set per clip
            map_on_clip_workers(one, len(fixed))
        return out
