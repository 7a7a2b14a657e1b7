"""Model names to feature transformers, for the commands and the HEAR API.

The one place that turns a model name into a transformer; it reads the study's
model map (the architecture registry plus ``"mfcc"``).
"""

from __future__ import annotations

__all__ = ["model_names", "make_transformer"]


def model_names() -> list[str]:
    """Names accepted by :func:`make_transformer`, in the paper's order."""
    from .study import MODELS

    return list(MODELS)


def make_transformer(name: str, **params):
    """The transformer of model ``name`` with the ``params`` it accepts.

    Parameters
    ----------
    name : str
        One of :func:`model_names`.
    **params
        Transformer parameters (``width``, ``random_state``, ``device``,
        ``precision``, ``fix_length``, ``memory``, ...). Those the model does not
        have (MFCC has no ``width``, ``random_state``, ``device`` or
        ``precision``) are dropped.

    Returns
    -------
    AudioFeatureTransformer

    Raises
    ------
    ValueError
        If ``name`` is not a known model.
    """
    from .study import MODELS

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {list(MODELS)}.")
    cls = MODELS[name]
    accepted = cls().get_params()
    return cls(**{k: v for k, v in params.items() if k in accepted})
