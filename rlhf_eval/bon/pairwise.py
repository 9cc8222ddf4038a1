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

import functools
import itertools
import math

import numpy as np

from rlhf_eval.rm.judge_answers import net_votes

EXACT_LIMIT = 20_000


def win_matrix(n_candidates: int, decisions: dict[tuple[int, int], tuple[str | None, str | None]]) -> np.ndarray:
    """W from each pair's two decisions (A=i first, then A=j read back onto (i, j)), i < j."""
    w = np.full((n_candidates, n_candidates), 0.5)
    for (i, j), pair in decisions.items():
        w[i, j] = game_value(pair)
        w[j, i] = 1.0 - w[i, j]
    return w


def game_value(pair: tuple[str | None, str | None]) -> float:
    """The pair's first response's result in the game its two decisions make: 1, 0, or 1/2 for a tie."""
    votes = net_votes(pair)
    return 1.0 if votes > 0 else 0.0 if votes < 0 else 0.5


def knockout_seedings_value(w: np.ndarray, gold: np.ndarray, seedings: np.ndarray) -> float:
    """Mean winner's gold over brackets `seedings` (rows of candidate indices), coin flips taken in
    expectation: each slot carries the probability of every candidate being the one in it."""
    d, total = seedings.shape[0], len(gold)
    field = np.zeros((d, seedings.shape[1], total))
    field[np.arange(d)[:, None], np.arange(seedings.shape[1])[None, :], seedings] = 1.0
    while field.shape[1] > 1:
        a, b = field[:, 0:-1:2], field[:, 1::2]
        # P(x wins a game of slots a and b) = P(x in a) P(x beats b's occupant) + the same for b
        games = a * (b @ w.T) + b * (a @ w.T)
        field = np.concatenate([games, field[:, -1:]], axis=1) if field.shape[1] % 2 else games
    return float((field[:, 0] @ gold).mean())


def round_robin_subsets_value(w: np.ndarray, gold: np.ndarray, subsets: np.ndarray) -> float:
    """Mean Copeland winner's gold over `subsets` (rows of candidate indices); a tie for the most
    wins is split evenly."""
    rows = np.arange(len(subsets))[:, None]
    member = np.zeros((len(subsets), len(gold)))
    member[rows, subsets] = 1.0
    # (member @ w.T)[s, i]: i's wins against subset s's members; the diagonal's 1/2 is not a game
    wins = (member @ w.T)[rows, subsets] - 0.5
    top = np.isclose(wins, wins.max(axis=1, keepdims=True))
    return float(((gold[subsets] * top).sum(axis=1) / top.sum(axis=1)).mean())


@functools.lru_cache(maxsize=64)
def every(kind: str, total: int, n: int) -> np.ndarray:
    """Every seeding ("permutations") or subset ("combinations") of n of `total` candidates, once per
    shape: every prompt of a node has the same N_max."""
    return np.array(list(getattr(itertools, kind)(range(total), n)), dtype=int).reshape(-1, n)


def random_subsets(rng: np.random.Generator, total: int, n: int, draws: int) -> np.ndarray:
    """`draws` rows of n distinct candidates in random order (a row is a seeding, or a subset)."""
    return rng.permuted(np.tile(np.arange(total), (draws, 1)), axis=1)[:, :n]


def knockout_value(w: np.ndarray, gold, n: int, rng: np.random.Generator, draws: int = 2000,
                   exact_limit: int = EXACT_LIMIT) -> float:
    gold, total = np.asarray(gold, float), len(gold)
    if math.perm(total, n) <= exact_limit:
        seedings = every("permutations", total, n)
    else:
        seedings = random_subsets(rng, total, n, draws)
    return knockout_seedings_value(w, gold, seedings)


def round_robin_value(w: np.ndarray, gold, n: int, rng: np.random.Generator, draws: int = 2000,
                      exact_limit: int = EXACT_LIMIT) -> float:
    gold, total = np.asarray(gold, float), len(gold)
    if math.comb(total, n) <= exact_limit:
        subsets = every("combinations", total, n)
    else:
        subsets = random_subsets(rng, total, n, draws)
    return round_robin_subsets_value(w, gold, subsets)


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
