"""The paper's eleven random-weight CNNs as fit-less scikit-learn transformers.

J. Pons and X. Serra, "Randomly weighted CNNs for (music) audio classification",
ICASSP 2019. Each class wraps one entry of
:data:`skaudio_random.architectures.ARCHITECTURES`; the shared behaviour lives in
:class:`~skaudio_random._cnn_base.RandomCNNBase`.
"""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions

from ._cnn_base import RandomCNNBase

__all__ = [
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
]

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
        parameter that changes the features: a grid search over classifier
        parameters computes each clip once, and an interrupted run resumes.
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


_BACKEND_DOC = """backend_averaging : {"per_filter", "collapsed"}, default="per_filter"
        How the three back-end layers are summarised. ``"per_filter"`` averages
        every filter, as the paper describes. ``"collapsed"`` reproduces the
        authors' code, which (by a reshape slip) averaged each back-end layer to
        one value over time and all filters followed by ``n_filters - 1`` zeros;
        the published frame-level numbers were produced that way (SPEC section 9).
    """


def _document(input_kind: str):
    """Fill the shared parameter text into a class docstring."""

    def decorate(cls):
        length = _MEL_LENGTH if input_kind == "mel" else _WAVEFORM_LENGTH
        params = _COMMON_PARAMS.format(
            length_param=length, mel_note=_MEL_NOTE if input_kind == "mel" else ""
        )
        doc = cls.__doc__.replace("{params}", params)
        doc = doc.replace("{backend}", _BACKEND_DOC).replace("{see_also}", _SEE_ALSO_AND_REFS)
        cls.__doc__ = doc
        return cls

    return decorate


class _WaveformCNN(RandomCNNBase):
    """Base of the models whose input is the raw waveform."""

    _parameter_constraints: dict = {
        **RandomCNNBase._parameter_constraints,
        "n_samples": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        width=120,
        n_samples=350000,
        sr=12000,
        fix_length="crop",
        device="auto",
        batch_size="auto",
        precision="float32",
        n_jobs=None,
        memory=None,
        verbose=False,
        random_state=None,
    ):
        self.width = width
        self.n_samples = n_samples
        self.sr = sr
        self.fix_length = fix_length
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        self.n_jobs = n_jobs
        self.memory = memory
        self.verbose = verbose
        self.random_state = random_state


class _MelCNN(RandomCNNBase):
    """Base of the models whose input is the paper's 96-band log-mel spectrogram."""

    _parameter_constraints: dict = {
        **RandomCNNBase._parameter_constraints,
        "n_frames": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        width=120,
        n_frames=1376,
        sr=12000,
        fix_length="crop",
        device="auto",
        batch_size="auto",
        precision="float32",
        n_jobs=None,
        memory=None,
        verbose=False,
        random_state=None,
    ):
        self.width = width
        self.n_frames = n_frames
        self.sr = sr
        self.fix_length = fix_length
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        self.n_jobs = n_jobs
        self.memory = memory
        self.verbose = verbose
        self.random_state = random_state


@_document("waveform")
class SampleLevel(_WaveformCNN):
    """Sample-level random CNN on the waveform (Lee et al.'s design).

    A stride-3 convolution of length 3, then six blocks of [conv 3, ReLU,
    max-pool 3]; the features are the time-averages of every filter of all seven
    layers (``7 * n_filters`` values: 161 at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import SampleLevel
    >>> X = np.random.default_rng(0).standard_normal((2, 24000)).astype(np.float32)
    >>> SampleLevel(n_samples=24000, random_state=0).transform(X).shape
    (2, 161)
    """

    _architecture = "sample_level"




class _FrameLevelBase(_WaveformCNN):
    _parameter_constraints: dict = {
        **_WaveformCNN._parameter_constraints,
        "backend_averaging": [StrOptions({"per_filter", "collapsed"})],
    }

    def __init__(
        self,
        *,
        width=120,
        n_samples=350000,
        backend_averaging="per_filter",
        sr=12000,
        fix_length="crop",
        device="auto",
        batch_size="auto",
        precision="float32",
        n_jobs=None,
        memory=None,
        verbose=False,
        random_state=None,
    ):
        super().__init__(
            width=width, n_samples=n_samples, sr=sr, fix_length=fix_length,
            device=device, batch_size=batch_size, precision=precision, n_jobs=n_jobs,
            memory=memory, verbose=verbose, random_state=random_state,
        )
        self.backend_averaging = backend_averaging


@_document("waveform")
class FrameLevel(_FrameLevelBase):
    """Frame-level random CNN on the waveform (Dieleman and Schrauwen's front end).

    A length-512, stride-32 convolution, then three length-7 convolutions, the
    last two with residual connections and a max-pool by two between them;
    features are the time-averages of every filter of the four layers
    (``4 * n_filters``: 160 at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {backend}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import FrameLevel
    >>> X = np.random.default_rng(0).standard_normal((2, 24000)).astype(np.float32)
    >>> FrameLevel(n_samples=24000, random_state=0).transform(X).shape
    (2, 160)
    """

    _architecture = "frame_level"


@_document("waveform")
class FrameLevelManyShapes(_FrameLevelBase):
    """Frame-level random CNN with five front-end filter lengths (512 ... 32).

    Five parallel stride-32 convolutions of lengths 512, 256, 128, 64 and 32
    (TF "same" padding), then the frame-level back end; ``8 * n_filters``
    features (160 at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {backend}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import FrameLevelManyShapes
    >>> X = np.random.default_rng(0).standard_normal((2, 24000)).astype(np.float32)
    >>> FrameLevelManyShapes(n_samples=24000, random_state=0).transform(X).shape
    (2, 160)
    """

    _architecture = "frame_level_many_shapes"


