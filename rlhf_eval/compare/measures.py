"""One metric's numbers for every RM, in whichever of three shapes the user has them:

- per-unit values (a 1-D array or list of at least 2: benchmark items, prompts, seeds); the
  metric is their mean and its measurement variance var(unit) / n;
- a `(mean, se)` tuple (or `{"mean": m, "se": s}`), as a paper's table with standard errors
  gives; the measurement variance is se ** 2;
- a mean alone (a number), as a leaderboard gives; the measurement noise is unknown, so the
  metric's reliability is unknown too (None, never 1.0).

A tuple is always (mean, se) and a list or array always units, so a pair of units must be a list.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np


@dataclass(frozen=True)
class Measure:
    """Values per RM (nan where an RM lacks the metric) and, when every RM's noise is known, each
    RM's measurement variance and draws (draws x RMs) of its value measured again."""
    point: np.ndarray
    noise: np.ndarray | None
    draws: np.ndarray | None


def _one(value, where: str) -> tuple[float, float | None, np.ndarray | None]:
    """(mean, measurement variance or None, units or None) of one RM's entry."""
    if isinstance(value, dict):
        if set(value) != {"mean", "se"}:
            raise ValueError(f"{where}: a dict must have exactly the keys 'mean' and 'se', got {sorted(value)}")
        value = (value["mean"], value["se"])
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"{where}: a tuple is (mean, se); got {len(value)} values")
        mean, se = (finite_number(v, where) for v in value)
        if se < 0:
            raise ValueError(f"{where}: standard error {se} is negative")
        return mean, se * se, None
    if isinstance(value, (Real, np.number)) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return finite_number(value, where), None, None
    try:
        units = np.asarray(value, float)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected per-unit values, a mean or a (mean, se) tuple; got {value!r}") from None
    if units.ndim != 1 or len(units) < 2 or not np.isfinite(units).all():
        raise ValueError(f"{where}: expected a 1-D array of at least 2 finite per-unit values, got shape "
                         f"{units.shape}{'' if np.isfinite(units).all() else ' with non-finite values'}")
    return float(units.mean()), float(units.var(ddof=1) / len(units)), units


def finite_number(v, where: str) -> float:
    """`v` as a finite float, or a ValueError naming `where` (True is not a number here)."""
    if isinstance(v, bool):
        raise ValueError(f"{where}: {v!r} is not a number")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {v!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{where}: {v!r} is not finite")
    return x


def measure(values: dict, rms: list[str], draws: int, rng, where: str) -> Measure:
    """`values`: rm -> units | mean | (mean, se). Draws resample units (bootstrap of the mean)
    or add normal noise of the stated se; none are made when any RM gave a mean alone."""
    parsed = {rm: _one(v, f"{where}[{rm!r}]") for rm, v in values.items()}
    point = np.array([parsed[r][0] if r in parsed else np.nan for r in rms])
    if any(p[1] is None for p in parsed.values()):
        return Measure(point, None, None)
    noise = np.array([parsed[r][1] if r in parsed else np.nan for r in rms])
    out = np.full((draws, len(rms)), np.nan)
    for i, r in enumerate(rms):
        if r not in parsed:
            continue
        mean, var, units = parsed[r]
        if units is not None:
            out[:, i] = units[rng.integers(0, len(units), (draws, len(units)))].mean(axis=1)
        else:
            out[:, i] = mean + math.sqrt(var) * rng.standard_normal(draws)
    return Measure(point, noise, out)
