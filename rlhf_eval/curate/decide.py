"""Which rows the data steps remove, from per-row features (features.py), in the recipe's order.

Both engines end here: the local one passes the features themselves, the Ray one the groups its
shuffles found (rows sharing a dedup key or a MinHash band). A step sees only the rows earlier
steps kept, and keeps the first of each group among them, as the sequential definition says.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np


def groups_of(keys: np.ndarray) -> list[np.ndarray]:
    """Rows sharing a key (a row of `keys`), for keys held by two rows or more; rows ascending."""
    if not len(keys):
        return []
    order = np.lexsort(keys.T[::-1])
    ranked = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], (ranked[1:] != ranked[:-1]).any(axis=1), [True]]))
    return [order[a:b] for a, b in zip(starts[:-1].tolist(), starts[1:].tolist()) if b - a > 1]


def band_groups(bands: np.ndarray) -> list[np.ndarray]:
    """Rows sharing a MinHash band (the same band index and key), for bands held by two rows or more."""
    n, b = bands.shape
    flat = np.stack([np.repeat(np.arange(b, dtype=np.uint64)[None], n, 0).reshape(-1), bands.reshape(-1)], axis=1)
    return [g // b for g in groups_of(flat)]


def dedup(alive: np.ndarray, groups: list[np.ndarray]) -> tuple[np.ndarray, dict[int, dict]]:
    """Keep the first alive row of each group. Returns (kept rows, {removed row: extra fields})."""
    mask = np.zeros(max(int(alive.max()) + 1, 1) if len(alive) else 1, bool)
    mask[alive] = True
    removed = {}
    for g in groups:
        g = g[g < len(mask)]
        live = g[mask[g]]
        for row in live[1:].tolist():
            removed[row] = {"reason": "duplicate"}
    return _without(alive, removed), removed


def near_dedup(alive: np.ndarray, groups: list[np.ndarray]) -> tuple[np.ndarray, dict[int, dict]]:
    """In order, a row sharing a band with an earlier kept row is removed; near_duplicate_of is
    the earliest such kept row (what a sequential MinHashLSH query-then-insert gives)."""
    live = set(alive.tolist())
    buckets_of = defaultdict(list)
    for bucket, g in enumerate(groups):
        for row in g.tolist():
            if row in live:
                buckets_of[row].append(bucket)
    kept_in: dict[int, int] = {}
    removed = {}
    for row in sorted(buckets_of):
        owners = [kept_in[b] for b in buckets_of[row] if b in kept_in]
        if owners:
            removed[row] = {"reason": "near_duplicate", "near_duplicate_of": min(owners)}
        else:
            for b in buckets_of[row]:
                kept_in[b] = row
    return _without(alive, removed), removed


def decontaminate(alive: np.ndarray, matched: dict[int, list[str]]) -> tuple[np.ndarray, dict[int, dict]]:
    removed = {row: {"reason": "contaminated", "matched": matched[row]} for row in alive.tolist() if matched.get(row)}
    return _without(alive, removed), removed


def length_and_ties(alive: np.ndarray, lengths: np.ndarray, margins: np.ndarray, min_tokens: int,
                    max_tokens: int | None, drop_ties: bool) -> tuple[np.ndarray, dict[int, dict]]:
    """`lengths`: (rows, 2) word counts of chosen and rejected; `margins`: NaN where a row has none."""
    shortest, longest = lengths[alive].min(axis=1), lengths[alive].max(axis=1)
    short = shortest < min_tokens
    long = ~short & (longest > max_tokens if max_tokens is not None else False)
    tie = ~short & ~long & (margins[alive] == 0) & drop_ties
    removed = {}
    for reason, mask in (("too_short", short), ("too_long", long), ("tie", tie)):
        removed |= {row: {"reason": reason} for row in alive[mask].tolist()}
    return _without(alive, removed), removed


def _without(alive: np.ndarray, removed: dict) -> np.ndarray:
    if not removed:
        return alive
    return alive[~np.isin(alive, np.fromiter(removed, np.int64, len(removed)))]
