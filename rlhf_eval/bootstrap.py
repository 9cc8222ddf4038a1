"""Every bootstrap here (a leaf: benchmarks, best-of-n and the comparison import it): one resample
of units, stratified or not, the 95% percentile interval of draws, and percentile CIs for every
number a metric function returns (`intervals`, the benchmarks')."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

# The interval's tails, written out so that every CI is cut at the same two numbers.
TAILS = (0.025, 0.975)


def resample(rng, n: int, strata: np.ndarray | None) -> np.ndarray:
    """Indices of one resample; with strata, each stratum keeps its size (as RewardBench's
    subsets keep their weights)."""
    if strata is None:
        return rng.integers(0, n, n)
    return np.concatenate([rng.choice(idx, size=len(idx))
                           for idx in (np.flatnonzero(strata == g) for g in sorted(set(strata.tolist())))])


def percentile_interval(draws) -> list[float]:
    """The 95% percentile interval of 1-D bootstrap draws, ignoring nan; [nan, nan] when none are
    left. Draws of many values at once (draws x values) give [lows, highs], one per value."""
    v = np.asarray(draws, float)
    if v.ndim == 2:
        return [np.quantile(v, q, axis=0).tolist() for q in TAILS]
    v = v[~np.isnan(v)]
    return [float(np.quantile(v, q)) for q in TAILS] if len(v) else [math.nan, math.nan]


def intervals(fn: Callable[[np.ndarray], dict[str, float]], n: int, strata: np.ndarray | None,
              iters: int, seed: int = 0) -> dict[str, list[float]]:
    """{metric: 95% [low, high]} from `iters` resamples of n units; NaN draws are skipped."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(iters):
        for k, v in fn(resample(rng, n, strata)).items():
            draws.setdefault(k, []).append(v)
    return {k: percentile_interval(vs) for k, vs in draws.items()}
