"""scikit-learn's common estimator checks over every public transformer."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import skaudio_random as sr
from skaudio_random.features import __all__ as CNN_NAMES

# The checks feed tiny 2-D float arrays (a few "samples" per row): pad them with
# silence to a short input so every network can run.
_WAVEFORM = dict(width=12, n_samples=2048, fix_length="zero", device="cpu", random_state=0)
_MEL = dict(width=12, n_frames=16, fix_length="zero", device="cpu", random_state=0)


def _instances():
    for name in CNN_NAMES:
        cls = getattr(sr, name)
        params = _WAVEFORM if "n_samples" in cls().get_params() else _MEL
        yield cls(**params)
    yield sr.MFCC(fix_length="zero")


# Checks that cannot apply to audio transformers, with the reason.
_AUDIO_ONLY = {
    "check_dtype_object": "object arrays are read as lists of file paths, not numbers",
    "check_estimators_dtypes": "integer arrays are not audio; they are rejected with a "
    "clear error asking for float samples",
    "check_transformer_data_not_an_array": "the check's _NotAnArray wrapper is neither a "
    "list of clips nor an array",
    "check_n_features_in": "a clip has no fixed number of features: any length is audio",
    "check_n_features_in_after_fitting": "fit-less audio transformer: clips of any length "
    "are valid input, there is no n_features_in_",
}


def _expected_failed(estimator):
    return _AUDIO_ONLY


@parametrize_with_checks(list(_instances()), expected_failed_checks=_expected_failed)
def test_sklearn_compatible(estimator, check):
    check(estimator)
