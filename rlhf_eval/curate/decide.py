"""Which rows the data steps remove, from per-row features (features.py), in the recipe's order.

Both engines end here: the local one passes the features themselves, the Ray one the groups its
shuffles found (rows sharing a dedup key or a MinHash band). A step sees only the rows earlier
steps kept (`alive`, a boolean per row), and keeps the first of each group among them, as the
sequential definition says. Everything is held in numpy arrays, a byte or two per row plus a few
per row in a group, so that deciding 40M rows fits in the stage's process.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlhf_eval.errors import UserError

FILTER_REASONS = ("too_short", "too_long", "tie")  # filter codes 1, 2, 3 (0: kept)
SLICE = 65536  # rows near_dedup's loop turns into Python ints at a time


class EmptyAfterStep(UserError):
    """A step removed every remaining pair (either engine says so the same way)."""


@dataclass(frozen=True)
class Groups:
    """Groups of rows as one array: group g is members[bounds[g]:bounds[g + 1]], rows ascending."""
    members: np.ndarray
    bounds: np.ndarray

    @classmethod
    def of(cls, groups: list[np.ndarray]) -> Groups:
        sizes = np.fromiter((len(g) for g in groups), np.int64, len(groups))
        members = np.concatenate([np.sort(g) for g in groups]).astype(np.int64) if groups else np.zeros(0, np.int64)
        return cls(members, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def as_list(self) -> list[np.ndarray]:
        return [self.members[a:b] for a, b in zip(self.bounds[:-1].tolist(), self.bounds[1:].tolist())]

    def ids(self) -> np.ndarray:
        """The group of each member."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.bounds))


def groups_of(keys: np.ndarray) -> Groups:
    """Rows sharing a key (a row of `keys`), for keys held by two rows or more."""
    if not len(keys):
        return Groups.of([])
    order = np.lexsort(keys.T[::-1])
    ranked = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], (ranked[1:] != ranked[:-1]).any(axis=1), [True]]))
    return Groups.of([order[a:b] for a, b in zip(starts[:-1].tolist(), starts[1:].tolist()) if b - a > 1])


def band_groups(bands: np.ndarray) -> Groups:
    """Rows sharing a MinHash band (the same band index and key), for bands held by two rows or more."""
    n, b = bands.shape
    flat = np.stack([np.repeat(np.arange(b, dtype=np.uint64)[None], n, 0).reshape(-1), bands.reshape(-1)], axis=1)
    found = groups_of(flat)
    return Groups(found.members // b, found.bounds)


def _live(alive: np.ndarray, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
    """(members, their group) for the members still alive."""
    members, gid = groups.members, groups.ids()
    keep = alive[members]
    return members[keep], gid[keep]


def dedup(alive: np.ndarray, groups: Groups) -> np.ndarray:
    """The rows removed: every alive row of a group but its first."""
    members, gid = _live(alive, groups)
    first = np.concatenate([[True], gid[1:] != gid[:-1]]) if len(gid) else np.zeros(0, bool)
    return np.unique(members[~first])


def near_dedup(alive: np.ndarray, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
    """In row order, a row sharing a band with an earlier kept row is removed (what a sequential
    MinHashLSH query-then-insert gives). Returns (removed rows, the earliest kept row each shares
    a band with)."""
    members, gid = _live(alive, groups)
    order = np.lexsort((gid, members))
    rows, buckets = members[order], gid[order]
    starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]])) if len(rows) else np.zeros(0, np.int64)
    ends = np.append(starts[1:], len(rows))
    owner = np.full(len(groups), -1, np.int64)  # the kept row of each band group, once there is one
    removed = np.empty(len(starts), np.int64)
    of = np.empty(len(starts), np.int64)
    k = 0
    # Sequential by definition (a row's fate depends on the rows kept before it), so a Python loop;
    # it walks in slices so that the Python ints it makes stay a slice's worth, not one per row.
    for lo in range(0, len(starts), SLICE):
        for row, a, b in zip(rows[starts[lo:lo + SLICE]].tolist(), starts[lo:lo + SLICE].tolist(),
                             ends[lo:lo + SLICE].tolist()):
            mine = buckets[a:b]
            owners = owner[mine]
            owners = owners[owners >= 0]
            if len(owners):
                removed[k], of[k] = row, owners.min()
                k += 1
            else:
                owner[mine] = row
    return removed[:k], of[:k]


def decontaminate(alive: np.ndarray, matched_rows: np.ndarray) -> np.ndarray:
    """The rows removed: those that match a benchmark (`matched_rows`) and are alive."""
    rows = np.unique(np.asarray(matched_rows, np.int64))
    return rows[alive[rows]] if len(rows) else rows


def filter_codes(lengths: np.ndarray, margins: np.ndarray, min_tokens: int, max_tokens: int | None,
                 drop_ties: bool) -> np.ndarray:
    """Per row, why the filter removes it (FILTER_REASONS, 1-based; 0: kept), from (rows, 2) word
    counts of chosen and rejected and the margins (NaN where a row has none). A row decides alone,
    so a Ray worker computes this for its rows."""
    shortest, longest = lengths.min(axis=1), lengths.max(axis=1)
    short = shortest < min_tokens
    long = ~short & (longest > max_tokens if max_tokens is not None else False)
    tie = ~short & ~long & (margins == 0) & drop_ties
    codes = np.zeros(len(lengths), np.int8)
    codes[short], codes[long], codes[tie] = 1, 2, 3
    return codes


def length_and_ties(alive: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The rows removed: alive rows with a filter code."""
    return np.flatnonzero(alive & (codes > 0))
