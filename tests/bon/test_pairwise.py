"""Best-of-n with a pairwise judge against brute force: every subset and every bracket seeding on
small cases, with each tied game branched both ways; against the exact score-based estimator
when the judge is transitive; and the Monte-Carlo path against the exact one."""
import itertools

import numpy as np
import pytest

from rlhf_eval.bon.estimator import per_prompt_best_of_n
from rlhf_eval.bon.pairwise import comparisons, knockout_value, per_prompt_values, round_robin_value, win_matrix


def brute_knockout(w, gold, n):
    """Average over all seedings of all n-subsets of the winner's gold, every tied game branched
    into both results with half the weight each."""
    def worlds(field):
        if len(field) == 1:
            return gold[field[0]]
        options = [([], 1.0)]
        for a, b in zip(field[0::2], field[1::2]):
            branch = [(a, 1.0)] if w[a, b] == 1 else [(b, 1.0)] if w[a, b] == 0 else [(a, 0.5), (b, 0.5)]
            options = [(o + [x], p * q) for o, p in options for x, q in branch]
        bye = [field[-1]] if len(field) % 2 else []
        return sum(p * worlds(o + bye) for o, p in options)
    return float(np.mean([worlds(list(s)) for s in itertools.permutations(range(len(gold)), n)]))


def brute_round_robin(w, gold, n):
    values = []
    for subset in itertools.combinations(range(len(gold)), n):
        wins = [sum(w[i, j] for j in subset if j != i) for i in subset]
        top = [i for i, s in zip(subset, wins) if s == max(wins)]
        values.append(np.mean([gold[i] for i in top]))
    return float(np.mean(values))


def random_judge(rng, total, tie_rate=0.3):
    w = np.full((total, total), 0.5)
    for i, j in itertools.combinations(range(total), 2):
        w[i, j] = 0.5 if rng.random() < tie_rate else float(rng.random() < 0.5)
        w[j, i] = 1 - w[i, j]
    return w


@pytest.mark.parametrize("seed", range(4))
def test_exact_values_equal_brute_force_on_small_cases(seed):
    rng = np.random.default_rng(seed)
    total = 5
    w, gold = random_judge(rng, total), rng.random(total)
    for n in range(1, total + 1):
        assert knockout_value(w, gold, n, rng) == pytest.approx(brute_knockout(w, gold, n))
        assert round_robin_value(w, gold, n, rng) == pytest.approx(brute_round_robin(w, gold, n))
    assert knockout_value(w, gold, 1, rng) == pytest.approx(gold.mean())  # one candidate: a random pick


def test_a_transitive_judge_picks_as_the_exact_score_estimator_does():
    rng = np.random.default_rng(0)
    scores, gold = rng.permutation(8).astype(float), rng.random(8)
    w = (scores[:, None] > scores[None, :]).astype(float)
    np.fill_diagonal(w, 0.5)
    for n in (1, 2, 3, 5, 8):
        exact = per_prompt_best_of_n(scores[None], gold[None], n)[0]
        assert knockout_value(w, gold, n, rng, exact_limit=10**6) == pytest.approx(exact)
        assert round_robin_value(w, gold, n, rng) == pytest.approx(exact)


def test_monte_carlo_path_agrees_with_the_exact_one():
    rng = np.random.default_rng(3)
    total = 7
    w, gold = random_judge(rng, total), rng.integers(0, 2, total).astype(float)
    for n in (2, 4, 6):
        exact_k, exact_r = knockout_value(w, gold, n, rng), round_robin_value(w, gold, n, rng)
        mc_k = knockout_value(w, gold, n, np.random.default_rng(1), draws=6000, exact_limit=0)
        mc_r = round_robin_value(w, gold, n, np.random.default_rng(1), draws=6000, exact_limit=0)
        assert mc_k == pytest.approx(exact_k, abs=0.03) and mc_r == pytest.approx(exact_r, abs=0.03)
    again = [per_prompt_values("knockout", [w, w], np.stack([gold, gold]), 6, seed=5, exact_limit=0).tolist()
             for _ in range(2)]
    assert again[0] == again[1]  # seeded


def test_win_matrix_from_two_orders():
    d = {(0, 1): ("A>B", "A>B"),  # 0 wins both orders
         (0, 2): ("A>B", "B>A"),  # a position flip: a tie
         (1, 2): (None, "B>A"),  # one unreadable, the other says 2 wins
         }
    w = win_matrix(3, d)
    assert w[0, 1] == 1 and w[1, 0] == 0 and w[0, 2] == 0.5 and w[2, 1] == 1 and w[1, 2] == 0
    assert comparisons("knockout", 8) == 7 and comparisons("round_robin", 8) == 28
