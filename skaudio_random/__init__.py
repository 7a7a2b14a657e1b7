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

from . import features as _features
from .audio import fix_length, load_audio
from .datasets import (
    get_data_home,
    load_audio_folder,
    load_esc50,
    load_extended_ballroom,
    load_gtzan,
    load_spoken_digits,
    load_urbansound8k,
)
from .elm import ELMClassifier
from .features import *  # noqa: F403 - one transformer per registry entry
from .grids import paper_elm_grid, paper_svm_grid
from .kernels import (
    PrecomputedKernel,
    clear_kernel_cache,
    kernel_cache_info,
    make_kernel_svc,
    set_kernel_cache_limit,
)
from .mfcc import MFCC
from .multi import featurize
from .network import RandomNetworkFeatures, resolve_model
from .spectrogram import LogMelSpectrogram, log_mel_spectrogram
from .study import StudyResult, run_study
from .trained import TrainedNetworkClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    *_features.__all__,
    "RandomNetworkFeatures",
    "resolve_model",
    "featurize",
    "MFCC",
    "load_audio",
    "fix_length",
    "log_mel_spectrogram",
    "LogMelSpectrogram",
    "ELMClassifier",
    "TrainedNetworkClassifier",
    "paper_svm_grid",
    "paper_elm_grid",
    "PrecomputedKernel",
    "make_kernel_svc",
    "clear_kernel_cache",
    "kernel_cache_info",
    "set_kernel_cache_limit",
    "get_data_home",
    "load_gtzan",
    "load_extended_ballroom",
    "load_urbansound8k",
    "load_esc50",
    "load_audio_folder",
    "load_spoken_digits",
    "run_study",
    "StudyResult",
]
