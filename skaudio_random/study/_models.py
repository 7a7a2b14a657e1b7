"""The models a study compares: the architecture registry plus the MFCC baseline."""

from __future__ import annotations

from ..architectures import ARCHITECTURES
from ..features import __all__ as _FEATURE_CLASSES
from ..mfcc import MFCC

__all__ = ["MODELS", "default_models"]


def _model_classes() -> dict[str, type]:
    from .. import features

    classes = [getattr(features, name) for name in _FEATURE_CLASSES]
    found = {cls._architecture: cls for cls in classes}
    # registry order (the paper's), then the baseline
    return {**{k: found[k] for k in ARCHITECTURES if k in found}, "mfcc": MFCC}


#: Model name (a key of :data:`~skaudio_random.architectures.ARCHITECTURES`, or
#: ``"mfcc"``) -> transformer class.
MODELS: dict[str, type] = _model_classes()


# The models of the paper's figures (SPEC section 7.3).
_MUSIC_MODELS = (
    "vgg",
    "vertical_7x96",
    "vertical_7x86",
    "timbral",
    "temporal",
    "timbral_temporal",
    "sample_level",
    "frame_level",
    "frame_level_many_shapes",
)
_SOUND_MODELS = (
    "vgg",
    "vertical_7x96",
    "vertical_7x86",
    "timbral",
    "timbral_time",
    "sample_level",
    "frame_level",
    "frame_level_many_shapes",
)
_DEFAULT_MODELS = {"urbansound8k": _SOUND_MODELS, "esc50": _SOUND_MODELS}


def default_models(dataset=None) -> list[str]:
    """The models the paper compares on ``dataset``, plus the MFCC baseline.

    Parameters
    ----------
    dataset : str, default=None
        A dataset bunch's ``name``. ``"urbansound8k"`` and ``"esc50"`` (sounds)
        get the UrbanSound8K set, with ``timbral_time`` instead of ``temporal``
        and ``timbral_temporal``; anything else (music, folders, spoken digits)
        the GTZAN / Extended Ballroom set.

    Returns
    -------
    models : list of str
        Keys of :data:`MODELS`, in the paper's order, ``"mfcc"`` last.

    Examples
    --------
    >>> from skaudio_random.study import default_models
    >>> default_models("urbansound8k")[:3]
    ['vgg', 'vertical_7x96', 'vertical_7x86']
    >>> "temporal" in default_models("gtzan"), default_models()[-1]
    (True, 'mfcc')
    """
    return [*_DEFAULT_MODELS.get(dataset, _MUSIC_MODELS), "mfcc"]
