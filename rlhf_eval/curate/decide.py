"""Which rows the data steps remove, from per-row features (features.py), in the recipe's order.

Both engines end here: the local one passes the features themselves, the Ray one the groups its
shuffles found (rows sharing a dedup key or a MinHash band). A step sees only the rows earlier
steps kept (`alive`: a boolean per row for the local engine, the rows removed so far for the Ray
one), and keeps the first of each group among them, as the sequential definition says. The Ray
engine's decide task holds numpy arrays of a few bytes per row in a group or removed, none per
row, so that deciding 40M rows fits in one worker.
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
        return np.repeat(np.arange(len(self), dtype=gid_kind(len(self))), np.diff(self.bounds))


def gid_kind(groups: int) -> type:
    """int32 while the group ids fit: an id is held once per grouped row."""
    return np.int32 if groups < 2**31 else np.int64


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


class Removed:
    """The rows removed so far, sorted, each with its status code: what the Ray engine's decide
    task holds instead of a byte per row, so that it grows with the rows removed, not with the
    rows. `removed[rows]` is whether those rows are still alive, as `alive[rows]` is for a boolean
    array, so the steps below take either."""

    def __init__(self):
        self.rows = np.zeros(0, np.int64)
        self.codes = np.zeros(0, np.int8)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        return ~in_sorted(np.asarray(rows, np.int64), self.rows)

    def add(self, rows: np.ndarray, codes: np.ndarray) -> None:
        rows = np.concatenate([self.rows, rows])
        order = np.argsort(rows, kind="stable")
        self.rows, self.codes = rows[order], np.concatenate([self.codes, codes])[order]

    def between(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The removed rows among rows lo to hi - 1, and their codes."""
        a, b = np.searchsorted(self.rows, [lo, hi])
        return self.rows[a:b], self.codes[a:b]


def in_sorted(x: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Whether each of x is in `ranked` (sorted, unique)."""
    if not len(ranked):
        return np.zeros(len(x), bool)
    pos = np.minimum(np.searchsorted(ranked, x), len(ranked) - 1)
    return ranked[pos] == x


def _live(alive, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
    """(members, their group) for the members still alive."""
    members, gid = groups.members, groups.ids()
    keep = alive[members]
    return members[keep], gid[keep]


def dedup(alive, groups: Groups) -> np.ndarray:
    """The rows removed: every alive row of a group but its first."""
    members, gid = _live(alive, groups)
    first = np.concatenate([[True], gid[1:] != gid[:-1]]) if len(gid) else np.zeros(0, bool)
    return np.unique(members[~first])


def near_dedup(alive, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
    """In row order, a row sharing a band with an earlier kept row is removed (what a sequential
    MinHashLSH query-then-insert gives). Returns (removed rows, the earliest kept row each shares
    a band with)."""
    members, gid = _live(alive, groups)
    # One key per (row, group) sorted in place: no index array, and the arrays of every grouped row
    # are what the Ray engine's decide task peaks on.
    width = np.int64(max(len(groups), 1))
    rows = members * width + gid
    del members, gid
    rows.sort()
    buckets = (rows % width).astype(gid_kind(len(groups)))
    rows //= width
    starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1], [True]]) if len(rows) else [True])
    heads = rows[starts[:-1]]
    del rows
    owner = np.full(len(groups), -1, np.int64)  # the kept row of each band group, once there is one
    removed, of = [], []
    # Sequential by definition (a row's fate depends on the rows kept before it), so a Python loop;
    # it walks in slices so that the Python ints it makes stay a slice's worth, not one per row.
    for lo in range(0, len(heads), SLICE):
        gone, first = [], []
        bounds = starts[lo:lo + SLICE + 1].tolist()
        for row, a, b in zip(heads[lo:lo + SLICE].tolist(), bounds[:-1], bounds[1:]):
            mine = buckets[a:b]
            owners = owner[mine]
            owners = owners[owners >= 0]
            if len(owners):
                gone.append(row)
                first.append(owners.min())
            else:
                owner[mine] = row
        removed.append(np.array(gone, np.int64))
        of.append(np.array(first, np.int64))
    if not removed:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(removed), np.concatenate(of)


def decontaminate(alive, matched_rows: np.ndarray) -> np.ndarray:
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
