"""Model specifications to feature transformers, for the commands, studies and HEAR.

The resolution itself is :func:`skaudio_random.resolve_model` (names, import
paths, classes, instances, network factories); this module adds the parameter
rules shared by its callers: a model gets only the parameters it has, and a
network factory without an ``nf`` argument gets no ``width``.
"""

from __future__ import annotations

from .network import RandomNetworkFeatures, accepts_width, model_names, resolve_model

__all__ = ["model_names", "make_transformer", "check_model", "model_label"]


def check_model(spec) -> str:
    """``spec`` if it resolves (for argparse ``type=``); ``ValueError`` if not.

    The error lists the registry names, so a typo on the command line says
    what would have worked.
    """
    resolve_model(spec)
    return spec


def make_transformer(spec, **params):
    """The transformer of model ``spec`` with the ``params`` it accepts.

    Parameters
    ----------
    spec : str, type, estimator or callable
        Anything :func:`~skaudio_random.resolve_model` takes: one of
        :func:`model_names`, an import path ``"package.module:factory"``, a
        transformer class or instance, a network factory.
    **params
        Transformer parameters (``width``, ``random_state``, ``device``,
        ``precision``, ``fix_length``, ``memory``, ...). Those the model does not
        have (MFCC has no ``width``, ``random_state``, ``device`` or
        ``precision``) are dropped, and so is ``width`` for a network factory
        that takes no ``nf`` argument (see
        :func:`~skaudio_random.network.accepts_width`).

    Returns
    -------
    AudioFeatureTransformer

    Raises
    ------
    ValueError
        If ``spec`` is not a known model or a resolvable import path.
    """
    est = resolve_model(spec)()
    accepted = set(est.get_params(deep=False))
    if isinstance(est, RandomNetworkFeatures) and not accepts_width(est.network):
        accepted.discard("width")
    return est.set_params(**{k: v for k, v in params.items() if k in accepted})


def model_label(spec) -> str:
    """A short readable name of a model specification, for tables and file names.

    A name is kept (``"vgg"``); an import path gives its attribute
    (``"mypkg.nets:my_net"`` -> ``"my_net"``); a network factory its
    ``__name__`` (a partial: its function's); a transformer class or instance
    its registry name if it is a built-in (``VGG`` -> ``"vgg"``), else its
    network's name (:class:`RandomNetworkFeatures`) or its class name.
    """
    from .architectures import ARCHITECTURES
    from .mfcc import MFCC

    if isinstance(spec, str):
        return spec.rsplit(":", 1)[-1] if ":" in spec else spec
    if isinstance(spec, RandomNetworkFeatures):
        return model_label(spec.network)
    cls = spec if isinstance(spec, type) else type(spec)
    if isinstance(spec, type) or hasattr(spec, "get_params"):
        if issubclass(cls, MFCC):
            return "mfcc"
        name = getattr(cls, "_architecture", None)
        if name in ARCHITECTURES:
            return name
        if hasattr(cls, "get_params"):
            return cls.__name__
    while hasattr(spec, "func"):  # functools.partial
        spec = spec.func
    return getattr(spec, "__name__", None) or type(spec).__name__
