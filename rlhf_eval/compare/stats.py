"""Does the static ranking of RMs predict the downstream one? Correlations (Pearson, Spearman,
Kendall) across RMs, with the variance at the right level of the hierarchy.

The data are nested: RMs (the population a verdict speaks about), and inside each RM the units it
was measured on (benchmark items, evaluation prompts, or RL training seeds). Each RM's observed
value already carries its own measurement noise, so:

- the population CI (`ci`) resamples the RMs only, the top level;
- `ci_measurement` resamples the units only, RMs fixed: how much the same RMs would move if
  measured again (a diagnostic, not a population statement);
- each metric's `reliability` is the share of its variance across RMs that is not measurement
  noise, with the noise of each RM's value estimated from the unit bootstrap;
- the `disattenuated` correlation divides by sqrt(reliability_x * reliability_y) (Spearman's
  correction for attenuation): an estimate of the correlation between the RMs' true qualities,
  with its own CI from the same RM-level resampling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import stats

from rlhf_eval.bootstrap import percentile_interval, resample
from rlhf_eval.compare.measures import measure

METHODS = ("pearson", "spearman", "kendall")


@dataclass(frozen=True)
class Seeded:
    """An RM trained with several seeds: its per-unit values for each seed (the same units in the
    same order). Its value is the mean over seeds of the metric on each. Seeds are the top level
    of its measurement: compare's draws resample them as well as the units, and its noise is that
    of seeds crossed with units (`seed_noise`)."""
    seeds: tuple
    values: tuple  # one array per seed, each (units x columns) or (units,)

    @classmethod
    def of(cls, by_seed: dict):
        """The per-unit values of one RM from {seed: values}: the array itself with one seed."""
        if len(by_seed) == 1:
            return next(iter(by_seed.values()))
        order = sorted(by_seed, key=str)
        return cls(tuple(order), tuple(by_seed[s] for s in order))


def first_units(units):
    return units.values[0] if isinstance(units, Seeded) else units


@dataclass
class Source:
    """Per-unit values of one measurement for every RM, aligned across RMs, and the function that
    turns a subset of units into metrics: a benchmark (items) or a task (prompts)."""
    name: str
    units: dict  # rm -> array (units x columns) or (units,), or a Seeded of them
    groups: np.ndarray | None  # stratum of each unit (benchmark subset), or None
    metrics: Callable  # (values, unit index) -> {metric: float}
    side: str  # "static" or "downstream"
    unit: str = "units"  # what a unit is: items, prompts, seeds
    # About each metric: metric -> {"short": "bo16" (its narrow column), "family": "best-of-n
    # gain", "rank": 16 (of a family, the terminal's RM table keeps the highest), "reads": what it
    # is computed from (two measures that read the same data are not put in one verdict),
    # "resolution": the smallest step its mean can move by}.
    labels: dict = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return len(first_units(next(iter(self.units.values()))))

    def resample(self, rng) -> np.ndarray:
        return resample(rng, self.n_units, self.groups)

    def draw(self, rng) -> tuple:
        """One two-level resample: the units (shared by every RM and seed, as the benchmark's
        items are), then each seeded RM's seeds. Sources without seeds draw as they always did."""
        idx = self.resample(rng)
        picks = {r: rng.integers(0, len(u.seeds), len(u.seeds)) for r, u in self.units.items()
                 if isinstance(u, Seeded)}
        return idx, picks

    def evaluate(self, rms: list[str], idx=None, picks: dict | None = None) -> dict[str, np.ndarray]:
        """{metric: value per RM (nan where the RM lacks this source)}; a seeded RM's is the mean
        over its seeds (those of `picks`, when given) of the metric on each."""
        return self.evaluate_seeds(rms, idx, picks)[0]

    def evaluate_seeds(self, rms: list[str], idx=None, picks: dict | None = None) -> tuple[dict, dict]:
        """`evaluate`, and {metric: {RM's index: its value on each of its seeds (all of them, on
        these units)}} for the seeded RMs."""
        idx = np.arange(self.n_units) if idx is None else idx
        per_rm, per_seed = {}, {}
        for i, r in enumerate(rms):
            u = self.units.get(r)
            if u is None:
                continue
            if not isinstance(u, Seeded):
                per_rm[i] = self.metrics(u, idx)
                continue
            each = [self.metrics(v, idx) for v in u.values]
            for k in dict.fromkeys(k for m in each for k in m):
                v = np.array([m.get(k, np.nan) for m in each], float)
                per_seed.setdefault(k, {})[i] = v
                chosen = v if picks is None or r not in picks else v[picks[r]]
                per_rm.setdefault(i, {})[k] = float(np.nanmean(chosen)) if (~np.isnan(chosen)).any() else math.nan
        names = list(dict.fromkeys(k for m in per_rm.values() for k in m))
        return ({k: np.array([per_rm.get(i, {}).get(k, np.nan) for i in range(len(rms))], float) for k in names},
                per_seed)


