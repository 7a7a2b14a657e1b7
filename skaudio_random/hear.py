"""The HEAR API: random-weight CNN embeddings for hear-eval-kit.

Implements the common API of the Holistic Evaluation of Audio Representations
(HEAR 2021, https://hearbenchmark.com/hear-api.html): :func:`load_model`,
:func:`get_scene_embeddings` and :func:`get_timestamp_embeddings`, so a random
CNN of this package (or the MFCC baseline) can be scored like any published
embedding::

    python3 -m heareval.embeddings.runner skaudio_random.hear \\
        --tasks-dir hear-2021.0.6/tasks/ --model-options '{"model": "vgg"}'

(``--model-options`` are passed to :func:`load_model` as keyword arguments).

Audio comes as a float tensor ``(n_sounds, n_samples)`` in [-1, 1] at the
model's ``sample_rate``; it is resampled to the models' 12 kHz (soxr, high
quality) inside. Scene embeddings are the clip-level features of the whole
sound. Timestamp embeddings are the frame-level features
(:func:`skaudio_random.frames.transform_frames`) of windows of ``window``
seconds centred every ``hop`` seconds, from time 0 to the end of the sound
(none past it). Sounds shorter than the network's smallest input are padded
with silence at the end.
"""

from __future__ import annotations

import os

import numpy as np
import soxr
import torch

from ._resolve import make_transformer

__all__ = [
    "SAMPLE_RATES",
    "RandomCNNEmbedding",
    "load_model",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
]

#: Sample rates HEAR allows a model to declare.
SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000)
MAX_HOP = 0.05  # HEAR: timestamps at most 50 ms apart


class RandomCNNEmbedding(torch.nn.Module):
    """A feature transformer behind HEAR's model interface.

    Parameters
    ----------
    transformer : AudioFeatureTransformer
        Its ``sr`` is the rate the audio is resampled to.
    sample_rate : int
        Rate of the audio given to the API functions, one of :data:`SAMPLE_RATES`.
    window, hop : float
        Window length and timestamp spacing (seconds) of timestamp embeddings.

    Attributes
    ----------
    sample_rate : int
    scene_embedding_size, timestamp_embedding_size : int
        Both the transformer's feature count.

    Notes
    -----
    ``model.to(device)`` moves where the network runs (a CNN's ``device``).
    """

    def __init__(self, transformer, *, sample_rate: int, window: float, hop: float):
        super().__init__()
        if sample_rate not in SAMPLE_RATES:
            raise ValueError(
                f"sample_rate must be one of {SAMPLE_RATES} (HEAR's rates); got "
                f"{sample_rate!r}."
            )
        if not 0 < hop <= MAX_HOP:
            raise ValueError(f"hop must be in (0, {MAX_HOP}] seconds; got {hop!r}.")
        if not window > 0:
            raise ValueError(
                f"window must be a positive number of seconds; got {window!r}."
            )
        self.transformer = transformer
        self.sample_rate = int(sample_rate)
        self.window = float(window)
        self.hop = float(hop)
        size = len(transformer.get_feature_names_out())
        self.scene_embedding_size = size
        self.timestamp_embedding_size = size
        # an empty buffer that follows model.to(device)
        self.register_buffer("_where", torch.zeros(0), persistent=False)

    def _sync_device(self) -> None:
        if "device" in self.transformer.get_params():
            self.transformer.set_params(device=str(self._where.device))

    def min_samples(self) -> int:
        """Smallest input in samples at the transformer's rate."""
        est = self.transformer
        if hasattr(est, "_network"):
            est._prepare()
            if est._input_kind == "mel":
                hop = est._frontend.hop_length
                return max(est._frontend.n_fft, (est._network.min_length - 1) * hop)
            return est._network.min_length
        return est.n_fft  # MFCC

    def resample(self, audio) -> tuple[np.ndarray, float]:
        """Validated float32 sounds at the transformer's rate, padded to its
        smallest input, and their duration in seconds."""
        if not isinstance(audio, torch.Tensor) or audio.ndim != 2:
            raise ValueError(
                "audio must be a torch.Tensor of shape (n_sounds, n_samples); got "
                f"{type(audio).__name__}"
                + (f" of shape {tuple(audio.shape)}" if hasattr(audio, "shape") else "")
                + "."
            )
        if not audio.is_floating_point() or audio.shape[0] == 0 or audio.shape[1] == 0:
            raise ValueError(
                "audio must be a non-empty floating-point tensor (n_sounds, n_samples) "
                f"in [-1, 1]; got dtype {audio.dtype}, shape {tuple(audio.shape)}."
            )
        x = audio.detach().to("cpu", torch.float32).numpy()
        if not np.isfinite(x).all():
            raise ValueError("audio holds NaN or infinite samples.")
        duration = x.shape[1] / self.sample_rate
        sr = self.transformer.sr
        if sr != self.sample_rate:
            x = soxr.resample(x.T, self.sample_rate, sr, quality="HQ").T
        short = self.min_samples() - x.shape[1]
        if short > 0:
            x = np.pad(x, ((0, 0), (0, short)))
        return np.ascontiguousarray(x, dtype=np.float32), duration


