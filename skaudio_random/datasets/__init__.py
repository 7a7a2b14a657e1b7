"""Dataset loaders with the evaluation protocols of Pons & Serra (ICASSP 2019).

Every loader returns a :class:`sklearn.utils.Bunch` with ``filenames`` (absolute
paths), ``target``, ``target_names``, ``DESCR``, ``cv`` (a splitter ready for
``GridSearchCV(cv=...)`` / ``cross_val_score``), ``fix_length`` (the paper's
length rule for the dataset), ``protocol`` (``"validation"`` or ``"cv"``) and
``name``. Datasets live under :func:`get_data_home` (``SKAUDIO_RANDOM_DATA`` or
``~/skaudio_random_data``).
"""

from ._base import AUDIO_EXTENSIONS, FOLD_SEED, DatasetLayoutWarning, get_data_home
from .ballroom import BALLROOM_STYLES, load_extended_ballroom
from .folder import load_audio_folder, load_esc50
from .gtzan import GTZAN_GENRES, load_gtzan
from .spoken_digits import load_spoken_digits
from .urbansound8k import URBANSOUND8K_CLASSES, load_urbansound8k

__all__ = [
    "get_data_home",
    "load_gtzan",
    "load_extended_ballroom",
    "load_urbansound8k",
    "load_esc50",
    "load_audio_folder",
    "load_spoken_digits",
    "DatasetLayoutWarning",
    "AUDIO_EXTENSIONS",
    "FOLD_SEED",
    "GTZAN_GENRES",
    "BALLROOM_STYLES",
    "URBANSOUND8K_CLASSES",
]
