"""The paper's comparison of architectures on a dataset, end to end.

:func:`run_study` computes each model's features once per (width, seed),
selects and scores the paper's SVM and ELM with the dataset's protocol (Pons &
Serra, "Randomly weighted CNNs for (music) audio classification", ICASSP 2019,
SPEC section 5.3) and writes the tables, t-tests and figures of the paper.

One role per private module: ``_models`` (the models a study can compare),
``_checks`` (argument checks), ``_store`` (``results.csv``, ``study.json``,
resume), ``_protocol`` (the paper's classifiers and protocols), ``_runner``
(:func:`run_study`) and ``_report`` (tables, t-tests, figures).
"""

from .._names import CLASSIFIERS
from ._models import MODELS, default_models
from ._report import StudyResult
from ._runner import run_study
from ._store import RESULT_COLUMNS

__all__ = [
    "run_study",
    "default_models",
    "StudyResult",
    "MODELS",
    "CLASSIFIERS",
    "RESULT_COLUMNS",
]