@dataclass
class Table:
    """Point values, unit-bootstrap draws and measurement variance of every (source, metric) for
    every RM."""
    rms: list[str]
    point: dict  # (source, metric) -> array over RMs
    boot: dict  # (source, metric) -> array (iters x RMs)
    side: dict  # (source, metric) -> "static" | "downstream"
    units: dict  # (source, metric) -> number of units its source resamples
    unit: dict  # (source, metric) -> what a unit is
    # Seeded RMs, (source, metric) -> {RM's index: (its value on each seed, those values on every
    # draw of the units with the seeds fixed (iters x seeds))}.
    seeded: dict = field(default_factory=dict)

    def seeds(self, key) -> np.ndarray:
        """Each RM's number of training seeds in this measure."""
        out = np.ones(len(self.rms), int)
        for i, (values, _) in self.seeded.get(key, {}).items():
            out[i] = len(values)
        return out

    def noise(self, key) -> np.ndarray:
        """Each RM's measurement variance. With S training seeds crossed with the same n items,
        `seed_noise` (a two-way random-effects decomposition); otherwise the unit bootstrap's."""
        v = measurement_variance(self.boot[key], self.units[key])
        for i, (values, draws) in self.seeded.get(key, {}).items():
            v[i] = seed_noise(values, draws)[0]
        return v

    def interval(self, key, i: int) -> list[float]:
        """RM i's 95% interval: the percentile interval of its draws; with S training seeds, mean
        -+ t x its measurement SD, with Satterthwaite's degrees of freedom (S-1 where seed variance
        dominates), since a percentile bootstrap of 2-5 seeds covers badly (`seed_interval`)."""
        found = self.seeded.get(key, {}).get(i)
        if found is None:
            return percentile_interval(self.boot[key][:, i])
        var, dof = seed_noise(*found)
        half = float(stats.t.ppf(0.975, dof)) * math.sqrt(var)
        return [float(self.point[key][i]) - half, float(self.point[key][i]) + half]


def seed_noise(values: np.ndarray, draws: np.ndarray) -> tuple[float, float]:
    """(variance, degrees of freedom) of the mean over S seeds of a metric measured on n items
    that every seed shares: seed var / S + item var / n + residual / (S n), the crossed two-way
    random-effects design. From
      A = var(per-seed values, ddof=1) / S  (= seed/S + residual/(S n)),
      B = the unit bootstrap's variance of the seed mean  (= item/n + residual/(S n)),
      V = the mean over seeds of each seed's own unit-bootstrap variance  (= item/n + residual/n),
    it is A + B - (V - B) / (S - 1), kept at least max(A, B), which it is in expectation. The
    degrees of freedom are Satterthwaite's: A is known from S - 1, the rest from many units."""
    values, draws = np.asarray(values, float), np.asarray(draws, float)
    ok = ~np.isnan(values)
    values, draws = values[ok], draws[:, ok]
    s = len(values)
    if s < 2:
        return math.nan, math.nan
    a = float(np.var(values, ddof=1)) / s
    b = float(np.nanvar(np.nanmean(draws, axis=1), ddof=1))
    v = float(np.nanmean(np.nanvar(draws, axis=0, ddof=1)))
    var = max(a + b - (v - b) / (s - 1), a, b)
    dof = (s - 1) * (var / a) ** 2 if a > 0 else math.inf
    return var, max(dof, s - 1)


def measurement_variance(boot: np.ndarray, n_units: int | None = None) -> np.ndarray:
    """Each RM's measurement variance: the variance of its unit-bootstrap draws, times n/(n-1)
    when the number of units n is given, so that for a mean it estimates var(unit)/n without the
    bootstrap's shrinkage (which matters when the units are a handful of training seeds)."""
    boot = np.asarray(boot, float)
    v = np.full(boot.shape[1], np.nan)
    ok = (~np.isnan(boot)).sum(axis=0) > 1
    v[ok] = np.nanvar(boot[:, ok], axis=0, ddof=1)
    if n_units is None:
        return v
    return v * (n_units / (n_units - 1) if n_units > 1 else np.nan)


