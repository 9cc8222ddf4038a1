"""A pairwise judge on a static benchmark: which pairs it is asked, how its two decisions on a
pair count, and its position bias.

The judge compares the pairs a benchmark names (`Benchmark.judge_pairs`, by default the item's
(better, worse) pairs), always in both orders. A pair's games are (first, second): the decision
with the pair's first response shown as A, and the decision with it shown as B read back onto the
pair, each "A>B" (the pair's first is better), "B>A", "A=B" or None (unreadable).

Two ways to count them, as the official protocols do:
- `win_value`: the mean over the two orders of 1 for a win, 0 for a loss and 1/2 for a tie or an
  unreadable answer. RewardBench's official generative script shows each pair in one random order
  and counts a tie or an error 1/2; the mean over both orders is that score's expectation over the
  coin, without the coin. Used where a benchmark counts pairwise accuracy.
- `beats`: JudgeBench's rule, +1 per game won and -1 per game lost, a win when the sum is positive.
  Used where a response must beat others outright (RMB best-of-N: the best beats every loser).
"""
from __future__ import annotations

from rlhf_eval.bench.items import Item
from rlhf_eval.rm.judge_answers import net_votes

GAME_VALUE = {"A>B": 1.0, "B>A": 0.0}


def win_value(games: tuple[str | None, str | None]) -> float:
    return sum(GAME_VALUE.get(d, 0.5) for d in games) / len(games)


def beats(games: tuple[str | None, str | None]) -> bool:
    return net_votes(games) > 0


def decide(judge, pairs_of, items: list[Item]) -> list[list[tuple]]:
    """Every item's pairs judged in both orders, in one batch: per item, one (first, second) per pair."""
    asked = [(k, i, j) for k, it in enumerate(items) for i, j in pairs_of(it)]
    games = judge.judge_pairs([items[k].prompt for k, _, _ in asked], [items[k].candidates[i] for k, i, _ in asked],
                              [items[k].candidates[j] for k, _, j in asked])
    out: list[list[tuple]] = [[] for _ in items]
    for (k, _, _), g in zip(asked, games):
        out[k].append(g)
    return out


def position_bias(decisions: list[list[tuple]]) -> dict:
    """Over the pairs whose two decisions are both readable: how often the decision flips when the
    order is swapped (a judge without position bias flips 0), and how often the response shown
    first wins a game (1/2 without bias, ties aside)."""
    both = [g for per_item in decisions for g in per_item if g[0] is not None and g[1] is not None]
    games = [(first, second) for first, second in both]
    first_won = sum(f == "A>B" for f, _ in games) + sum(s == "B>A" for _, s in games)
    decided = sum(f != "A=B" for f, _ in games) + sum(s != "A=B" for _, s in games)
    return {"pairs": sum(len(d) for d in decisions), "readable_pairs": len(both),
            "flip_rate": sum(f != s for f, s in both) / len(both) if both else None,
            "first_shown_wins": first_won / decided if decided else None}
