"""Best-of-n with a pairwise judge: which of n candidates a selection rule picks from the judge's
verdicts on pairs, in expectation over the random n-subsets of a prompt's N_max candidates.

The judge compares every pair of a prompt's candidates once, in both orders (cached), which
gives a win matrix W: W[i, j] = 1 when i beats j in both orders' sum, 0 when it loses, 1/2 for a
tie (a split or unreadable pair). Two rules pick from a subset:

- knockout: a single-elimination bracket in a random seeding, byes going to the last seed of an
  odd round; n - 1 comparisons. A tied game is a coin flip.
- round robin (Copeland): every pair of the subset, n(n-1)/2 comparisons; the most wins (ties
  count 1/2) wins, a tie for the most split evenly.

Each rule's value at n is exact (every subset, and for knockout every seeding, with each coin
flip taken in expectation) when there are at most `exact_limit` of them, and otherwise a seeded
Monte-Carlo mean over `draws` random ones, coin flips still in expectation.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

EXACT_LIMIT = 20_000


def win_matrix(n_candidates: int, decisions: dict[tuple[int, int], tuple[str | None, str | None]]) -> np.ndarray:
    """W from each pair's two decisions (A=i first, then A=j read back onto (i, j)), i < j."""
    w = np.full((n_candidates, n_candidates), 0.5)
    for (i, j), pair in decisions.items():
        votes = sum({"A>B": 1, "B>A": -1}.get(d, 0) for d in pair)
        w[i, j] = 1.0 if votes > 0 else 0.0 if votes < 0 else 0.5
        w[j, i] = 1.0 - w[i, j]
    return w


def knockout_winner(w: np.ndarray, seeding: tuple[int, ...]) -> dict[int, float]:
    """P(each candidate wins) for one seeding, coin flips in expectation."""
    field = [{c: 1.0} for c in seeding]
    while len(field) > 1:
        nxt = []
        for a, b in zip(field[0::2], field[1::2]):
            game: dict[int, float] = {}
            for x, px in a.items():
                for y, py in b.items():
                    game[x] = game.get(x, 0.0) + px * py * w[x, y]
                    game[y] = game.get(y, 0.0) + px * py * w[y, x]
            nxt.append(game)
        if len(field) % 2:
            nxt.append(field[-1])
        field = nxt
    return field[0]


def copeland_winner(w: np.ndarray, members: tuple[int, ...]) -> dict[int, float]:
    wins = {i: sum(w[i, j] for j in members if j != i) for i in members}
    best = max(wins.values())
    top = [i for i in members if wins[i] == best]
    return {i: 1.0 / len(top) for i in top}


def _expected(gold: np.ndarray, dist: dict[int, float]) -> float:
    return sum(p * gold[i] for i, p in dist.items())


def knockout_value(w: np.ndarray, gold, n: int, rng: np.random.Generator, draws: int = 2000,
                   exact_limit: int = EXACT_LIMIT) -> float:
    gold, total = np.asarray(gold, float), len(gold)
    if math.perm(total, n) <= exact_limit:
        return float(np.mean([_expected(gold, knockout_winner(w, s)) for s in itertools.permutations(range(total), n)]))
    return float(np.mean([_expected(gold, knockout_winner(w, tuple(rng.permutation(total)[:n])))
                          for _ in range(draws)]))


def round_robin_value(w: np.ndarray, gold, n: int, rng: np.random.Generator, draws: int = 2000,
                      exact_limit: int = EXACT_LIMIT) -> float:
    gold, total = np.asarray(gold, float), len(gold)
    if math.comb(total, n) <= exact_limit:
        return float(np.mean([_expected(gold, copeland_winner(w, s)) for s in itertools.combinations(range(total), n)]))
    return float(np.mean([_expected(gold, copeland_winner(w, tuple(sorted(rng.permutation(total)[:n]))))
                          for _ in range(draws)]))


RULES = {"knockout": knockout_value, "round_robin": round_robin_value}


def comparisons(rule: str, n: int) -> int:
    """Pairs a rule compares to pick one of n (each pair is asked in both orders)."""
    return n - 1 if rule == "knockout" else n * (n - 1) // 2


def per_prompt_values(rule: str, wins: list[np.ndarray], gold: np.ndarray, n: int, seed: int,
                      draws: int = 2000, exact_limit: int = EXACT_LIMIT) -> np.ndarray:
    """The rule's expected gold value at n for each prompt; prompt p's draws are seeded by (seed, p, n)."""
    fn = RULES[rule]
    return np.array([fn(w, g, n, np.random.default_rng([seed, p, n]), draws, exact_limit)
                     for p, (w, g) in enumerate(zip(wins, np.asarray(gold, float)))])