def bootstrap_table(sources: list[Source], rms: list[str], iters: int, seed: int, progress=None) -> Table:
    """Every source's metrics for every RM, and `iters` draws of them. A draw resamples a source's
    units (shared by every RM and seed) and each seeded RM's seeds; the seeds-fixed draws of the
    seeded RMs are kept too, for their noise (`seed_noise`)."""
    rng = np.random.default_rng(seed)
    point, boot, side, units, unit, seeded = {}, {}, {}, {}, {}, {}
    for s in sources:
        values, per_seed = s.evaluate_seeds(rms)
        for m, v in values.items():
            key = (s.name, m)
            point[key], side[key], units[key], unit[key] = v, s.side, s.n_units, s.unit
            boot[key] = np.full((iters, len(rms)), np.nan)
            seeded[key] = {i: (vals, np.full((iters, len(vals)), np.nan)) for i, vals in per_seed.get(m, {}).items()}
    for b in range(iters):
        for s in sources:
            values, per_seed = s.evaluate_seeds(rms, *s.draw(rng))
            for m, v in values.items():
                if (s.name, m) in boot:
                    boot[(s.name, m)][b] = v
                    for i, vals in per_seed.get(m, {}).items():
                        seeded[(s.name, m)][i][1][b] = vals
        if progress:
            progress(b + 1, iters)
    return Table(rms, point, boot, side, units, unit, {k: v for k, v in seeded.items() if v})


