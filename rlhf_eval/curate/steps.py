"""Curation steps. Each takes pairs and returns (kept, dropped) where dropped rows carry the
reason, so the funnel can count every removal by reason and source."""
from __future__ import annotations

from collections import Counter


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def exact_dedup(pairs: list[dict]) -> tuple[list[dict], list[dict]]:
    """Keep the first of rows equal on (prompt, chosen, rejected) after whitespace/case folding."""
    seen: set[tuple] = set()
    kept, dropped = [], []
    for p in pairs:
        key = (_norm(p["prompt"]), _norm(p["chosen"]), _norm(p["rejected"]))
        if key in seen:
            dropped.append(p | {"reason": "duplicate"})
        else:
            seen.add(key)
            kept.append(p)
    return kept, dropped


def ngrams(tokens: list[str], n: int) -> set[tuple]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


class NgramIndex:
    """n-grams of benchmark prompts. A prompt shorter than n contributes itself whole, so a
    short benchmark prompt copied verbatim is still caught."""

    def __init__(self, n: int):
        self.n = n
        self.grams: dict[tuple, set[str]] = {}
        self.lengths: set[int] = set()

    def add(self, text: str, item_id: str) -> None:
        tokens = _norm(text).split()
        size = min(self.n, len(tokens))
        if size == 0:
            return
        self.lengths.add(size)
        for g in ngrams(tokens, size):
            self.grams.setdefault(g, set()).add(item_id)

    def matches(self, text: str) -> set[str]:
        tokens = _norm(text).split()
        hits: set[str] = set()
        for size in self.lengths:
            for g in ngrams(tokens, size):
                hits |= self.grams.get(g, set())
        return hits


def decontaminate(pairs: list[dict], index: NgramIndex) -> tuple[list[dict], list[dict]]:
    kept, dropped = [], []
    for p in pairs:
        hits = set()
        for field in ("prompt", "chosen", "rejected"):
            hits |= index.matches(p[field])
        if hits:
            dropped.append(p | {"reason": "contaminated", "matched": sorted(hits)})
        else:
            kept.append(p)
    return kept, dropped


def by_source(rows: list[dict]) -> dict[str, int]:
    return dict(Counter(r["source"] for r in rows))
