"""The models a study compares: the architecture registry plus the MFCC baseline,
and the user's own (import paths, transformer classes or instances, network
factories), each under a readable label."""

from __future__ import annotations

from dataclasses import dataclass

from .._resolve import make_transformer, model_label
from ..architectures import ARCHITECTURES
from ..features import __all__ as _FEATURE_CLASSES
from ..mfcc import MFCC

__all__ = ["MODELS", "default_models", "StudyModel", "study_models"]


def _model_classes() -> dict[str, type]:
    from .. import features

    classes = [getattr(features, name) for name in _FEATURE_CLASSES]
    found = {cls._architecture: cls for cls in classes}
    # registry order (the paper's), then the baseline
    return {**{k: found[k] for k in ARCHITECTURES if k in found}, "mfcc": MFCC}


#: Model name (a key of :data:`~skaudio_random.architectures.ARCHITECTURES`, or
#: ``"mfcc"``) -> transformer class.
MODELS: dict[str, type] = _model_classes()


# The models of the paper's figures (SPEC section 7.3), in the paper's order: a
# selection from the registry (which holds more, e.g. "time" and "cnn14").
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
_missing = sorted(set(_MUSIC_MODELS + _SOUND_MODELS) - set(ARCHITECTURES))
if _missing:  # a registry rename must not leave the defaults pointing nowhere
    raise ImportError(f"default study models {_missing} are not in the registry.")
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


# Parameters that do not change a model's numbers (left out of its identity).
_RUNTIME_PARAMS = ("memory", "verbose", "n_jobs", "device", "batch_size")


@dataclass(frozen=True)
class StudyModel:
    """One model of a study: its label (the ``model`` of the rows) and spec.

    ``spec`` is a registry name, ``"mfcc"``, an import path, a transformer
    class or instance, or a network factory (see
    :func:`skaudio_random.resolve_model`).
    """

    label: str
    spec: object

    @property
    def builtin(self) -> bool:
        """Whether the spec is a registry name or ``"mfcc"`` (no identity kept)."""
        return isinstance(self.spec, str) and self.spec in MODELS

    def make(self, **params):
        """The transformer with the ``params`` it accepts (see make_transformer)."""
        return make_transformer(self.spec, **params)

    @property
    def seeded(self) -> bool:
        """Whether the features depend on ``random_state``."""
        return "random_state" in self.make().get_params(deep=False)

    def identity(self, widths) -> dict | None:
        """What identifies a user model in ``study.json``: its spec, parameters
        and, for a network, the structure digest of the feature cache's key at
        every width (found on the meta device); ``None`` for a built-in."""
        if self.builtin:
            return None
        est = self.make()
        params = {
            k: repr(v)
            for k, v in est.get_params(deep=False).items()
            if k not in (*_RUNTIME_PARAMS, "width", "random_state")
        }
        record = {"spec": _spec_text(self.spec), "params": params}
        if hasattr(est, "_structure_digest"):
            record["structure"] = {
                str(w): self.make(width=w)._structure_digest() for w in widths
            }
        return record


def _spec_text(spec) -> str:
    if isinstance(spec, str):
        return spec
    obj = spec if isinstance(spec, type) or callable(spec) else type(spec)
    if not isinstance(obj, type) and not callable(obj):
        obj = type(spec)
    module = getattr(obj, "__module__", "")
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{name}" if module else name


def study_models(models) -> dict[str, StudyModel]:
    """Label -> :class:`StudyModel` of run_study's ``models`` (checked).

    Parameters
    ----------
    models : str, list or dict
        Specs (a str is one spec); a dict maps the labels to use to specs.

    Raises
    ------
    ValueError
        For an empty list, a spec that does not resolve (the message lists the
        registry names) or two models with one label (pass a dict to name them).
    """
    if isinstance(models, str) or not isinstance(models, dict | list | tuple):
        models = [models]
    if isinstance(models, dict):
        pairs = [(str(label), spec) for label, spec in models.items()]
    else:
        pairs = [(model_label(spec), spec) for spec in models]
    if not pairs:
        raise ValueError(f"models must not be empty; choose from {list(MODELS)}.")
    out: dict[str, StudyModel] = {}
    for label, spec in pairs:
        try:
            make_transformer(spec)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"unknown models [{spec!r}]; choose from {list(MODELS)}, an import "
                f"path 'package.module:factory', a transformer or a network "
                f"factory ({exc})"
            ) from None
        if label in out:
            raise ValueError(
                f"models has duplicates: two models labelled {label!r} "
                f"({out[label].spec!r} and {spec!r}); pass a dict {{label: model}} "
                "to name them apart."
            )
        out[label] = StudyModel(label, spec)
    return out