def corr(method: str, x, y) -> float:
    """scipy's Pearson, Spearman or Kendall tau-b over the pairs where both are known; nan when
    fewer than 3 pairs remain or a side is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    fn = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[method]
    return float(fn(x, y)[0])


def rowwise(method: str, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """`corr` for every row of X and Y (bootstrap draws) at once; Kendall row by row."""
    if X.shape[1] < 3:
        return np.full(len(X), np.nan)
    if method == "kendall":
        return np.array([corr(method, a, b) for a, b in zip(X, Y)])
    if method == "spearman":  # Pearson of average ranks, as scipy defines it
        X, Y = stats.rankdata(X, axis=1), stats.rankdata(Y, axis=1)
    X = X - X.mean(axis=1, keepdims=True)
    Y = Y - Y.mean(axis=1, keepdims=True)
    den = np.sqrt((X * X).sum(axis=1) * (Y * Y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (X * Y).sum(axis=1) / den
    r[~(den > 1e-12)] = np.nan
    return np.clip(r, -1.0, 1.0)


def reliability(values, noise) -> float:
    """Share of the variance across RMs that is not measurement noise: 1 - mean(noise) /
    var(values), with var across RMs (ddof=1); nan when the RMs do not vary. Can fall below 0
    when the RMs differ less than their noise."""
    total = float(np.var(np.asarray(values, float), ddof=1))
    return 1.0 - float(np.mean(noise)) / total if total > 1e-15 else math.nan


def disattenuate(r, rel_x: float, rel_y: float):
    """Spearman's correction, r / sqrt(rel_x * rel_y), clipped to [-1, 1]; nan where a
    reliability is not positive (the RMs' true qualities are not resolved at all)."""
    if not (rel_x > 0 and rel_y > 0):
        return np.full(np.shape(r), np.nan)
    return np.clip(np.asarray(r, float) / math.sqrt(rel_x * rel_y), -1.0, 1.0)


def correlate(x, y, bx, by, seed: int = 0, methods=METHODS, noise_x=None, noise_y=None) -> dict:
    """x, y: values per RM; bx, by: their unit-bootstrap draws (draws x RMs). `noise_x`/`noise_y`:
    each RM's measurement variance (default: the variance of its draws). RMs missing on either
    side are left out.

    Per method: `value`; `ci`, which resamples RMs only (the same RM draw for x and y);
    `ci_measurement`, which resamples units only; `disattenuated` and `disattenuated_ci`, the
    value and the ends of `ci` corrected by the reliabilities (Hunter and Schmidt's way; [-1, 1]
    when a reliability is not positive). Plus `reliability` of each side.

    Correcting the ends beat a percentile interval of per-draw corrected values in simulation: a
    resample of few RMs often has a tiny reliability, and dividing by it skews the draws upward
    (coverage table in docs/compare.md)."""
    x, y, bx, by = (np.asarray(a, float) for a in (x, y, bx, by))
    nx = measurement_variance(bx) if noise_x is None else np.asarray(noise_x, float)
    ny = measurement_variance(by) if noise_y is None else np.asarray(noise_y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y, bx, by, nx, ny = x[ok], y[ok], bx[:, ok], by[:, ok], nx[ok], ny[ok]
    n, iters = len(x), len(bx)
    nan2 = [math.nan, math.nan]
    rel_x, rel_y = (reliability(v, e) if n > 2 else math.nan for v, e in ((x, nx), (y, ny)))
    out = {"n_rms": int(n), "reliability": {"static": rel_x, "downstream": rel_y}}
    draws = np.random.default_rng(seed).integers(0, n, (iters, n)) if n else np.zeros((iters, 0), int)
    xd, yd = x[draws], y[draws]
    for method in methods:
        value = corr(method, x, y)
        if n < 3:
            out[method] = {"value": value, "ci": nan2, "ci_measurement": nan2, "disattenuated": math.nan,
                           "disattenuated_ci": nan2}
            continue
        ci = percentile_interval(rowwise(method, xd, yd))
        resolved = rel_x > 0 and rel_y > 0
        corrected = [float(v) for v in disattenuate(ci, rel_x, rel_y)] if resolved else [-1.0, 1.0]
        out[method] = {"value": value, "ci": ci, "ci_measurement": percentile_interval(rowwise(method, bx, by)),
                       "disattenuated": float(disattenuate(value, rel_x, rel_y)), "disattenuated_ci": corrected}
    return out


def seed_interval(gains) -> dict:
    """Mean of per-seed values with a 95% Student-t interval across seeds, the top level of an RL
    measurement. With 2-5 seeds a percentile bootstrap covers badly (3 seeds give 10 distinct
    resamples); the t interval is exact for normal seed-to-seed variation. One seed: no interval."""
    g = np.asarray(gains, float)
    mean = float(g.mean())
    if len(g) < 2:
        return {"mean": mean, "ci": [math.nan, math.nan], "sd": math.nan, "seeds": len(g)}
    sd = float(g.std(ddof=1))
    half = float(stats.t.ppf(0.975, len(g) - 1)) * sd / math.sqrt(len(g))
    return {"mean": mean, "ci": [mean - half, mean + half], "sd": sd, "seeds": len(g)}


def correlate_measures(x, y, draws: int, seed: int = 0, methods=METHODS) -> dict:
    """`correlate` for two `measures.Measure`s. A side whose noise is unknown (an RM gave a mean
    alone) has reliability None, and the disattenuated correlation and the measurement-only CI
    are None: nothing says how far these values would move if measured again."""
    known = x.noise is not None and y.noise is not None
    n = len(x.point)
    # A side without draws repeats its values: correlate takes its number of RM-level draws
    # from them, and the measurement-only CI built on them is dropped below.
    bx = x.draws if x.noise is not None else np.tile(x.point, (draws, 1))
    by = y.draws if y.noise is not None else np.tile(y.point, (draws, 1))
    out = correlate(x.point, y.point, bx, by, seed=seed, methods=methods,
                    noise_x=x.noise if x.noise is not None else np.zeros(n),
                    noise_y=y.noise if y.noise is not None else np.zeros(n))
    for side, m in (("static", x), ("downstream", y)):
        if m.noise is None:
            out["reliability"][side] = None
    if not known:
        for method in methods:
            out[method].update(ci_measurement=None, disattenuated=None, disattenuated_ci=None)
    return out


def correlate_units(static: dict, downstream: dict, method: str = "spearman", draws: int = 1000, seed: int = 0) -> dict:
    """The public entry point for one correlation with your own numbers. `static` and
    `downstream` map an RM's name to its per-unit values (a 1-D array: benchmark items;
    evaluation prompts or RL seeds), a `(mean, se)` tuple, or a mean alone
    (`rlhf_eval.compare.measures`). RMs present on both sides are correlated.

    Returns `value`, `ci` (RMs resampled), `ci_measurement` (units resampled, or normal draws
    of the stated SEs), `reliability` (static, downstream), `disattenuated` and
    `disattenuated_ci`, plus `n_rms`. With means alone the reliabilities are None, and so are
    the numbers built on them."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    rms = [r for r in static if r in downstream]
    rng = np.random.default_rng(seed)
    x = measure({r: static[r] for r in rms}, rms, draws, rng, "static")
    y = measure({r: downstream[r] for r in rms}, rms, draws, rng, "downstream")
    c = correlate_measures(x, y, draws, seed=seed, methods=(method,))
    return c[method] | {"reliability": c["reliability"], "n_rms": c["n_rms"], "method": method}
