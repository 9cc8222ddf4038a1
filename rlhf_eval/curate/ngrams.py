"""Benchmark n-gram index for decontamination, matched in vectorized batches.

Tokens are lower-cased whitespace words. Benchmark n-grams are kept as 64-bit polynomial hashes;
training text is hashed window by window with numpy, one batch at a time, so memory holds the
benchmark's n-grams and one batch, never every n-gram of the training data. A token that occurs
in no benchmark prompt maps to 0 and a window holding one cannot match; texts of a batch are
joined with a separator token (id -1), so no window spans two texts.
"""
from __future__ import annotations

import hashlib
from itertools import repeat

import numpy as np

_MULT = np.uint64(1_000_003)
_SEP = "\x00"
_MASK = np.uint64((1 << 24) - 1)


def words(text: str) -> list[str]:
    return text.lower().split()


def fold(text: str) -> str:
    """Case- and whitespace-folded text: the form every curation comparison uses."""
    return " ".join(words(text))


def _window_hashes(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(hash of every length-n window, whether the window holds only benchmark tokens)."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.empty(0, np.uint64), np.empty(0, bool)
    h = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * _MULT + ids[j:j + count].astype(np.uint64)
    bad = np.concatenate([[0], np.cumsum(ids <= 0)])
    return h, (bad[n:n + count] - bad[:count]) == 0


def prompt_key(text: str) -> bytes:
    return hashlib.blake2b(fold(text).encode(), digest_size=8).digest()


class NgramIndex:
    """n-grams of benchmark prompts. A benchmark prompt shorter than n matches only a training
    prompt identical to it (after case and whitespace folding)."""

    def __init__(self, n: int = 13):
        self.n = n
        self.vocab: dict[str, int] = {_SEP: -1}
        self.owners: dict[int, set[str]] = {}
        self.short: dict[bytes, set[str]] = {}
        self._sorted: np.ndarray | None = None

    def add(self, text: str, item_id: str) -> None:
        tokens = words(text)
        if len(tokens) < self.n:
            self.short.setdefault(prompt_key(text), set()).add(item_id)
            return
        ids = np.array([self.vocab.setdefault(t, len(self.vocab)) for t in tokens], np.int64)
        h, _ = _window_hashes(ids, self.n)
        for value in h.tolist():
            self.owners.setdefault(value, set()).add(item_id)
        self._sorted = None

    def match_batch(self, texts: list[str], prompts: list[str] | None = None) -> list[set[str]]:
        """Benchmark ids each text shares an n-gram with (and, for `prompts`, equals)."""
        if self._sorted is None:
            self._sorted = np.array(sorted(self.owners), np.uint64)
            self._bitmap = np.zeros(int(_MASK) + 1, bool)
            self._bitmap[self._sorted & _MASK] = True
        hits: list[set[str]] = [set() for _ in texts]
        if self.owners and texts:
            # one split and one C-level dict lookup pass for the whole batch
            tokens = f" {_SEP} ".join(texts).lower().split()
            ids = np.fromiter(map(self.vocab.get, tokens, repeat(0)), np.int64, len(tokens))
            h, ok = _window_hashes(ids, self.n)
            # a bitmap over the hashes' low bits rules out almost every window at once; only the
            # few candidates are looked up in the sorted benchmark hashes
            cand = np.flatnonzero(ok & self._bitmap[h & _MASK])
            pos = np.minimum(np.searchsorted(self._sorted, h[cand]), len(self._sorted) - 1)
            found = cand[self._sorted[pos] == h[cand]]
            text_of = np.searchsorted(np.flatnonzero(ids == -1), found, side="right")
            for w, i in zip(found.tolist(), text_of.tolist()):
                hits[i] |= self.owners[int(h[w])]
        if self.short and prompts is not None:
            for i, p in enumerate(prompts):
                if p:
                    hits[i] |= self.short.get(prompt_key(p), set())
        return hits
