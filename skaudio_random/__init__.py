"""skaudio_random: randomly weighted CNN audio features, the scikit-learn way.

An implementation of J. Pons and X. Serra, "Randomly weighted CNNs for (music)
audio classification", ICASSP 2019 (arXiv:1805.00237).
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "skaudio_random needs PyTorch. Install it first: `pip install torch` "
        "(CPU or CUDA build, see https://pytorch.org/get-started/locally/)."
    ) from exc

from .audio import fix_length, load_audio
from .spectrogram import LogMelSpectrogram, log_mel_spectrogram

__version__ = "0.1.0.dev0"

__all__ = [
    "load_audio",
    "fix_length",
    "log_mel_spectrogram",
    "LogMelSpectrogram",
]
