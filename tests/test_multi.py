"""featurize: several transformers over the same clips, each file decoded once."""

import numpy as np
import pytest

import skaudio_random as sr
from skaudio_random import featurize
from skaudio_random._input import AudioInput
from skaudio_random.architectures import ARCHITECTURES
from skaudio_random.study import MODELS


def _transformers(memory=None):
    short = {"n_frames": 47, "n_samples": 12000}
    out = [sr.MFCC(fix_length="repeat", memory=memory, verbose=False)]
    for name in ARCHITECTURES:
        cls = MODELS[name]
        accepted = cls().get_params()
        kw = {k: v for k, v in short.items() if k in accepted}
        out.append(
            cls(
                width=8,
                random_state=2,
                fix_length="repeat",
                device="cpu",
                memory=memory,
                verbose=False,
                batch_size=3,
                **kw,
            )
        )
    return out


def test_same_features_and_cache_entries_as_each_transform(tmp_path):
    files = list(sr.datasets.load_spoken_digits().filenames[:7])
    alone = [t.transform(files) for t in _transformers(tmp_path / "alone")]
    loads = []
    real_load = AudioInput.load

    def load(self, i, rate):
        loads.append(i)
        return real_load(self, i, rate)

    mp = pytest.MonkeyPatch()
    mp.setattr(AudioInput, "load", load)
    try:
        shared, seconds = featurize(
            _transformers(tmp_path / "shared"), files, return_seconds=True
        )
    finally:
        mp.undo()
    assert sorted(loads) == list(range(7))  # every file decoded once
    assert len(shared) == len(alone) == len(ARCHITECTURES) + 1
    for a, b in zip(alone, shared, strict=True):
        np.testing.assert_array_equal(a, b)  # bitwise
    assert len(seconds["transformers"]) == len(shared) and seconds["decode"] >= 0
    # the cache holds the same entries, byte for byte
    names = sorted(
        p.relative_to(tmp_path / "alone")
        for p in (tmp_path / "alone").rglob("*")
        if p.is_file()
    )
    assert names == sorted(
        p.relative_to(tmp_path / "shared")
        for p in (tmp_path / "shared").rglob("*")
        if p.is_file()
    )
    for name in names:
        assert (tmp_path / "alone" / name).read_bytes() == (
            tmp_path / "shared" / name
        ).read_bytes()
    # a second call decodes nothing: every clip is cached for every transformer
    loads.clear()
    mp.setattr(AudioInput, "load", load)
    try:
        again = featurize(_transformers(tmp_path / "shared"), files)
    finally:
        mp.undo()
    assert loads == []
    for a, b in zip(alone, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_rejects_other_objects():
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(TypeError, match="StandardScaler"):
        featurize([sr.MFCC(), StandardScaler()], ["a.wav"])
