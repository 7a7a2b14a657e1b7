"""The base class shared by every audio feature transformer.

It owns what all of them do alike: validating the input, decoding files in
parallel batches, the per-clip feature cache, the progress bar and the
scikit-learn plumbing. A subclass says how many features it makes, what they are
called, and how to compute them for a batch of decoded clips.
"""

from __future__ import annotations

import os
import warnings
from numbers import Integral

import joblib
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
)
from tqdm.auto import tqdm

from ._cache import FeatureCache, resolve_memory_location
from ._input import AudioInput, iter_decoded_batches, n_decode_workers
from ._utils import resolve_device
from .audio import FIX_LENGTH_MODES

__all__ = ["AudioFeatureTransformer"]

#: Bump when stored features of an unchanged parameter set would change, or when
#: the cache's entry format changes (2: checksummed entries).
FEATURE_FORMAT_VERSION = 2

#: Constraints under which a bool is a legitimate value.
_BOOL_CONSTRAINTS = ("boolean", "verbose", "no_validation", bool)


class AudioFeatureTransformer(TransformerMixin, BaseEstimator):
    """Base class: a fit-less transformer from audio clips to feature vectors.

    Subclasses implement :meth:`_prepare`, :meth:`_n_features`,
    :meth:`_feature_names` and :meth:`_transform_clips`; everything else (input
    forms, decoding, caching, progress) is here.

    Notes
    -----
    ``fit`` learns nothing: it validates the parameters and the input and returns
    ``self``. ``transform`` works without ``fit``.
    """

    _parameter_constraints: dict = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "fix_length": [StrOptions(set(FIX_LENGTH_MODES))],
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "memory": [None, str, os.PathLike, joblib.Memory],
        "verbose": ["verbose"],
    }

    #: Parameters that never change the features (left out of the cache key).
    _not_in_cache_key: tuple[str, ...] = (
        "n_jobs",
        "memory",
        "verbose",
        "device",
        "batch_size",
    )

    # -- subclass hooks --------------------------------------------------------
    def _prepare(self) -> None:
        """Build whatever ``transform`` needs (a network, filter banks)."""

    def _n_features(self) -> int:
        raise NotImplementedError

    def _feature_names(self) -> list[str]:
        raise NotImplementedError

    def _transform_clips(self, clips: list[np.ndarray], names: list[str]) -> np.ndarray:
        """Features ``(len(clips), n_features)`` of decoded float32 clips at ``sr``."""
        raise NotImplementedError

    def _batch_size(self) -> int:
        """Clips per decoded batch."""
        return 16

    def _decode_limit(self) -> int | None:
        """Samples (at ``sr``) of a file that the features can depend on.

        A waveform length rule (``n_samples`` with any ``fix_length`` but
        ``"none"``) keeps at most the first ``n_samples``, so only those are
        decoded. ``None`` decodes the whole file: spectrogram models need it,
        their 80 dB floor being relative to the whole clip's maximum (under
        ``crop`` they stream it instead, see :meth:`_load_clip`).
        """
        n_samples = getattr(self, "n_samples", None)
        if self.fix_length == "none" or not isinstance(n_samples, Integral):
            return None
        return int(n_samples)

    def _load_clip(self, audio: AudioInput, i: int):
        """Clip ``i`` as ``transform`` hands it to :meth:`_transform_clips`.

        The decoded float32 clip at ``sr``, up to :meth:`_decode_limit`. A
        subclass may return something else its :meth:`_transform_clips` knows
        (the spectrogram models' streamed crop of a file).
        """
        return audio.load(i, self.sr, self._decode_limit())

    def _cache_key(self) -> dict:
        params = {
            k: v
            for k, v in self.get_params(deep=False).items()
            if k not in self._not_in_cache_key
        }
        return {
            "estimator": type(self).__qualname__,
            "format": FEATURE_FORMAT_VERSION,
            **params,
        }

    def _validate_params(self) -> None:
        """scikit-learn's checks, plus what its constraints let through.

        ``True`` and ``False`` are ints to Python (``width=True`` would mean 1):
        a bool is rejected wherever the constraints do not ask for one. A
        ``device`` must name a device features can be computed on.
        """
        super()._validate_params()
        params = self.get_params(deep=False)
        for name, value in params.items():
            constraints = self._parameter_constraints.get(name, [])
            if isinstance(value, (bool, np.bool_)) and not any(
                c in constraints for c in _BOOL_CONSTRAINTS
            ):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must not be a "
                    f"bool; got {value!r}. Pass an int (or another allowed value)."
                )
        if "device" in params:
            resolve_device(params["device"])

    def _warn_unshared_cache(self) -> None:
        """Warn when cached features cannot be shared between clones."""
        params = self.get_params(deep=False)
        if "random_state" not in params:
            return
        rs = params["random_state"]
        if isinstance(rs, Integral) and not isinstance(rs, bool):
            return
        warnings.warn(
            f"{type(self).__name__}(memory=...) with random_state={rs!r}: every "
            "clone of this transformer (in GridSearchCV, cross_val_score, clone) "
            "draws its own random network, so its features are computed and cached "
            "again. Pass an int random_state to compute each clip once.",
            UserWarning,
            stacklevel=3,
        )

    # -- scikit-learn API ------------------------------------------------------
    def fit(self, X, y=None):
        """Validate the parameters and the input; nothing is learned.

        Parameters
        ----------
        X : sequence of path-like or of 1-D arrays, or array (n_clips, n_times)
            Audio clips: file paths, or waveforms already at ``sr``.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        self._validate_params()
        AudioInput(X)
        self._prepare()
        return self

    def transform(self, X) -> np.ndarray:
        """Compute one feature vector per clip.

        Parameters
        ----------
        X : sequence of path-like or of 1-D arrays, or array (n_clips, n_times)
            Audio clips: file paths (decoded, mixed to mono and resampled to
            ``sr``), or waveforms already at ``sr``.

        Returns
        -------
        features : ndarray of shape (n_clips, n_features_out), dtype float32
        """
        self._validate_params()
        audio = AudioInput(X)
        self._prepare()
        n_features = self._n_features()
        out = np.empty((len(audio), n_features), dtype=np.float32)

        location = resolve_memory_location(self.memory)
        cache = fingerprints = None
        todo = list(range(len(audio)))
        if location is not None:
            self._warn_unshared_cache()
            cache = FeatureCache(location, self._cache_key(), n_features)
            fingerprints = [audio.fingerprint(i) for i in range(len(audio))]
            todo = []
            for i, fp in enumerate(fingerprints):
                vec = cache.get(fp)
                if vec is None:
                    todo.append(i)
                else:
                    out[i] = vec

        batches = iter_decoded_batches(
            lambda i: self._load_clip(audio, i),
            todo,
            self._batch_size(),
            n_workers=n_decode_workers(self.n_jobs),
        )
        with tqdm(
            total=len(audio),
            initial=len(audio) - len(todo),
            unit="clip",
            desc=type(self).__name__,
            disable=not self.verbose,
            leave=False,
        ) as bar:
            for idx, clips in batches:
                feats = self._transform_clips(clips, [audio.describe(i) for i in idx])
                for row, i in zip(feats, idx, strict=True):
                    if not np.isfinite(row).all():
                        raise RuntimeError(
                            f"non-finite features for {audio.describe(i)}; please "
                            "report this as a bug."
                        )
                    out[i] = row
                    if cache is not None:
                        cache.put(fingerprints[i], row)
                bar.update(len(idx))
        return out

    def transform_frames(self, X, *, window=1.0, hop=0.5, center=False):
        """Features over time: averages over windows of ``window`` seconds every
        ``hop`` seconds, from one forward pass per clip.

        See :func:`skaudio_random.frames.transform_frames` (windows, edges,
        short clips). One window covering the clip gives :meth:`transform`'s
        features.

        Parameters
        ----------
        X : sequence of path-like or of 1-D arrays, or array (n_clips, n_times)
            Clips giving equal numbers of windows.
        window, hop : float, default=1.0, 0.5
            Window length and hop in seconds.
        center : bool, default=False
            Windows centred on ``0, hop, 2 hop, ...`` instead of starting there.

        Returns
        -------
        FrameFeatures
            ``features`` of shape (n_clips, n_windows, n_features), float32, and
            ``times`` of shape (n_windows,), window centres in seconds.
        """
        from .frames import transform_frames

        return transform_frames(self, X, window=window, hop=hop, center=center)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output features (layer or branch, then channel).

        Parameters
        ----------
        input_features : None
            Ignored; the input is audio, not named columns.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        self._validate_params()
        self._prepare()
        return np.asarray(self._feature_names(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.target_tags.required = False
        return tags
