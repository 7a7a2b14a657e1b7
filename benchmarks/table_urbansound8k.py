"""Paper Figures 10 and 11: random CNNs vs MFCCs on UrbanSound8K.

Every model of the paper's UrbanSound8K figures (VGG, 7x96, 7x86, Timbral,
Timbral+time, Sample level, Frame level, Frame level many shapes) at the widths
~120 (Figure 10) and ~3500 (Figure 11), with the paper's SVM (32-point grid) and
ELM (6 hidden sizes), 3 runs, and the MFCC (120) + SVM baseline (SPEC sections
5 and 7). Protocol (SPEC section 5.3): the 10 official folds; the reported
number is the best grid point's mean CV accuracy, as in the paper (optimistic);
the nested-CV accuracy is added unless ``--no-nested``. Inputs: clips of at most
4 s repeated to 29 s (1376 log-mel frames / 350,000 samples at 12 kHz); MFCCs on
the clip itself.

A thin command line over :func:`skaudio_random.study.run_study`; the table it
prints has the published ~3500 numbers (SPEC section 7.3) beside the measured
ones. Rows are appended as they finish, so an interrupted run resumes. The
frame-level models use the authors' collapsed back-end averaging by default, the
setting behind the published frame-level numbers (SPEC section 9);
``--backend-averaging per_filter`` follows the paper's text instead.

Data: ``<data-home>/urbansound8k/UrbanSound8K/{metadata/UrbanSound8K.csv,
audio/fold1..fold10/}`` (see :func:`skaudio_random.load_urbansound8k`, which can
also download it). Usage::

    python benchmarks/table_urbansound8k.py --data-home ~/data --device cuda
    python benchmarks/table_urbansound8k.py --data-home ~/data --widths 120

Writes results.csv, results.md, summary.csv, ttests.csv and figure_width{W}.png
into ``--out`` (default ``benchmarks/results/table_urbansound8k/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout
sys.path.insert(0, str(HERE))

from _common import study_main  # noqa: E402

from skaudio_random import load_urbansound8k  # noqa: E402

EXPERIMENT = "table_urbansound8k"


def main(argv=None):
    """Run the UrbanSound8K study; returns the ``StudyResult``."""
    return study_main(
        argv,
        description=__doc__.split("\n\n")[0],
        experiment=EXPERIMENT,
        load=load_urbansound8k,
    )


if __name__ == "__main__":
    main()
