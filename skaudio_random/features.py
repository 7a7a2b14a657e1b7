"""The registered random-weight CNNs as fit-less scikit-learn transformers.

J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio classification",
ICASSP 2019. One class per entry of
:data:`skaudio_random.architectures.ARCHITECTURES`, generated from the registry
by :func:`make_transformer` (named by the entry's ``class_name``, with an
explicit keyword-only ``__init__`` so that scikit-learn's ``get_params``,
``clone`` and ``repr`` work, and a module-level name so that pickle finds it).
The shared behaviour lives in :class:`~skaudio_random._cnn_base.RandomCNNBase`;
the docstrings below (``_DOCS``) describe the paper's models, and an
architecture without one gets its network's summary.
"""

from __future__ import annotations

import inspect
from numbers import Integral

from sklearn.utils._param_validation import Interval

from ._cnn_base import RandomCNNBase
from .architectures import ARCHITECTURES, ArchitectureSpec

_COMMON_PARAMS = """\
width : int, default=120
        Target feature-vector length. ``120`` and ``3500`` give exactly the
        paper's filter counts (SPEC section 3.3); any other value picks the filter
        count whose feature length is closest. ``get_feature_names_out()`` tells
        the real length.
    {length_param}
    sr : int, default=12000
        Sample rate the audio is brought to (the paper's 12 kHz). Arrays passed to
        ``transform`` must already be at this rate.
    fix_length : {{"crop", "repeat", "zero", "none"}}, default="crop"
        Length rule (see :func:`skaudio_random.fix_length`). ``"crop"`` keeps the
        start (GTZAN, Extended Ballroom) and rejects shorter clips; ``"repeat"``
        tiles short clips (the paper's UrbanSound8K rule); ``"zero"`` pads with
        silence; ``"none"`` keeps each clip's natural length (the features are
        global averages, so any length at least the network's minimum works).{mel_note}
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    batch_size : int or "auto", default="auto"
        Clips decoded together, and clips per forward pass on a GPU (``"auto"``
        keeps the largest activation map of a pass under half the free GPU
        memory). On the CPU every clip has its own forward pass, so features are
        bitwise independent of the batch. Features never depend on it.
    precision : {{"float32", "tf32", "bfloat16"}}, default="float32"
        Arithmetic of the network. ``"float32"`` is exact single precision
        (TF32 is switched off on GPUs, where PyTorch allows it for convolutions
        by default). ``"tf32"`` lets CUDA tensor cores use TF32 (10-bit
        mantissa inputs); on the CPU it is plain float32. ``"bfloat16"`` runs
        the maps and matrix products in bfloat16 with float32 accumulation and
        float32 means (autocast on GPUs; on CPUs with AMX or AVX512-BF16 it is
        3-5x faster for the heavy models at width 3500); features then differ
        from float32 by about 0.1-1% of their largest value. On CPUs without
        bfloat16 instructions (AVX2 only, e.g. AMD Zen 1-3) bfloat16 would be
        emulated 7-60x slower than float32, so there the features are
        computed, and equal to, ``"float32"``. Part of the ``memory`` cache
        key.
    n_jobs : int, default=None
        Threads decoding audio files while the network runs (``None``: one, ``-1``:
        all cores).
    memory : str, os.PathLike or joblib.Memory, default=None
        Folder of a per-clip feature cache keyed by the audio content and every
        parameter that changes the features: with an int ``random_state``, a grid
        search over classifier parameters computes each clip once, and an
        interrupted run resumes. With ``random_state=None`` each clone draws its
        own network and computes its features again (a warning says so).
    verbose : bool or int, default=False
        Show a progress bar over clips.
    random_state : int, RandomState instance or None, default=None
        Seeds the random weights, drawn on the CPU so that an int gives the same
        network on every machine and device. Pass an int for reproducible output
        across multiple function calls. With ``None`` an instance draws its
        network once and keeps it, so train and test features always come from
        the same network."""

_WAVEFORM_LENGTH = """n_samples : int, default=350000
        Input length in samples for ``fix_length`` (the paper's 350,000 samples,
        about 29 s at 12 kHz)."""

_MEL_LENGTH = """n_frames : int, default=1376
        Input length in log-mel frames for ``fix_length`` (the paper's 1376 frames,
        about 29 s at 12 kHz with a 256-sample hop)."""

_MEL_NOTE = """
        Spectrogram models apply the rule to log-mel frames computed on the
        whole clip, as the paper's code did: the 80 dB floor is relative to the
        whole clip's maximum and ``"repeat"`` tiles frames, not audio."""

_SEE_ALSO_AND_REFS = """
    See Also
    --------
    MFCC : The paper's hand-crafted baseline.
    ELMClassifier : The Extreme Learning Machine the paper pairs with these features.

    References
    ----------
    .. [1] J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio
       classification", ICASSP 2019, arXiv:1805.00237.
"""