def load_model(
    model_file_path: str = "",
    *,
    model: str = "timbral_temporal",
    width: int = 3500,
    seed: int = 0,
    sample_rate: int = 16000,
    precision: str = "float32",
    window: float = 0.25,
    hop: float = 0.05,
) -> RandomCNNEmbedding:
    """A HEAR model: a random-weight CNN (or MFCC) by name, or from a model file.

    Parameters
    ----------
    model_file_path : str, default=""
        ``""``: build the network from the options below (random weights need no
        file). Otherwise a model file written by ``skaudio-random train``; its
        feature transformer is used (the options below except ``sample_rate``,
        ``window`` and ``hop`` are then ignored). A model file is a pickle,
        which runs code when read: load only files you trust (see
        :func:`skaudio_random._cli_model.load_model_file`, which checks it and
        warns if others can write it).
    model : str, default="timbral_temporal"
        A model name (see ``skaudio-random extract --help``) or an import path
        ``"package.module:factory"`` of your own network (see
        :func:`skaudio_random.resolve_model`); a factory without an ``nf``
        argument ignores ``width``.
    width : int, default=3500
        Feature-vector length (the paper's 120 or 3500, or any other).
    seed : int, default=0
        ``random_state`` of the weights.
    sample_rate : int, default=16000
        Rate of the audio the API functions receive, one of :data:`SAMPLE_RATES`.
    precision : {"float32", "tf32", "bfloat16"}, default="float32"
        Arithmetic of the network.
    window : float, default=0.25
        Length in seconds of the window each timestamp embedding averages.
    hop : float, default=0.05
        Spacing of the timestamps in seconds (at most 50 ms).

    Returns
    -------
    RandomCNNEmbedding
        A ``torch.nn.Module`` with ``sample_rate``, ``scene_embedding_size`` and
        ``timestamp_embedding_size``.

    Examples
    --------
    >>> from skaudio_random.hear import load_model
    >>> m = load_model(model="vgg", width=120)
    >>> m.sample_rate, m.scene_embedding_size
    (16000, 160)
    """
    if model_file_path:
        from ._cli_model import load_model_file

        content = load_model_file(os.fspath(model_file_path), classifier=False)
        transformer = content["pipeline"][0]
    else:
        transformer = make_transformer(
            model,
            width=width,
            random_state=seed,
            precision=precision,
            fix_length="none",
            device="cpu",
        )
    transformer.set_params(fix_length="none")
    return RandomCNNEmbedding(
        transformer, sample_rate=sample_rate, window=window, hop=hop
    )


def get_scene_embeddings(audio, model: RandomCNNEmbedding) -> torch.Tensor:
    """One embedding per sound: the clip-level features.

    Parameters
    ----------
    audio : torch.Tensor of shape (n_sounds, n_samples)
        Sounds in [-1, 1] at ``model.sample_rate``.
    model : RandomCNNEmbedding

    Returns
    -------
    torch.Tensor of shape (n_sounds, model.scene_embedding_size), float32
    """
    model._sync_device()
    x, _ = model.resample(audio)
    return torch.from_numpy(model.transformer.transform(x)).to(audio.device)


def get_timestamp_embeddings(audio, model: RandomCNNEmbedding):
    """Embeddings over time: window averages centred every ``model.hop`` seconds.

    Parameters
    ----------
    audio : torch.Tensor of shape (n_sounds, n_samples)
        Sounds in [-1, 1] at ``model.sample_rate``.
    model : RandomCNNEmbedding

    Returns
    -------
    embeddings : torch.Tensor of shape (n_sounds, n_timestamps, size), float32
        ``size`` is ``model.timestamp_embedding_size``.
    timestamps : torch.Tensor of shape (n_sounds, n_timestamps), float32
        Window centres in milliseconds: 0, hop, 2 hop, ... up to the end of
        the sound.
    """
    model._sync_device()
    x, duration = model.resample(audio)
    frames = model.transformer.transform_frames(
        x, window=model.window, hop=model.hop, center=True
    )
    keep = frames.times <= duration + 1e-9  # resampling and padding lengthen
    emb = torch.from_numpy(frames.features[:, keep]).to(audio.device)
    times = torch.as_tensor(1000.0 * frames.times[keep], dtype=torch.float32)
    return emb, times.expand(len(x), -1).clone().to(audio.device)
