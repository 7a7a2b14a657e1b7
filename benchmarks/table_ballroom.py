"""Paper Figures 8 and 9: random CNNs vs MFCCs on Extended Ballroom.

Every model of the paper's Extended Ballroom figures (VGG, 7x96, 7x86, Timbral,
Temporal, Timbral+temporal, Sample level, Frame level, Frame level many shapes)
at the widths ~120 (Figure 8) and ~3500 (Figure 9), with the paper's SVM
(32-point grid) and ELM (6 hidden sizes), 3 runs, and the MFCC (120) + SVM
baseline (SPEC sections 5 and 7). Protocol (SPEC section 5.3): 10 stratified
folds over all 4180 tracks; the reported number is the best grid point's mean
CV accuracy, as in the paper (optimistic); the nested-CV accuracy is added
unless ``--no-nested``. Inputs: the first 29 s (1376 log-mel frames / 350,000
samples at 12 kHz).

A thin command line over :func:`skaudio_random.study.run_study`; the table it
prints has the published ~3500 numbers (SPEC section 7.3) beside the measured
ones. Rows are appended as they finish, so an interrupted run resumes. The
frame-level models use the authors' collapsed back-end averaging by default, the
setting behind the published frame-level numbers (SPEC section 9);
``--backend-averaging per_filter`` follows the paper's text instead.

Data: ``<data-home>/extended_ballroom/<Style>/<id>.mp3`` (see
:func:`skaudio_random.load_extended_ballroom`, which can also download it).
Usage::

    python benchmarks/table_ballroom.py --data-home ~/data --device cuda
    python benchmarks/table_ballroom.py --data-home ~/data --models temporal mfcc

Writes results.csv, results.md, summary.csv, ttests.csv and figure_width{W}.png
into ``--out`` (default ``benchmarks/results/table_ballroom/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout
sys.path.insert(0, str(HERE))

from _common import study_main  # noqa: E402

from skaudio_random import load_extended_ballroom  # noqa: E402

EXPERIMENT = "table_ballroom"


def main(argv=None):
    """Run the Extended Ballroom study; returns the ``StudyResult``."""
    return study_main(
        argv,
        description=__doc__.split("\n\n")[0],
        experiment=EXPERIMENT,
        load=load_extended_ballroom,
    )


if __name__ == "__main__":
    main()
