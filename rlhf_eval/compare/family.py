"""A verdict table is one family of tests. Each cell (a static metric against a downstream
measure, across RMs) gets a p-value for "no monotone relation" from a permutation test over
RMs; Holm adjusts the family, so the chance of any false "predicts" or "reversed" anywhere in
the table stays at or below 5% under a global null; a max-|rho| permutation test answers "is
there any relation at all?"; and leaving one RM out names the RMs a verdict rests on.

Permutations are exact (every ordering of the RMs) up to EXACT_UP_TO RMs and Monte Carlo
(seeded, with the observed ordering counted, p = (b + 1) / (m + 1)) beyond. The statistic is
Spearman's rho: Pearson's correlation of average ranks, as scipy defines it.
"""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from scipy import stats

from rlhf_eval.compare.stats import rowwise

ALPHA = 0.05
MIN_RMS = 5  # below this no verdict is drawn at all
EXACT_UP_TO = 8  # 8! = 40,320 orderings
TOL = 1e-9  # |rho| equal to the observed one up to rounding counts as "at least as large"
ADJUSTMENT = ("Holm's adjustment keeps the chance of even one false 'predicts' or 'reversed' anywhere in the "
              "table at or below 5% when nothing relates; a cell's adjusted p is the smallest family-wise level "
              "at which it would be declared.")


# Cached (read-only): leave-one-out asks for the same orderings once per cell and per RM left out.
@functools.lru_cache(maxsize=16)
def orderings(n: int, permutations: int, seed: int) -> tuple[np.ndarray, bool]:
    """Every ordering of n RMs when there are at most 8! of them, else `permutations` random
    ones (seeded); and whether the set is exact."""
    if n <= EXACT_UP_TO:
        out, exact = np.array(list(itertools.permutations(range(n))), dtype=np.intp), True
    else:
        out, exact = np.random.default_rng(seed).permuted(np.tile(np.arange(n), (permutations, 1)), axis=1), False
    out.flags.writeable = False
    return out, exact


def _unit_ranks(v: np.ndarray) -> np.ndarray | None:
    """Average ranks, centred and scaled to length 1 (so a dot product is Spearman's rho);
    None for a constant vector."""
    r = stats.rankdata(v)
    r = r - r.mean()
    norm = math.sqrt(float(r @ r))
    return r / norm if norm > 1e-12 else None


