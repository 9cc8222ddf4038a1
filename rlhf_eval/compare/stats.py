"""Does the static ranking of RMs predict the downstream one? Correlations (Pearson, Spearman,
Kendall), pairwise rank agreement and plain-language verdicts, with bootstrap CIs.

Every number comes from per-unit values: a benchmark's items, a task's evaluation prompts. One
bootstrap draws, per iteration, a resample of every source's units (within subsets for
benchmarks) and recomputes every metric for every RM. A correlation's CI then also resamples the
RMs themselves on top of that, so it holds both the measurement noise (which items and prompts)
and the sampling of RMs (which RMs were trained); `ci_measurement` keeps the first part alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Callable

import numpy as np
from scipy import stats

MIN_RMS_FOR_CLAIMS = 5
KINDS = ("pearson", "spearman", "kendall")


@dataclass
class Source:
    """Per-unit values of one measurement for every RM, aligned across RMs, and the function that
    turns a subset of units into metrics: a benchmark (items) or a task (prompts)."""
    name: str
    units: dict  # rm -> array (units x columns) or (units,)
    groups: np.ndarray | None  # stratum of each unit (benchmark subset), or None
    metrics: Callable  # (values, unit index) -> {metric: float}
    kind: str  # "static" or "downstream"

    @property
    def n_units(self) -> int:
        return len(next(iter(self.units.values())))

    def resample(self, rng) -> np.ndarray:
        n = self.n_units
        if self.groups is None:
            return rng.integers(0, n, n)
        return np.concatenate([rng.choice(np.flatnonzero(self.groups == g), size=int((self.groups == g).sum()))
                               for g in np.unique(self.groups)])

    def evaluate(self, rms: list[str], idx=None) -> dict[str, np.ndarray]:
        """{metric: value per RM (nan where the RM lacks this source)}."""
        idx = np.arange(self.n_units) if idx is None else idx
        per_rm = {r: self.metrics(self.units[r], idx) for r in rms if r in self.units}
        names = list(dict.fromkeys(k for m in per_rm.values() for k in m))
        return {k: np.array([per_rm[r].get(k, np.nan) if r in per_rm else np.nan for r in rms], float)
                for k in names}


@dataclass
class Table:
    """Point values and bootstrap draws of every (source, metric) for every RM."""
    rms: list[str]
    point: dict  # (source, metric) -> array over RMs
    boot: dict  # (source, metric) -> array (iters x RMs)
    kind: dict  # (source, metric) -> "static" | "downstream"


def bootstrap_table(sources: list[Source], rms: list[str], iters: int, seed: int, progress=None) -> Table:
    rng = np.random.default_rng(seed)
    point, boot, kind = {}, {}, {}
    for s in sources:
        for m, v in s.evaluate(rms).items():
            point[(s.name, m)] = v
            kind[(s.name, m)] = s.kind
            boot[(s.name, m)] = np.full((iters, len(rms)), np.nan)
    for b in range(iters):
        for s in sources:
            for m, v in s.evaluate(rms, s.resample(rng)).items():
                if (s.name, m) in boot:
                    boot[(s.name, m)][b] = v
        if progress:
            progress(b + 1, iters)
    return Table(rms, point, boot, kind)


def corr(kind: str, x, y) -> float:
    """scipy's Pearson, Spearman or Kendall tau-b over the pairs where both are known; nan when
    fewer than 3 pairs remain or a side is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    fn = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[kind]
    return float(fn(x, y)[0])


