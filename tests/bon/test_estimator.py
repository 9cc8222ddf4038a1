import itertools
import math

import numpy as np
import pytest

from rlhf_eval.bon import anti_oracle_curve, expected_best_of_n, kl_bound, oracle_curve


def brute_force(scores, gold, n):
    """Average over every n-subset; within tied top scores the pick is uniform."""
    values = []
    for s, g in zip(scores, gold):
        per = []
        for subset in itertools.combinations(range(len(s)), n):
            top = max(s[i] for i in subset)
            per.append(np.mean([g[i] for i in subset if s[i] == top]))
        values.append(np.mean(per))
    return float(np.mean(values))


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    prompts, n_max = 5, 7
    scores = rng.integers(0, 4, size=(prompts, n_max)).astype(float)  # many ties
    gold = rng.random((prompts, n_max))
    for n in range(1, n_max + 1):
        assert expected_best_of_n(scores, gold, n) == pytest.approx(brute_force(scores, gold, n), abs=1e-12)


def test_matches_brute_force_continuous():
    rng = np.random.default_rng(9)
    scores, gold = rng.normal(size=(4, 8)), rng.integers(0, 2, size=(4, 8)).astype(float)
    for n in (1, 3, 8):
        assert expected_best_of_n(scores, gold, n) == pytest.approx(brute_force(scores, gold, n))


def test_hand_computed_case():
    # N=3, candidate scores 3>2>1 with gold 0,1,1. n=2 subsets: {0,1}->0, {0,2}->0, {1,2}->1.
    assert expected_best_of_n([[3, 2, 1]], [[0, 1, 1]], 2) == pytest.approx(1 / 3)
    assert expected_best_of_n([[3, 2, 1]], [[0, 1, 1]], 1) == pytest.approx(2 / 3)


def test_oracle_and_anti_oracle():
    gold = np.array([[1.0, 0, 0, 0], [0, 0, 0, 0]])
    # pass@2 of the first prompt = 1 - C(3,2)/C(4,2) = 0.5
    assert oracle_curve(gold, 2) == pytest.approx(0.25)
    assert anti_oracle_curve(gold, 1) == pytest.approx(0.125)
    assert anti_oracle_curve(gold, 2) == 0.0


def test_kl_bound():
    assert kl_bound(1) == 0.0
    assert kl_bound(16) == pytest.approx(math.log(16) - 15 / 16)


def test_bad_shapes():
    with pytest.raises(ValueError, match="n=5 must be within 1..N_max=4"):
        expected_best_of_n(np.zeros((2, 4)), np.zeros((2, 4)), 5)
