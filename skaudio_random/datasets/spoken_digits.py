"""Spoken digits: a 300-clip demo dataset shipped with the package."""

from __future__ import annotations

import csv

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import validate_params

from ._base import _data_path, _load_descr, _make_bunch

__all__ = ["load_spoken_digits"]


@validate_params({"return_X_y": ["boolean"]}, prefer_skip_nested_validation=True)
def load_spoken_digits(*, return_X_y=False):
    """Load the shipped spoken-digit demo dataset (300 clips, 10 classes).

    The official test split of the Free Spoken Digit Dataset (takes 0-4): six
    speakers say each digit 0-9 five times; mono 8 kHz WAV, 0.14-2.28 s.
    It ships with the package (about 2.6 MB, CC BY-SA 4.0, see ``DESCR``), so
    it works offline; the ``skaudio-random demo`` command and the examples use
    it.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(filenames, target)`` instead of a bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``filenames`` (absolute paths, sorted by digit, speaker, take),
        ``target`` (the digit), ``target_names`` (``"0"`` ... ``"9"``),
        ``groups`` (speaker name, for speaker-independent splits such as
        ``GroupKFold``), ``cv`` (``StratifiedKFold(5, shuffle=True,
        random_state=0)``), ``fix_length="repeat"``, ``protocol="cv"``,
        ``name="spoken_digits"``, ``DESCR``.
    (filenames, target) : tuple
        If ``return_X_y=True``.

    Raises
    ------
    OSError
        If the shipped files are missing (a broken installation).

    Examples
    --------
    >>> from skaudio_random.datasets import load_spoken_digits
    >>> digits = load_spoken_digits()
    >>> len(digits.filenames), digits.target_names[:3]
    (300, ['0', '1', '2'])
    >>> sorted(set(digits.groups.tolist()))[:2]
    ['george', 'jackson']
    """
    folder = _data_path("spoken_digits")
    with open(folder / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    filenames = [str(folder / "recordings" / r["filename"]) for r in rows]
    absent = [
        r["filename"]
        for r in rows
        if not (folder / "recordings" / r["filename"]).is_file()
    ]
    if absent:
        raise OSError(
            f"load_spoken_digits: {len(absent)} shipped recordings are missing from "
            f"{folder / 'recordings'} (e.g. {absent[0]}); reinstall skaudio_random."
        )
    bunch = _make_bunch(
        filenames=filenames,
        target=[int(r["digit"]) for r in rows],
        target_names=[str(d) for d in range(10)],
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0),
        descr=_load_descr("spoken_digits"),
        fix_length="repeat",
        protocol="cv",
        name="spoken_digits",
        groups=np.asarray([r["speaker"] for r in rows], dtype=str),
    )
    if return_X_y:
        return bunch.filenames, bunch.target
    return bunch