def rowwise(kind: str, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """`corr` for every row of X and Y (bootstrap draws) at once; Kendall row by row."""
    if X.shape[1] < 3:
        return np.full(len(X), np.nan)
    if kind == "kendall":
        return np.array([corr(kind, a, b) for a, b in zip(X, Y)])
    if kind == "spearman":  # Pearson of average ranks, as scipy defines it
        X, Y = stats.rankdata(X, axis=1), stats.rankdata(Y, axis=1)
    X = X - X.mean(axis=1, keepdims=True)
    Y = Y - Y.mean(axis=1, keepdims=True)
    den = np.sqrt((X * X).sum(axis=1) * (Y * Y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (X * Y).sum(axis=1) / den
    r[~(den > 1e-12)] = np.nan
    return np.clip(r, -1.0, 1.0)


def quantiles(values) -> list[float]:
    """The 95% percentile interval of bootstrap draws, ignoring nan; [nan, nan] when none are left."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    return [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] if len(v) else [math.nan, math.nan]


def correlate(x, y, bx, by, seed: int = 0, kinds=KINDS) -> dict:
    """x, y: values per RM; bx, by: their bootstrap draws over units (iters x RMs). Each CI also
    resamples the RMs (the same RM draw for x and y); `ci_measurement` resamples units only.
    RMs missing on either side are left out."""
    x, y, bx, by = (np.asarray(a, float) for a in (x, y, bx, by))
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y, bx, by = x[ok], y[ok], bx[:, ok], by[:, ok]
    n, iters = len(x), len(bx)
    draws = np.random.default_rng(seed).integers(0, n, (iters, n)) if n else np.zeros((iters, 0), int)
    rows = np.arange(iters)[:, None]
    out = {"n_rms": int(n)}
    for kind in kinds:
        out[kind] = {"value": corr(kind, x, y),
                     "ci": quantiles(rowwise(kind, bx[rows, draws], by[rows, draws])) if n else [math.nan] * 2,
                     "ci_measurement": quantiles(rowwise(kind, bx, by)) if n else [math.nan] * 2}
    return out


def pairwise_agreement(rms: list[str], x, y, bx) -> dict:
    """Share of RM pairs whose static order matches the downstream order. A pair whose static
    difference's 95% bootstrap CI contains zero is within noise and counted apart; a pair tied
    downstream counts as a disagreement."""
    resolved = agree = noisy = noisy_agree = 0
    pairs = []
    for i, j in combinations(range(len(rms)), 2):
        if any(math.isnan(v) for v in (x[i], x[j], y[i], y[j])):
            continue
        lo, hi = quantiles(bx[:, i] - bx[:, j])
        same = np.sign(x[i] - x[j]) == np.sign(y[i] - y[j]) and y[i] != y[j] and x[i] != x[j]
        within = lo <= 0 <= hi
        pairs.append({"a": rms[i], "b": rms[j], "static_diff": float(x[i] - x[j]), "static_ci": [lo, hi],
                      "downstream_diff": float(y[i] - y[j]), "agree": bool(same), "within_noise": bool(within)})
        if within:
            noisy += 1
            noisy_agree += int(same)
        else:
            resolved += 1
            agree += int(same)
    return {"pairs": len(pairs), "resolved": resolved, "agree": agree,
            "share": agree / resolved if resolved else math.nan,
            "within_noise": noisy, "within_noise_agree": noisy_agree, "detail": pairs}


def classify(c: dict, n_rms: int) -> str:
    """One word for a Spearman correlation and its CI."""
    rho, (lo, hi) = c["spearman"]["value"], c["spearman"]["ci"]
    if n_rms < MIN_RMS_FOR_CLAIMS:
        return "too few RMs"
    if math.isnan(rho) or math.isnan(lo):
        return "undefined"
    if lo > 0:
        return "predicts"
    if hi < 0:
        return "reversed"
    return "no reliable relation"


def evidence(c: dict) -> str:
    s, p, a = c["spearman"], c["pearson"], c["agreement"]
    text = (f"Spearman {s['value']:+.2f} (95% CI {s['ci'][0]:+.2f} to {s['ci'][1]:+.2f}), "
            f"Pearson {p['value']:+.2f} ({p['ci'][0]:+.2f} to {p['ci'][1]:+.2f})")
    if a["pairs"]:
        text += (f"; the static order matches the downstream one in {a['agree']} of {a['resolved']} RM pairs "
                 f"it separates beyond noise")
        if a["within_noise"]:
            w = a["within_noise"]
            text += f" ({w} more {'pair is' if w == 1 else 'pairs are'} within noise on the benchmark)"
    return text


def cell_verdict(c: dict) -> str:
    """One line for one static metric against one downstream gain."""
    head = f"{c['static']} vs {c['downstream']}"
    if c["class"] == "too few RMs":
        return (f"{head}: only {c['n_rms']} RMs, too few to support any claim (at least {MIN_RMS_FOR_CLAIMS} "
                "are needed)")
    return f"{head}: {c['class']}; {evidence(c)}"


WORDS = {"predicts": "predicts", "reversed": "is reversed on", "no reliable relation": "shows no reliable relation to",
         "undefined": "cannot be related to (a ranking is constant)", "too few RMs": "-"}


def benchmark_verdict(benchmark: str, metric: str, cells: list[dict], n_rms: int) -> dict:
    """A plain-language verdict for one benchmark's headline metric against every downstream gain."""
    if n_rms < MIN_RMS_FOR_CLAIMS:
        text = (f"{benchmark} ({metric}): only {n_rms} RMs, too few to support any claim about whether its "
                f"ranking predicts the downstream one (at least {MIN_RMS_FOR_CLAIMS} are needed); the numbers "
                "describe these RMs only.")
    else:
        parts = [f"It {WORDS[c['class']]} {c['downstream']}: {evidence(c)}." for c in cells]
        text = (f"{benchmark} ({metric}), {n_rms} RMs. " + " ".join(parts)) if parts else \
            f"{benchmark}: no downstream results to compare with."
    return {"benchmark": benchmark, "metric": metric, "n_rms": n_rms, "text": text,
            "classes": {c["downstream"]: c["class"] for c in cells}}
