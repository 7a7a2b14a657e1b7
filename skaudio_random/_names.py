"""Names of the built-in models and classifiers, importable without torch.

The command line lists them in its help, which should not wait for torch and
scikit-learn to load; ``tests/test_cli.py`` checks that they match the
registry (:data:`skaudio_random.architectures.ARCHITECTURES`) and the study's
classifiers.
"""

from __future__ import annotations

__all__ = ["BUILTIN_MODELS", "CLASSIFIERS", "builtin_model_names"]

#: Registry keys of the built-in architectures, in the paper's order.
BUILTIN_MODELS = (
    "sample_level",
    "frame_level",
    "frame_level_many_shapes",
    "vertical_7x96",
    "vertical_7x86",
    "timbral",
    "temporal",
    "timbral_temporal",
    "time",
    "timbral_time",
    "vgg",
    "cnn14",
)

#: The paper's two classifiers.
CLASSIFIERS = ("svm", "elm")


def builtin_model_names() -> list[str]:
    """The built-in architectures in the registry's order, then ``"mfcc"``."""
    return [*BUILTIN_MODELS, "mfcc"]
