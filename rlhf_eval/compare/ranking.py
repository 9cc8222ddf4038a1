"""Which static metric predicts a downstream gain better: for two static metrics and one
downstream measure, the difference of their Spearman correlations with the downstream one, with a
95% interval from a paired bootstrap over RMs (one RM draw for all three columns, so the
correlations' shared noise cancels in the difference), and the static metrics ranked by it.

This is the population level only (RMs resampled), like the correlations' `ci`; its coverage of
the true difference is measured in `power.difference_coverage` (docs/compare.md)."""
from __future__ import annotations

import math

import numpy as np

from rlhf_eval.bootstrap import percentile_interval
from rlhf_eval.compare.stats import corr, rowwise

MIN_RMS = 4  # below this a resample of RMs leaves too few distinct values to rank


def spearman_difference(a, b, y, iters: int = 1000, seed: int = 0) -> dict:
    """rho(a, y) - rho(b, y) over the RMs known on all three, with its paired bootstrap CI."""
    a, b, y = (np.asarray(v, float) for v in (a, b, y))
    ok = ~(np.isnan(a) | np.isnan(b) | np.isnan(y))
    a, b, y = a[ok], b[ok], y[ok]
    n = len(a)
    value = corr("spearman", a, y) - corr("spearman", b, y) if n >= 3 else math.nan
    if n < MIN_RMS:
        return {"difference": value, "ci": [math.nan, math.nan], "n_rms": int(n)}
    draws = np.random.default_rng(seed).integers(0, n, (iters, n))
    diff = rowwise("spearman", a[draws], y[draws]) - rowwise("spearman", b[draws], y[draws])
    return {"difference": float(value), "ci": percentile_interval(diff), "n_rms": int(n)}


def rank_statics(statics: dict, down: np.ndarray, iters: int, seed: int) -> dict:
    """The static metrics (name -> values over RMs) ordered by their Spearman with `down`, and
    every pair's difference with its interval; `better` names the pairs whose interval excludes 0."""
    rho = {name: corr("spearman", v, down) for name, v in statics.items()}
    order = sorted(statics, key=lambda k: (-rho[k] if rho[k] == rho[k] else math.inf, k))
    pairs = []
    for i, first in enumerate(order):
        for second in order[i + 1:]:
            d = spearman_difference(statics[first], statics[second], down, iters, seed)
            lo, hi = d["ci"]
            pairs.append({"a": first, "b": second, **d,
                          "better": first if lo > 0 else second if hi < 0 else None})
    return {"ranked": [{"static": k, "spearman": rho[k]} for k in order], "pairs": pairs}