@_document("mel")
class Vertical7x96(_MelCNN):
    """One 7x96 convolution spanning all mel bands (a 1-D convolution over time).

    Features are the time-averages of its ReLU maps (160 at width 120, 3585 at
    width 3500).

    Parameters
    ----------
    {params}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Vertical7x96
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Vertical7x96(n_frames=47, random_state=0).transform(X).shape
    (2, 160)
    """

    _architecture = "vertical_7x96"


@_document("mel")
class Vertical7x86(_MelCNN):
    """One 7x86 convolution, max-pooled over frequency, then time-averaged.

    The 86-band kernel slides over 11 frequency positions, giving some pitch
    invariance (160 features at width 120, 3585 at width 3500).

    Parameters
    ----------
    {params}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Vertical7x86
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Vertical7x86(n_frames=47, random_state=0).transform(X).shape
    (2, 160)
    """

    _architecture = "vertical_7x86"


@_document("mel")
class Timbral(_MelCNN):
    """Musically motivated timbral filters (Pons et al.): six vertical shapes.

    Kernels 7x86, 3x86, 1x86, 7x38, 3x38, 1x38 with filter counts in the ratio
    1:2:4, each max-pooled over frequency; ``14 * n_filters`` time-averages (112
    at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Timbral
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Timbral(n_frames=47, random_state=0).transform(X).shape
    (2, 112)
    """

    _architecture = "timbral"


@_document("mel")
class Temporal(_MelCNN):
    """Musically motivated temporal filters over the mean energy envelope.

    The log-mel is averaged over bands, then filtered by 1-D kernels of 165, 128,
    64 and 32 frames; ``14 * n_filters`` time-averages (112 at width 120, 3584 at
    width 3500). The paper's best model on Extended Ballroom.

    Parameters
    ----------
    {params}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Temporal
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Temporal(n_frames=47, fix_length="zero", random_state=0).transform(X).shape
    (2, 112)
    """

    _architecture = "temporal"


@_document("mel")
class TimbralTemporal(_MelCNN):
    """Timbral and temporal filters side by side in one wide layer.

    ``28 * n_filters`` features: the timbral averages then the temporal ones (112
    at width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import TimbralTemporal
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> TimbralTemporal(n_frames=47, random_state=0).transform(X).shape
    (2, 112)
    """

    _architecture = "timbral_temporal"


@_document("mel")
class Time(_MelCNN):
    """Temporal filters with short kernels (64, 32, 16, 8 frames) for sound events.

    The paper's UrbanSound8K variant of :class:`Temporal` (112 features at width
    120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import Time
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> Time(n_frames=47, random_state=0).transform(X).shape
    (2, 112)
    """

    _architecture = "time"


@_document("mel")
class TimbralTime(_MelCNN):
    """Timbral filters and short temporal ("time") filters in one wide layer.

    The paper's UrbanSound8K variant of :class:`TimbralTemporal` (112 features at
    width 120, 3584 at width 3500).

    Parameters
    ----------
    {params}
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import TimbralTime
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> TimbralTime(n_frames=47, random_state=0).transform(X).shape
    (2, 112)
    """

    _architecture = "timbral_time"


@_document("mel")
class VGG(_MelCNN):
    """VGG-like random CNN: five blocks of 3x3 convolution, ELU and max-pooling.

    Pools (time x mel) 4x2, 4x3, 5x2, 4x2, 4x4; features are the averages of every
    pooled map of the five blocks (``5 * n_filters``: 160 at width 120, 3585 at
    width 3500). The paper's best model on GTZAN and UrbanSound8K.

    Parameters
    ----------
    {params}
    batchnorm : {None, "batch"}, default=None
        ``None`` is the paper's model. ``"batch"`` reproduces the batch-normalised
        random network of Choi et al. that the paper's section 3.4 examines (SPEC
        section 8): the input log-mel is normalised per mel band and every block
        becomes conv, ELU, normalisation, pool, all with the statistics of the
        current batch (biased variance, eps 1e-3, no learned scale). A clip's
        features then depend on the other clips of its batch, on ``batch_size``
        and on the order of ``X``, which is why the paper drops it. Needs an int
        ``batch_size`` and no ``memory``.
    {see_also}
    Examples
    --------
    >>> import numpy as np
    >>> from skaudio_random import VGG
    >>> X = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32)
    >>> VGG(n_frames=47, random_state=0).transform(X).shape
    (2, 160)
    """

    _architecture = "vgg"

    _parameter_constraints: dict = {
        **_MelCNN._parameter_constraints,
        "batchnorm": [StrOptions({"batch"}), None],
    }

    def __init__(
        self,
        *,
        width=120,
        n_frames=1376,
        batchnorm=None,
        sr=12000,
        fix_length="crop",
        device="auto",
        batch_size="auto",
        precision="float32",
        n_jobs=None,
        memory=None,
        verbose=False,
        random_state=None,
    ):
        super().__init__(
            width=width, n_frames=n_frames, sr=sr, fix_length=fix_length,
            device=device, batch_size=batch_size, precision=precision, n_jobs=n_jobs,
            memory=memory, verbose=verbose, random_state=random_state,
        )
        self.batchnorm = batchnorm

    def _prepare(self) -> None:
        if self.batchnorm is not None:
            # Batch statistics tie a clip's features to its batch: the batch must
            # be explicit and every clip computed in the order given.
            if self.batch_size == "auto":
                raise ValueError(
                    "batchnorm='batch' needs an explicit int batch_size: the "
                    "features depend on which clips share a batch."
                )
            if self.memory is not None:
                raise ValueError(
                    "memory cannot be used with batchnorm='batch': cached clips "
                    "would change the composition of the remaining batches."
                )
        super()._prepare()
