"""How much could a study see? Simulated populations of RMs with a known correlation between
static and downstream quality, measured with stated noise, pushed through the same statistics as
the compare stage (`stats.correlate`): the coverage of every CI, the power of a verdict, the
smallest correlation a design detects and the number of RMs a correlation needs.

A side (static or downstream) is described by its reliability: the share of the variance across
RMs that is not measurement noise. The true qualities are standard bivariate normal with
correlation `rho`; each RM's observed value adds normal noise of variance (1 - R) / R, and its
estimated noise is a chi-square draw around the truth, as a sample variance over `units` units is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from rlhf_eval.compare.family import ALPHA, permutation_test
from rlhf_eval.compare.stats import correlate

POWER_TARGET = 0.8


@dataclass(frozen=True)
class Design:
    n_rms: int
    reliability_static: float = 1.0
    reliability_downstream: float = 1.0
    units_static: int = 100  # degrees of freedom behind each RM's noise estimate, plus one
    units_downstream: int = 100


def spearman_of_normal(rho: float) -> float:
    """Population Spearman correlation of a bivariate normal with Pearson correlation rho."""
    return 6 / math.pi * math.asin(rho / 2)


def simulate(design: Design, rho: float, rng) -> tuple:
    """One study: observed values, their unit-bootstrap stand-ins and noise estimates per RM."""
    k = design.n_rms
    s = rng.normal(size=k)
    d = rho * s + math.sqrt(1 - rho ** 2) * rng.normal(size=k)
    out = []
    for true, rel, units in ((s, design.reliability_static, design.units_static),
                             (d, design.reliability_downstream, design.units_downstream)):
        var = (1 - rel) / rel
        observed = true + rng.normal(0, math.sqrt(var), k)
        noise = var * rng.chisquare(units - 1, k) / (units - 1) if var > 0 else np.zeros(k)
        out += [observed, noise]
    return tuple(out)


PERMUTATIONS = 2000  # orderings per simulated study beyond 8 RMs: enough for p near 0.05


def replicate(design: Design, rho: float, reps: int, draws: int, seed: int,
              methods=("pearson", "spearman")) -> list[dict]:
    """`reps` simulated studies, each analysed by `correlate` with `draws` RM-level draws and by
    the verdict's permutation test (`p`). The measurement-only CI is drawn from the stated noise
    (normal draws around each RM's value)."""
    rng = np.random.default_rng(seed)
    results = []
    for rep in range(reps):
        x, nx, y, ny = simulate(design, rho, rng)
        bx = x + rng.normal(size=(draws, len(x))) * np.sqrt(nx)
        by = y + rng.normal(size=(draws, len(y))) * np.sqrt(ny)
        c = correlate(x, y, bx, by, seed=seed * 100_003 + rep, methods=methods, noise_x=nx, noise_y=ny)
        c["p"] = permutation_test(x, y, PERMUTATIONS, seed=rep)["p"]
        results.append(c)
    return results


def detected(c: dict, alpha: float = ALPHA) -> bool:
    """The verdict "predicts": permutation p below `alpha` and rho above 0. For one cell alone
    alpha is 0.05; as the strongest of k cells Holm asks p below 0.05 / k."""
    return c["p"] < alpha and c["spearman"]["value"] > 0


def coverage(design: Design, rho: float, reps: int = 200, draws: int = 500, seed: int = 0) -> dict:
    """Share of simulated studies whose CIs cover their targets: `ci` covers the correlation of the
    measured values (attenuated by the reliabilities), `disattenuated_ci` the true rho, and
    `ci_measurement` is checked against the attenuated value too. `detects`: the verdict
    "predicts" for one cell alone (`detected`)."""
    att = rho * math.sqrt(design.reliability_static * design.reliability_downstream)
    targets = {"pearson": (att, rho), "spearman": (spearman_of_normal(att), spearman_of_normal(rho))}
    res = replicate(design, rho, reps, draws, seed)
    out = {"reps": reps}
    def cov(method, field, t):
        return float(np.mean([c[method][field][0] <= t <= c[method][field][1] for c in res]))
    for method, (t_obs, t_true) in targets.items():
        out[method] = {"ci": cov(method, "ci", t_obs), "ci_measurement": cov(method, "ci_measurement", t_obs),
                       "disattenuated_ci": cov(method, "disattenuated_ci", t_true)}
    out["detects"] = float(np.mean([detected(c) for c in res]))
    return out


def power(design: Design, rho: float, reps: int = 200, draws: int = 400, seed: int = 0,
          alpha: float = ALPHA) -> float:
    """Share of simulated studies whose verdict is "predicts" at `alpha` (`detected`)."""
    res = replicate(design, rho, reps, draws, seed, methods=("spearman",))
    return float(np.mean([detected(c, alpha) for c in res]))


def closed_form_power(design: Design, rho: float, method: str = "spearman", alpha: float = 0.05) -> float:
    """Fisher-z approximation of the same power: the observed correlation is attenuated to
    rho * sqrt(R_s * R_d); its z has standard error sqrt(f / (K - 3)), f = 1 for Pearson and 1.06
    for Spearman (Fieller, Hartley and Pearson 1957)."""
    att = rho * math.sqrt(design.reliability_static * design.reliability_downstream)
    if method == "spearman":
        att = spearman_of_normal(att)
    f = 1.06 if method == "spearman" else 1.0
    if design.n_rms <= 3:
        return float("nan")
    z = math.atanh(min(att, 0.999999)) / math.sqrt(f / (design.n_rms - 3))
    return float(stats.norm.cdf(z - stats.norm.ppf(1 - alpha / 2)))


def closed_form_rms_needed(rho: float, reliability_static: float, reliability_downstream: float,
                           target: float = POWER_TARGET, alpha: float = 0.05) -> int | None:
    """RMs needed for a Spearman verdict to detect rho with `target` power (Fisher z); None when
    the reliabilities leave nothing to detect."""
    att = rho * math.sqrt(max(reliability_static, 0) * max(reliability_downstream, 0))
    if att <= 0:
        return None
    z = math.atanh(min(spearman_of_normal(att), 0.999999))
    k = 1.06 * ((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(target)) / z) ** 2 + 3
    return int(math.ceil(k))


def detectable_rho(design: Design, target: float = POWER_TARGET, reps: int = 200, draws: int = 400, seed: int = 0,
                   tol: float = 0.02, alpha: float = ALPHA) -> float | None:
    """Smallest true rho detected with `target` power (bisection on simulated power); None when
    even rho = 0.99 is not."""
    if power(design, 0.99, reps, draws, seed, alpha) < target:
        return None
    lo, hi = 0.0, 0.99
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if power(design, mid, reps, draws, seed, alpha) >= target else (mid, hi)
    return round(hi, 3)


def rms_needed(design: Design, rho: float, target: float = POWER_TARGET, reps: int = 200, draws: int = 400,
               seed: int = 0, max_rms: int = 400, alpha: float = ALPHA) -> int | None:
    """Fewest RMs that detect `rho` with `target` power (doubling, then bisection, on simulated
    power); None beyond `max_rms`."""
    ok = lambda k: power(replace(design, n_rms=k), rho, reps, draws, seed, alpha) >= target  # noqa: E731
    lo, hi = 4, 5
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > max_rms:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def difference_coverage(n_rms: int, noise: tuple[float, float, float], reps: int = 400, draws: int = 500,
                        seed: int = 0) -> float:
    """Share of simulated studies whose `ranking.spearman_difference` CI covers the true
    difference. Each RM has a true quality q ~ N(0, 1); two static metrics and the downstream
    gain measure it with normal noise of SDs `noise` = (s_a, s_b, s_y), so each pair is bivariate
    normal with r = 1 / sqrt((1 + s1^2)(1 + s2^2)) and the true difference of Spearman
    correlations is spearman_of_normal(r_ay) - spearman_of_normal(r_by)."""
    from rlhf_eval.compare.ranking import spearman_difference

    sa, sb, sy = noise
    r = [1 / math.sqrt((1 + s * s) * (1 + sy * sy)) for s in (sa, sb)]
    truth = spearman_of_normal(r[0]) - spearman_of_normal(r[1])
    rng = np.random.default_rng(seed)
    hits = []
    for rep in range(reps):
        q = rng.standard_normal(n_rms)
        a, b, y = (q + s * rng.standard_normal(n_rms) for s in (sa, sb, sy))
        lo, hi = spearman_difference(a, b, y, draws, seed + rep)["ci"]
        hits.append(lo <= truth <= hi)
    return float(np.mean(hits))
