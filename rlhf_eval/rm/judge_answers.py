"""Reading a generative judge's answer: a pairwise decision or a pointwise rating (pure functions).

A decision is "A>B", "B>A" or "A=B", as JudgeBench stores them. An answer whose verdict is
missing, or that states two different verdicts, gives None, which the caller counts as a parse
failure; it is never read as a score of 0 or as a tie.
"""
from __future__ import annotations

import re

DECISIONS = ("A>B", "B>A", "A=B")
FLIP = {"A>B": "B>A", "B>A": "A>B", "A=B": "A=B"}

# Arena-Hard's labels ([[A>>B]], [[A>B]], [[A=B]], [[B>A]], [[B>>A]]), as JudgeBench's ArenaHard
# judge matches them, and MT-Bench's pairwise ones ([[A]], [[B]], [[C]] for a tie).
_BRACKETED = re.compile(r"\[\[([ABC<>=]+)\]\]")
_LABELS = {"A>>B": "A>B", "A>B": "A>B", "B<A": "A>B", "B<<A": "A>B", "A": "A>B",
           "B>>A": "B>A", "B>A": "B>A", "A<B": "B>A", "A<<B": "B>A", "B": "B>A",
           "A=B": "A=B", "B=A": "A=B", "C": "A=B"}


def parse_decision(text: str) -> str | None:
    """The decision in a judge's answer: the one label in [[...]] (every match must agree), or a
    bare answer that is a label itself ("A>B", "B", ...)."""
    found = {_LABELS.get(m) for m in _BRACKETED.findall(text)}
    if not found:
        return _LABELS.get(text.strip().strip(".").strip())
    return found.pop() if len(found) == 1 and None not in found else None


def parse_rating(text: str, pattern: str) -> float | None:
    """The number group 1 of `pattern` matches; None when there is none or two differ."""
    values = set()
    for m in re.finditer(pattern, text):
        try:
            values.add(float(m.group(1)))
        except (TypeError, ValueError):
            return None
    return values.pop() if len(values) == 1 else None


def verdict_probability(probs: dict[str, float], yes: str, no: str) -> float | None:
    """P(yes) / (P(yes) + P(no)) of the judge's next token; None when the judge gives both no mass."""
    p_yes, p_no = probs.get(yes, 0.0), probs.get(no, 0.0)
    return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else None


def net_votes(games) -> int:
    """A pair's decisions (each read as one on the pair) summed: +1 per "A>B", -1 per "B>A", 0 for a
    tie or an unreadable answer. JudgeBench's two-game rule; the sign says who won the pair."""
    return sum({"A>B": 1, "B>A": -1}.get(d, 0) for d in games)


def unswap(decision: str | None) -> str | None:
    """A decision on (B, A) read back as one on (A, B)."""
    return FLIP.get(decision) if decision else None
