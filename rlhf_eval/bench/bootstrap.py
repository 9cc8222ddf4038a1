"""Percentile bootstrap CIs for every number a metric function returns."""
from __future__ import annotations

from typing import Callable

import numpy as np

from rlhf_eval.bootstrap import percentile_interval, resample


def intervals(fn: Callable[[np.ndarray], dict[str, float]], n: int, strata: np.ndarray | None,
              iters: int, seed: int = 0) -> dict[str, list[float]]:
    """{metric: 95% [low, high]} from `iters` resamples of n units; NaN draws are skipped."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(iters):
        for k, v in fn(resample(rng, n, strata)).items():
            draws.setdefault(k, []).append(v)
    return {k: percentile_interval(vs) for k, vs in draws.items()}