#: Transformer description per registry name ({params}, {options}, {see_also}
#: are filled in); optional: a new architecture falls back to its network's summary.
_DOCS = {
    "sample_level": """Sample-level random CNN on the waveform (Lee et al.'s design).

    A stride-3 convolution of length 3, then six blocks of [conv 3, ReLU,
    max-pool 3]; the features are the time-averages of every filter of all seven
    layers (``7 * n_filters`` values: 161 at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import SampleLevel
    >>> X = np.random.default_rng(0).standard_normal((2, 24000)).astype(np.float32)
    >>> SampleLevel(n_samples=24000, random_state=0).transform(X).shape
    (2, 161)
    """,
    "frame_level": """Frame-level random CNN on the waveform (Dieleman and Schrauwen's front end).

    A length-512, stride-32 convolution, then three length-7 convolutions, the
    last two with residual connections and a max-pool by two between them;
    features are the time-averages of every filter of the four layers
    (``4 * n_filters``: 160 at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import FrameLevel
    >>> X = np.random.default_rng(0).standard_normal((2, 24000)).astype(np.float32)
    >>> FrameLevel(n_samples=24000, random_state=0).transform(X).shape
    (2, 160)
    """,  # noqa: E501 (one-line summaries, as in the README table)
    "frame_level_many_shapes": """Frame-level random CNN with five front-end filter lengths (512 ... 32).

    Five parallel stride-32 convolutions of lengths 512, 256, 128, 64 and 32
    (TF "same" padding), then the frame-level back end; ``8 * n_filters``
    features (160 at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import FrameLevelManyShapes
    >>> X = np.random.default_rng(0).standard_normal((2, 24000)).astype(np.float32)
    >>> FrameLevelManyShapes(n_samples=24000, random_state=0).transform(X).shape
    (2, 160)
    """,  # noqa: E501 (one-line summaries, as in the README table)
    "vertical_7x96": """One 7x96 convolution spanning all mel bands (a 1-D convolution over time).

    Features are the time-averages of its ReLU maps (160 at width 120, 3585 at
    width 3500).

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Vertical7x96
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Vertical7x96(n_frames=47, random_state=0).transform(X).shape
    (2, 160)
    """,  # noqa: E501 (one-line summaries, as in the README table)
    "vertical_7x86": """One 7x86 convolution, max-pooled over frequency, then time-averaged.

    The 86-band kernel slides over 11 frequency positions, giving some pitch
    invariance (160 features at width 120, 3585 at width 3500).

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Vertical7x86
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Vertical7x86(n_frames=47, random_state=0).transform(X).shape
    (2, 160)
    """,  # noqa: E501 (one-line summaries, as in the README table)
    "timbral": """Musically motivated timbral filters (Pons et al.): six vertical shapes.

    Kernels 7x86, 3x86, 1x86, 7x38, 3x38, 1x38 with filter counts in the ratio
    1:2:4, each max-pooled over frequency; ``14 * n_filters`` time-averages (112
    at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Timbral
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Timbral(n_frames=47, random_state=0).transform(X).shape
    (2, 112)
    """,  # noqa: E501 (one-line summaries, as in the README table)
    "temporal": """Musically motivated temporal filters over the mean energy envelope.

    The log-mel is averaged over bands, then filtered by 1-D kernels of 165, 128,
    64 and 32 frames; ``14 * n_filters`` time-averages (112 at width 120, 3584 at
    width 3500). The paper's best model on Extended Ballroom.

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Temporal
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Temporal(n_frames=47, fix_length="zero", random_state=0).transform(X).shape
    (2, 112)
    """,
    "timbral_temporal": """Timbral and temporal filters side by side in one wide layer.

    ``28 * n_filters`` features: the timbral averages then the temporal ones (112
    at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import TimbralTemporal
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> TimbralTemporal(n_frames=47, random_state=0).transform(X).shape
    (2, 112)
    """,
    "time": """Temporal filters with short kernels (64, 32, 16, 8 frames) for sound events.

    The paper's UrbanSound8K variant of :class:`Temporal` (112 features at width
    120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Time
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Time(n_frames=47, random_state=0).transform(X).shape
    (2, 112)
    """,  # noqa: E501 (one-line summaries, as in the README table)
    "timbral_time": """Timbral filters and short temporal ("time") filters in one wide layer.

    The paper's UrbanSound8K variant of :class:`TimbralTemporal` (112 features at
    width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import TimbralTime
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> TimbralTime(n_frames=47, random_state=0).transform(X).shape
    (2, 112)
    """,  # noqa: E501 (one-line summaries, as in the README table)
    "vgg": """VGG-like random CNN: five blocks of 3x3 convolution, ELU and max-pooling.

    Pools (time x mel) 4x2, 4x3, 5x2, 4x2, 4x4; features are the averages of every
    pooled map of the five blocks (``5 * n_filters``: 160 at width 120, 3585 at
    width 3500). The paper's best model on GTZAN and UrbanSound8K.

    Parameters
    ----------
    {params}
    {options}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import VGG
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> VGG(n_frames=47, random_state=0).transform(X).shape
    (2, 160)
    """,
}

