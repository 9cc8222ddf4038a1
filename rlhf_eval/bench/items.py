"""What every static benchmark reduces to, so one scoring path, one bootstrap and one saved-scores
format serve them all.

- An `Item` is one benchmark row: a prompt and its candidates in the benchmark's published order.
  The RM scores every candidate independently; scores come back as one list per item.
- `Outcomes` are per-unit numbers computed from an item's scores (a unit is usually an item; for
  RewardBench 2 Ties it is a prompt with its ref and tied versions). Every metric is an aggregate
  of outcome columns, so bootstrap CIs resample units and recompute the same aggregate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Item:
    id: str
    prompt: Any  # a user turn, or chat messages ending with one
    candidates: list[str]
    group: str  # subset / domain / source group: the bootstrap stratum
    meta: dict = field(default_factory=dict)
    # 1/0 per candidate where the benchmark knows which candidates are correct, else None.
    correct: list[int] | None = None
    # (better, worse) candidate index pairs the benchmark asserts, for PPE pairwise metrics.
    pairs: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Outcomes:
    columns: list[str]
    values: np.ndarray  # (units, columns); NaN where a column does not apply to a unit
    groups: np.ndarray  # (units,) stratum labels
    ids: list[str]

    def col(self, name: str) -> int:
        return self.columns.index(name)


def outcomes(rows: list[tuple[str, str, dict]]) -> Outcomes:
    """rows: (unit id, group, {column: value}); missing columns are NaN."""
    columns = list(dict.fromkeys(k for _, _, d in rows for k in d))
    values = np.full((len(rows), len(columns)), np.nan)
    for i, (_, _, d) in enumerate(rows):
        for k, v in d.items():
            values[i, columns.index(k)] = v
    return Outcomes(columns, values, np.array([g for _, g, _ in rows], dtype=object),
                    [u for u, _, _ in rows])


def group_means(values: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Mean of `values` per group, ignoring NaN."""
    out = {}
    for g in sorted(set(groups.tolist())):
        v = values[groups == g]
        v = v[~np.isnan(v)]
        if len(v):
            out[g] = float(v.mean())
    return out


def column_means(o: Outcomes, prefix: str) -> dict[str, float]:
    """Mean of every outcome column named `prefix...`, ignoring NaN (units outside that column's
    subset); columns with no value are left out."""
    out = {}
    for k, name in enumerate(o.columns):
        v = o.values[:, k]
        if name.startswith(prefix) and (~np.isnan(v)).any():
            out[name] = float(np.nanmean(v))
    return out


def top_tie_share(scores, winner: int = 0) -> float:
    """1/k if `winner` is among the k candidates sharing the top score, else 0 (RewardBench 2)."""
    s = np.asarray(scores, float)
    top = s == s.max()
    return float(top[winner] / top.sum())


def strictly_best(scores, winner: int = 0) -> float:
    """1 if `winner` scores above every other candidate (RMB best-of-N, generic best-of-k)."""
    s = np.asarray(scores, float)
    return float(all(s[winner] > np.delete(s, winner)))
