"""Exact best-of-n from one pass of N_max samples.

For a prompt with N candidates ranked by RM score, a uniformly random n-subset picks its
top-scored member. A group of tied candidates occupying ranks [a, b) is the subset's top group
with probability (C(N - a, n) - C(N - b, n)) / C(N, n), and the pick is then uniform within the
group's members in the subset, so by symmetry the group contributes its mean gold value. With no
ties this is the order-statistic weight C(N - i - 1, n - 1) / C(N, n) for rank i.

The binomials are exact integers and each weight is their ratio, taken with Python's integer
true division, which is correctly rounded at any size: N = 1100, n = 550 has C(N, n) ~ 1e329,
past float range, and still gives weights in [0, 1].
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import comb

from rlhf_eval.bootstrap import percentile_interval


def per_prompt_best_of_n(scores, gold, n: int) -> np.ndarray:
    """Expected gold value of the best-of-n pick, one value per prompt (shape (prompts,))."""
    scores, gold = np.asarray(scores, dtype=float), np.asarray(gold, dtype=float)
    if scores.shape != gold.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and gold {gold.shape} must both be (prompts, N_max)")
    total = scores.shape[1]
    if not 1 <= n <= total:
        raise ValueError(f"n={n} must be within 1..N_max={total}")
    denom = comb(total, n, exact=True)
    out = np.empty(scores.shape[0])
    for p in range(scores.shape[0]):
        order = np.argsort(-scores[p], kind="stable")
        s, g = scores[p][order], gold[p][order]
        value, a = 0.0, 0
        while a < total:
            b = a
            while b < total and s[b] == s[a]:
                b += 1
            weight = comb(total - a, n, exact=True) - comb(total - b, n, exact=True)
            if weight:
                value += (weight / denom) * g[a:b].mean()
            a = b
        out[p] = value
    return out


def expected_best_of_n(scores, gold, n: int) -> float:
    """Mean over prompts of the exact expected gold value of best-of-n, ties split evenly."""
    return float(per_prompt_best_of_n(scores, gold, n).mean())


def oracle_curve(gold, n: int) -> float:
    """Best possible pick among n (pass@n for 0/1 gold)."""
    return expected_best_of_n(gold, gold, n)


def anti_oracle_curve(gold, n: int) -> float:
    """Worst possible pick among n."""
    return -expected_best_of_n(-np.asarray(gold, float), -np.asarray(gold, float), n)


def kl_bound(n: int) -> float:
    """KL(best-of-n || base) <= log n - (n - 1) / n."""
    return math.log(n) - (n - 1) / n


def bootstrap_mean_ci(values, iters: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean, resampling the values (prompts)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    lo, hi = percentile_interval(values[rng.integers(0, len(values), size=(iters, len(values)))].mean(axis=1))
    return lo, hi
