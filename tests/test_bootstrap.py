"""The shared bootstrap pieces: the 95% percentile interval by hand, and a stratified resample
that keeps every stratum's size."""
import math

import numpy as np

from rlhf_eval.bootstrap import percentile_interval, resample


def test_percentile_interval_by_hand():
    draws = np.arange(41.0)  # 0..40: the 2.5% and 97.5% points are 1 and 39 exactly (linear interpolation)
    assert percentile_interval(draws) == [1.0, 39.0]
    assert percentile_interval(np.append(draws, [np.nan, np.nan])) == [1.0, 39.0]  # nan draws are skipped
    assert all(math.isnan(v) for v in percentile_interval([np.nan]))
    lows, highs = percentile_interval(np.stack([draws, 2 * draws], axis=1))  # one interval per column
    assert lows == [1.0, 2.0] and highs == [39.0, 78.0]


def test_stratified_resample_keeps_each_stratum_size():
    strata = np.array([0] * 3 + [1] * 7 + [2] * 1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = resample(rng, len(strata), strata)
        assert np.bincount(strata[idx]).tolist() == [3, 7, 1]
    assert len(resample(rng, 5, None)) == 5
