"""Statistics of the premise study: ties among accuracies (issue 20, section 5)."""

import numpy as np
import pytest

from skaudio_random.premise import merge_float_ties, rank_correlation

# Two architectures with the same correct counts on the same five test folds
# of 96 clips: their mean accuracy is 23/96 either way, but float sums taken
# in a different order differ in the last bit.
_FOLDS_A = [22 / 96, 24 / 96, 23 / 96, 21 / 96, 25 / 96]
_FOLDS_B = [22 / 96, 24 / 96, 21 / 96, 25 / 96, 23 / 96]
_MEAN_A = sum(_FOLDS_A) / 5
_MEAN_B = sum(_FOLDS_B) / 5


def test_float_means_of_equal_counts_are_tied():
    assert _MEAN_A != _MEAN_B  # the premise of the test: 0.2395...334 vs ...331
    trained = {"a": 0.5, "b": 0.6, "c": 0.7, "d": 0.8}
    noisy = rank_correlation({"a": _MEAN_A, "b": _MEAN_B, "c": 0.4, "d": 0.3}, trained)
    exact = rank_correlation({"a": 23 / 96, "b": 23 / 96, "c": 0.4, "d": 0.3}, trained)
    assert noisy.spearman == exact.spearman
    assert noisy.kendall == exact.kendall
    assert noisy.spearman_pvalue == exact.spearman_pvalue
    assert noisy.kendall_pvalue == exact.kendall_pvalue
    assert "2 of 4 random accuracies are tied" in " ".join(noisy.notes)
    # the accuracies are reported as given
    assert noisy.random[0] == _MEAN_A and noisy.random[1] == _MEAN_B


def test_float_means_of_equal_counts_are_constant():
    flat = rank_correlation(
        {"a": 0.5, "b": 0.6, "c": 0.7}, {"a": _MEAN_A, "b": _MEAN_B, "c": 23 / 96}
    )
    assert np.isnan(flat.spearman)
    assert "all trained accuracies are equal" in flat.notes[0]


def test_distinct_ratios_are_not_tied():
    # neighbouring ratios of counts over 3000 and 2999 test clips stay apart
    r = rank_correlation(
        {"a": 1500 / 3000, "b": 1500 / 2999, "c": 0.9},
        {"a": 0.1, "b": 0.2, "c": 0.3},
    )
    assert r.notes == [] and r.spearman == pytest.approx(1.0)


def test_merge_float_ties():
    merged = merge_float_ties([0.3, _MEAN_B, 0.1, _MEAN_A, 0.3 + 2e-9])
    assert merged[1] == merged[3] == min(_MEAN_A, _MEAN_B)
    assert list(merged[[0, 2, 4]]) == [0.3, 0.1, 0.3 + 2e-9]
    with pytest.raises(ValueError, match="values must be a 1-d array of finite"):
        merge_float_ties([0.1, np.nan])