def _rowwise_spearman(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Spearman of x against every row of Y over the pairs where both are known (nan where
    fewer than 3 remain or a side is constant)."""
    X = np.broadcast_to(x, Y.shape)
    ok = ~(np.isnan(X) | np.isnan(Y))
    if ok.all():
        return rowwise("spearman", X, Y)
    rx = stats.rankdata(np.where(ok, X, np.nan), axis=1, nan_policy="omit")
    ry = stats.rankdata(np.where(ok, Y, np.nan), axis=1, nan_policy="omit")
    with np.errstate(invalid="ignore", divide="ignore"):
        rx = np.nan_to_num(rx - np.nanmean(rx, axis=1, keepdims=True))
        ry = np.nan_to_num(ry - np.nanmean(ry, axis=1, keepdims=True))
        den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
        out = (rx * ry).sum(axis=1) / den
    out[(ok.sum(axis=1) < 3) | ~(den > 1e-12)] = np.nan
    return out


def permutation_test(x, y, permutations: int = 10_000, seed: int = 0) -> dict:
    """Two-sided permutation p for Spearman's rho over the RMs known on both sides: the share of
    orderings of y whose |rho| is at least the observed one. `rho` nan and p 1 when a side is
    constant (no ordering can show a relation); p nan below 3 RMs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = len(x)
    if n < 3:
        return {"rho": math.nan, "p": math.nan, "exact": True, "n": n}
    rx, ry = _unit_ranks(x), _unit_ranks(y)
    if rx is None or ry is None:
        return {"rho": math.nan, "p": 1.0, "exact": True, "n": n}
    rho = float(np.clip(rx @ ry, -1, 1))
    orders, exact = orderings(n, permutations, seed)
    null = np.abs(ry[orders] @ rx)
    hits = int((null >= abs(rho) - TOL).sum())
    p = hits / len(orders) if exact else (hits + 1) / (len(orders) + 1)
    return {"rho": rho, "p": float(min(p, 1.0)), "exact": exact, "n": n}


def holm(p) -> np.ndarray:
    """Holm's step-down adjustment; nan entries stay nan and are not counted in the family."""
    p = np.asarray(p, float)
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    if m:
        order = idx[np.argsort(p[idx], kind="stable")]
        out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def benjamini_hochberg(p) -> np.ndarray:
    """BH q-values (scipy's false_discovery_control); nan entries stay nan."""
    p = np.asarray(p, float)
    out = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def word(rho: float, p_adjusted: float, n: int, floor: bool = True) -> str:
    """The verdict word from the adjusted p and the sign of rho; `floor=False` skips the
    too-few-RMs rule (leave-one-out asks what the evidence alone says; a nan p reads as no
    relation)."""
    if floor and n < MIN_RMS:
        return "too few RMs"
    if p_adjusted < ALPHA and rho > 0:
        return "predicts"
    if p_adjusted < ALPHA and rho < 0:
        return "reversed"
    return "no reliable relation"


def _cells(static: dict, down: dict, pairs, permutations: int, seed: int, counted=None) -> list[dict]:
    """Each pair's test, Holm over the cells with at least MIN_RMS RMs, and the verdict word.
    `counted` (leave-one-out) fixes the family to the full study's and drops the too-few rule."""
    tests = [permutation_test(static[s], down[d], permutations, seed) for s, d in pairs]
    floor = counted is None
    counted = [t["n"] >= MIN_RMS for t in tests] if floor else counted
    adjusted = holm([t["p"] if keep else math.nan for t, keep in zip(tests, counted)])
    return [t | {"p_adjusted": float(a), "verdict": word(t["rho"], a, t["n"], floor)} for t, a in zip(tests, adjusted)]


def global_test(static: dict, down: dict, pairs, permutations: int = 10_000, seed: int = 0) -> dict:
    """Is there any relation at all? The largest |rho| over the family against its distribution
    when the RMs' downstream values are shuffled together (every downstream measure moves with
    its RM, so the correlations between measures are kept)."""
    n = len(next(iter(down.values())))
    observed = [abs(_rowwise_spearman(np.asarray(static[s], float), np.asarray(down[d], float)[None])[0])
                for s, d in pairs]
    if n < 3 or all(math.isnan(v) for v in observed):
        return {"max_abs_rho": math.nan, "p": math.nan, "exact": True, "n_rms": n, "cells": len(pairs)}
    orders, exact = orderings(n, permutations, seed + 1)
    null = np.full(len(orders), -np.inf)
    for s, d in pairs:
        r = np.abs(_rowwise_spearman(np.asarray(static[s], float), np.asarray(down[d], float)[orders]))
        null = np.fmax(null, np.where(np.isnan(r), -np.inf, r))
    t = float(np.nanmax(observed))
    hits = int((null >= t - TOL).sum())
    p = hits / len(orders) if exact else (hits + 1) / (len(orders) + 1)
    return {"max_abs_rho": t, "p": float(min(p, 1.0)), "exact": exact, "n_rms": n, "cells": len(pairs)}


@functools.lru_cache(maxsize=64)
def declarable(n: int, family_size: int, permutations: int = 100_000, seed: int = 0) -> float | None:
    """The smallest |rho| that one cell over n RMs (no ties) can be declared with, when it is the
    strongest of `family_size` cells (Holm's first step: p * size < 0.05); None when no |rho|,
    not even 1, can."""
    if n < 3 or family_size < 1:
        return None
    orders, exact = orderings(n, permutations, seed)
    base = np.arange(n, dtype=float)
    null = np.sort(np.abs(_rowwise_spearman(base, base[orders])))
    levels = np.unique(np.round(null, 9))
    hits = len(null) - np.searchsorted(null, levels - TOL, side="left")  # orderings with |rho| >= level
    p = hits / len(null) if exact else (hits + 1) / (len(null) + 1)
    ok = levels[p * family_size < ALPHA]
    return round(float(ok.min()), 3) if len(ok) else None


def assess(rms: list[str], static: dict, down: dict, pairs, permutations: int = 10_000, seed: int = 0,
           leave_one_out: bool = True) -> dict:
    """The family over `pairs` (static name, downstream name): per cell rho, p, Holm-adjusted p,
    verdict word and the RMs it rests on (leaving one RM out of the whole study changes the word;
    `without` gives the word then); the global max-|rho| test; the smallest |rho| declarable."""
    static = {k: np.asarray(v, float) for k, v in static.items()}
    down = {k: np.asarray(v, float) for k, v in down.items()}
    cells = _cells(static, down, pairs, permutations, seed)
    for c in cells:
        c["rests_on"], c["without"] = [], {}
    if leave_one_out and len(rms) >= MIN_RMS:
        for i, rm in enumerate(rms):
            keep = np.arange(len(rms)) != i
            loo = _cells({k: v[keep] for k, v in static.items()}, {k: v[keep] for k, v in down.items()}, pairs,
                         permutations, seed, counted=[c["verdict"] != "too few RMs" for c in cells])
            for c, other in zip(cells, loo):
                if c["verdict"] != "too few RMs" and other["verdict"] != c["verdict"]:
                    c["rests_on"].append(rm)
                    c["without"][rm] = other["verdict"]
    size = sum(1 for c in cells if not math.isnan(c["p_adjusted"]))
    n = max((c["n"] for c in cells), default=0)
    return {"cells": cells, "size": size, "alpha": ALPHA, "adjustment": "holm", "explained": ADJUSTMENT,
            "global": global_test(static, down, pairs, permutations, seed) if pairs else None,
            "declarable": {"n_rms": n, "family": declarable(n, size) if size else None,
                           "one_cell": declarable(n, 1)}}