_GENERIC_DOC = """{summary}

    Random-weight network ``{name}`` of the registry; the features are the
    averages of its feature maps (see
    :data:`skaudio_random.architectures.ARCHITECTURES`).

    Parameters
    ----------
    {params}
    {options}
    {see_also}"""

#: Parameters of every transformer, after ``width`` and the length parameter.
_TAIL = {
    "sr": 12000,
    "fix_length": "crop",
    "device": "auto",
    "batch_size": "auto",
    "precision": "float32",
    "n_jobs": None,
    "memory": None,
    "verbose": False,
    "random_state": None,
}


def _summary(spec: ArchitectureSpec) -> str:
    build = spec.build
    while hasattr(build, "func"):
        build = build.func
    doc = inspect.getdoc(getattr(build, "factory", build)) or spec.name
    return doc.split("\n\n")[0]


def _class_doc(spec: ArchitectureSpec) -> str:
    kind = spec.input_kind
    length = _MEL_LENGTH if kind == "mel" else _WAVEFORM_LENGTH
    params = _COMMON_PARAMS.format(
        length_param=length, mel_note=_MEL_NOTE if kind == "mel" else ""
    )
    options = "\n    ".join(opt.doc for opt in spec.options)
    template = _DOCS.get(spec.name, _GENERIC_DOC)
    doc = template.replace("{summary}", _summary(spec)).replace("{name}", spec.name)
    doc = doc.replace("{params}", params).replace("{see_also}", _SEE_ALSO_AND_REFS)
    if options:
        return doc.replace("{options}", options)
    return doc.replace("    {options}\n", "")


def make_transformer(spec: ArchitectureSpec, module: str = __name__) -> type:
    """The transformer class of one registry entry.

    Its ``__init__`` is generated from a code template with explicit
    keyword-only parameters: ``width``, ``n_frames`` or ``n_samples``, the
    entry's options, then the common parameters (``sr`` ... ``random_state``),
    each stored unchanged as scikit-learn requires.
    """
    length = ("n_frames", 1376) if spec.input_kind == "mel" else ("n_samples", 350000)
    defaults = {"width": 120, length[0]: length[1]}
    defaults |= {opt.name: opt.default for opt in spec.options} | _TAIL
    names = list(defaults)
    source = f"def __init__(self, *, {', '.join(names)}):\n" + "".join(
        f"    self.{n} = {n}\n" for n in names
    )
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102 - fixed template, names from the registry
    init = namespace["__init__"]
    init.__kwdefaults__ = defaults
    init.__module__ = module
    init.__qualname__ = f"{spec.class_name}.__init__"
    constraints = {
        **RandomCNNBase._parameter_constraints,
        length[0]: [Interval(Integral, 1, None, closed="left")],
        **{opt.name: opt.constraints for opt in spec.options},
    }
    attrs = {
        "__init__": init,
        "__doc__": _class_doc(spec),
        "__module__": module,
        "__qualname__": spec.class_name,
        "_architecture": spec.name,
        "_parameter_constraints": constraints,
    }
    return type(spec.class_name, (RandomCNNBase,), attrs)


#: Transformer class name -> class, in registry order.
TRANSFORMERS: dict[str, type] = {
    spec.class_name: make_transformer(spec) for spec in ARCHITECTURES.values()
}
globals().update(TRANSFORMERS)  # module-level names: pickle finds the classes here
__all__ = list(TRANSFORMERS)


PAPER_WIDTHS = (120, 3500)


def architecture_table() -> str:
    """The README's table of transformers (reStructuredText), from the registry.

    One row per registered architecture (class, input, feature lengths at the
    widths 120 and 3500, the first line of its docstring), then the MFCC
    baseline. ``tests/test_features.py`` checks that README.rst holds it;
    regenerate with ``python -c "from skaudio_random.features import
    architecture_table; print(architecture_table())"``.
    """
    from .mfcc import MFCC

    rows = [("transformer", "input", "features at width 120 / 3500", "summary")]
    for spec in ARCHITECTURES.values():
        nfs = (spec.paper_nf[w] for w in PAPER_WIDTHS)
        lengths = " / ".join(str(spec.n_features(nf)) for nf in nfs)
        kind = "log-mel" if spec.input_kind == "mel" else "waveform"
        summary = TRANSFORMERS[spec.class_name].__doc__.split("\n")[0].rstrip(".")
        rows.append((f"``{spec.class_name}``", kind, lengths, summary))
    n_mfcc = len(MFCC().get_feature_names_out())
    rows.append(("``MFCC``", "waveform", str(n_mfcc), "The paper's baseline"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    rule = "  ".join("=" * w for w in widths)

    def line(row):
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([rule, line(rows[0]), rule, *map(line, rows[1:]), rule])
