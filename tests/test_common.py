"""scikit-learn's common estimator checks over every public transformer."""

import re

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

import skaudio_random as sr
from skaudio_random.architectures import ARCHITECTURES
from skaudio_random.features import __all__ as CNN_NAMES

# The checks feed tiny 2-D float arrays (a few "samples" per row): pad them with
# silence to a short input so every network can run.
_WAVEFORM = dict(
    width=12, n_samples=2048, fix_length="zero", device="cpu", random_state=0
)
_MEL = dict(width=12, n_frames=16, fix_length="zero", device="cpu", random_state=0)


def small_network():
    """A user's network (module level, so that the pickling checks can find it)."""
    return nn.Sequential(nn.Conv1d(96, 4, 3), nn.ReLU(), nn.Conv1d(4, 4, 3), nn.ReLU())


def _instances():
    for name in CNN_NAMES:
        cls = getattr(sr, name)
        params = _WAVEFORM if "n_samples" in cls().get_params() else _MEL
        # no shorter than the network allows (found on the meta device)
        net = ARCHITECTURES[cls._architecture].build(1, generator=None)
        length = "n_samples" if "n_samples" in params else "n_frames"
        yield cls(**{**params, length: max(params[length], net.min_length)})
    yield sr.MFCC(fix_length="zero")
    yield sr.RandomNetworkFeatures(
        small_network, n_frames=16, fix_length="zero", device="cpu", random_state=0
    )


# Checks that cannot apply to audio transformers, with the reason.
_AUDIO_ONLY = {
    "check_dtype_object": "object arrays are read as lists of file paths, not numbers",
    "check_estimators_dtypes": "integer arrays are not audio; they are rejected with a "
    "clear error asking for float samples",
    "check_transformer_data_not_an_array": "the check's _NotAnArray wrapper is "
    "neither a list of clips nor an array",
    "check_n_features_in": "a clip has no fixed number of features: any length is "
    "audio",
    "check_n_features_in_after_fitting": "fit-less audio transformer: clips of any "
    "length are valid input, there is no n_features_in_",
}


def _expected_failed(estimator):
    return _AUDIO_ONLY


def _stable_ids(mark):
    """``mark`` with test ids free of memory addresses (the user network's
    ``<function small_network at 0x...>``), which differ between the processes
    of a parallel run (pytest-xdist) and would make them collect other tests."""
    sklearn_id = mark.kwargs["ids"]
    return pytest.mark.parametrize(
        *mark.args, ids=lambda obj: re.sub(r"\s*at\s*0x[0-9a-f]+", "", sklearn_id(obj))
    )


@_stable_ids(
    parametrize_with_checks(list(_instances()), expected_failed_checks=_expected_failed)
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
