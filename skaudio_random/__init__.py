"""skaudio_random: randomly weighted CNN audio features, the scikit-learn way.

An implementation of J. Pons and X. Serra, "Randomly weighted CNNs for (music)
audio classification", ICASSP 2019 (arXiv:1805.00237).

The public names load on first use (PEP 562), so that ``import
skaudio_random`` and the command line's ``--help`` do not wait for torch and
scikit-learn; ``skaudio_random.SampleLevel`` and ``from skaudio_random import
SampleLevel`` work as usual.
"""

import importlib
import importlib.util

if importlib.util.find_spec("torch") is None:  # pragma: no cover - needs no torch
    raise ImportError(
        "skaudio_random needs PyTorch. Install it first: `pip install torch` "
        "(CPU or CUDA build, see https://pytorch.org/get-started/locally/)."
    )

__version__ = "0.1.0.dev0"

#: One transformer class per registry entry (skaudio_random.features.__all__;
#: tests/test_cli.py checks that they are the same).
_FEATURES = (
    "SampleLevel",
    "FrameLevel",
    "FrameLevelManyShapes",
    "Vertical7x96",
    "Vertical7x86",
    "Timbral",
    "Temporal",
    "TimbralTemporal",
    "Time",
    "TimbralTime",
    "VGG",
    "CNN14",
)

#: public name -> the submodule that defines it
_SOURCES = {
    **dict.fromkeys(_FEATURES, "features"),
    "RandomNetworkFeatures": "network",
    "resolve_model": "network",
    "featurize": "multi",
    "MFCC": "mfcc",
    "load_audio": "audio",
    "fix_length": "audio",
    "log_mel_spectrogram": "spectrogram",
    "LogMelSpectrogram": "spectrogram",
    "ELMClassifier": "elm",
    "TrainedNetworkClassifier": "trained",
    "paper_svm_grid": "grids",
    "paper_elm_grid": "grids",
    "PrecomputedKernel": "kernels",
    "make_kernel_svc": "kernels",
    "clear_kernel_cache": "kernels",
    "kernel_cache_info": "kernels",
    "set_kernel_cache_limit": "kernels",
    "get_data_home": "datasets",
    "load_gtzan": "datasets",
    "load_extended_ballroom": "datasets",
    "load_urbansound8k": "datasets",
    "load_esc50": "datasets",
    "load_audio_folder": "datasets",
    "load_spoken_digits": "datasets",
    "run_study": "study",
    "StudyResult": "study",
}

__all__ = list(_SOURCES)

#: subpackages and modules reachable as attributes (``skaudio_random.study``)
_SUBMODULES = {
    "architectures",
    "audio",
    "cheap_predictors",
    "cli",
    "datasets",
    "distributed",
    "elm",
    "features",
    "frames",
    "grids",
    "hear",
    "kernels",
    "mfcc",
    "multi",
    "network",
    "premise",
    "spectrogram",
    "study",
    "trained",
}


def __getattr__(name):
    if name in _SOURCES:
        value = getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted({*globals(), *_SOURCES, *_SUBMODULES})
