"""Paper Figures 6 and 7: random CNNs vs MFCCs on GTZAN (fault-filtered split).

Every model of the paper's GTZAN figures (VGG, 7x96, 7x86, Timbral, Temporal,
Timbral+temporal, Sample level, Frame level, Frame level many shapes) at the
widths ~120 (Figure 6) and ~3500 (Figure 7), with the paper's SVM (32-point
grid) and ELM (6 hidden sizes), 3 runs, and the MFCC (120) + SVM baseline
(SPEC sections 5 and 7). Protocol (SPEC section 5.3): hyper-parameters selected
on the 197 validation clips, the selected classifier fitted on the 443 training
clips and scored on the 290 test clips. Inputs: the first 29 s (1376 log-mel
frames / 350,000 samples at 12 kHz).

A thin command line over :func:`skaudio_random.study.run_study`; the table it
prints has the published ~3500 numbers (SPEC section 7.3) beside the measured
ones. Rows are appended as they finish, so an interrupted run resumes. The
frame-level models use the authors' collapsed back-end averaging by default, the
setting behind the published frame-level numbers (SPEC section 9);
``--backend-averaging per_filter`` follows the paper's text instead.

Data: ``<data-home>/gtzan/<genre>/<genre>.000NN.wav`` (or ``.au``; see
:func:`skaudio_random.load_gtzan`). Usage::

    python benchmarks/table_gtzan.py --data-home ~/data --device cuda
    python benchmarks/table_gtzan.py --data-home ~/data --widths 120 --models vgg mfcc

Writes results.csv, results.md, summary.csv, ttests.csv and figure_width{W}.png
into ``--out`` (default ``benchmarks/results/table_gtzan/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout
sys.path.insert(0, str(HERE))

from _common import study_main  # noqa: E402

from skaudio_random import load_gtzan  # noqa: E402

EXPERIMENT = "table_gtzan"


def main(argv=None):
    """Run the GTZAN study; returns the :class:`~skaudio_random.study.StudyResult`."""
    return study_main(
        argv,
        description=__doc__.split("\n\n")[0],
        experiment=EXPERIMENT,
        load=lambda home: load_gtzan(home, split="fault_filtered"),
    )


if __name__ == "__main__":
    main()
