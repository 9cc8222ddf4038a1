"""Rank correlations between a static score and a downstream gain across RMs, with bootstrap
CIs that resample benchmark items and evaluation prompts (the measurement noise), not only RMs."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_RMS_FOR_CLAIMS = 5


@dataclass
class Measured:
    """Per-RM measurement built from per-unit values, so it can be recomputed on resamples."""
    name: str
    per_rm_units: dict  # rm -> array of per-unit values (items or prompts), aligned across RMs
    groups: np.ndarray | None = None  # stratum of each unit (benchmark subset), or None
    statistic: callable = None  # fn(values, unit_index) -> float

    def value(self, rm: str, idx=None) -> float:
        v = self.per_rm_units[rm]
        idx = np.arange(len(v)) if idx is None else idx
        return float(self.statistic(v, idx))

    def resample(self, rng) -> np.ndarray:
        n = len(next(iter(self.per_rm_units.values())))
        if self.groups is None:
            return rng.integers(0, n, n)
        return np.concatenate([rng.choice(np.flatnonzero(self.groups == g), size=(self.groups == g).sum())
                               for g in np.unique(self.groups)])


def _corr(kind: str, x, y) -> float:
    if len(set(np.round(x, 12))) < 2 or len(set(np.round(y, 12))) < 2:
        return float("nan")
    fn = stats.spearmanr if kind == "spearman" else stats.kendalltau
    return float(fn(x, y)[0])


def correlate(static: Measured, downstream: Measured, rms: list[str], iters: int, seed: int) -> dict:
    x = [static.value(r) for r in rms]
    y = [downstream.value(r) for r in rms]
    out = {"static": static.name, "downstream": downstream.name, "n_rms": len(rms),
           "static_values": dict(zip(rms, x)), "downstream_values": dict(zip(rms, y))}
    rng = np.random.default_rng(seed)
    boot = {"spearman": [], "kendall": []}
    for _ in range(iters):
        si, di = static.resample(rng), downstream.resample(rng)
        bx = [static.value(r, si) for r in rms]
        by = [downstream.value(r, di) for r in rms]
        for kind in boot:
            boot[kind].append(_corr(kind, bx, by))
    for kind, values in boot.items():
        v = np.asarray(values)
        v = v[~np.isnan(v)]
        ci = [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] if len(v) else [math.nan, math.nan]
        out[kind] = {"value": _corr(kind, x, y), "ci": ci}
    out["verdict"] = verdict(out)
    return out


def verdict(c: dict) -> str:
    rho, (lo, hi) = c["spearman"]["value"], c["spearman"]["ci"]
    head = f"{c['static']} vs {c['downstream']}: Spearman {rho:+.2f} (95% CI {lo:+.2f} to {hi:+.2f})"
    if c["n_rms"] < MIN_RMS_FOR_CLAIMS:
        return (f"{head}. Only {c['n_rms']} RMs: too few to support any claim about whether "
                f"the static ranking predicts the downstream one (need at least {MIN_RMS_FOR_CLAIMS}).")
    if math.isnan(rho):
        return f"{head}. Undefined: one of the rankings is constant."
    if lo > 0:
        return f"{head}. The static ranking predicts the downstream ranking."
    if hi < 0:
        return f"{head}. The static ranking is reversed downstream."
    return f"{head}. No reliable relation: the CI includes zero."
