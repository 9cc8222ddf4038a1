"""On-policy signals of an RM (issue 33, item 3) against a hand computation on a small scores
grid: within-prompt spread, all-tie prompts, and accuracy over candidate pairs with different gold."""
import numpy as np
import pytest

from rlhf_eval.bon.signal_stage import signals


def test_signals_by_hand():
    S = np.array([[1.0, 2.0, 3.0],    # spread sd([1,2,3]) = 0.8165; gold orders 0 < 1: the RM agrees on both pairs
                  [5.0, 5.0, 5.0],    # a tie: no spread; its one gold-differing pair counts 1/2
                  [0.0, 4.0, 2.0]])   # gold all equal: no pair, no accuracy
    G = np.array([[0.0, 1.0, 1.0],
                  [1.0, 0.0, 0.0],
                  [1.0, 1.0, 1.0]])
    out = signals(S, G)
    sd_all = np.std(S)  # over all nine candidates
    assert out["spread"] == pytest.approx([np.std([1, 2, 3]) / sd_all, 0.0, np.std([0, 4, 2]) / sd_all])
    assert out["tie"].tolist() == [0.0, 1.0, 0.0]
    # prompt 0: pairs (0,1) and (0,2) differ in gold; scores 1<2 and 1<3 follow gold 0<1: both right
    # prompt 1: pairs (0,1), (0,2) differ in gold; tied scores: 1/2 each
    assert out["accuracy"][:2].tolist() == [1.0, 0.5] and np.isnan(out["accuracy"][2])
    flipped = signals(-S, G)["accuracy"]  # an RM that ranks against gold
    assert flipped[0] == 0.0 and flipped[1] == 0.5
