"""Which benchmark predicts better: the paired difference of Spearman correlations (issue 33,
item 4) against scipy on hand-made values, and its interval's coverage of a known truth."""
import numpy as np
import pytest
from scipy import stats

from rlhf_eval.compare.power import difference_coverage, spearman_of_normal
from rlhf_eval.compare.ranking import rank_statics, spearman_difference


def test_the_difference_is_the_two_spearman_correlations_apart():
    y = np.array([0.1, 0.4, 0.2, 0.9, 0.5, 0.7])
    a = np.array([1.0, 3.0, 2.0, 6.0, 4.0, 5.0])  # y's exact order: rho 1
    b = np.array([2.0, 1.0, 3.0, 5.0, 6.0, 4.0])
    d = spearman_difference(a, b, y, iters=500, seed=1)
    assert d["difference"] == pytest.approx(1.0 - stats.spearmanr(b, y)[0])
    assert d["n_rms"] == 6 and d["ci"][0] <= d["difference"] <= d["ci"][1]
    same = spearman_difference(b, b, y, iters=200)
    assert same["difference"] == 0 and same["ci"] == [0.0, 0.0]  # paired: a metric never beats itself
    with_gap = spearman_difference(np.append(a, np.nan), np.append(b, 1.0), np.append(y, 0.3), iters=100)
    assert with_gap["n_rms"] == 6  # an RM missing on any side is left out
    assert np.isnan(spearman_difference(a[:3], b[:3], y[:3])["ci"][0])  # 3 RMs: no interval


def test_ranking_orders_by_spearman_and_names_only_separated_pairs():
    rng = np.random.default_rng(0)
    q = rng.standard_normal(40)
    statics = {"sharp": q + 0.1 * rng.standard_normal(40), "blunt": q + 3.0 * rng.standard_normal(40),
               "sharp2": q + 0.12 * rng.standard_normal(40)}
    out = rank_statics(statics, q + 0.2 * rng.standard_normal(40), iters=500, seed=0)
    assert [r["static"] for r in out["ranked"]][2] == "blunt"
    better = {(p["a"], p["b"]): p["better"] for p in out["pairs"]}
    assert better[(out["ranked"][0]["static"], "blunt")] == out["ranked"][0]["static"]
    assert better[(out["ranked"][0]["static"], out["ranked"][1]["static"])] is None  # 0.10 vs 0.12: not separated


@pytest.mark.parametrize("n_rms, noise", [(9, (0.3, 1.0, 0.5)), (20, (0.5, 0.5, 0.5)), (20, (0.2, 2.0, 0.3))])
def test_the_paired_interval_covers_the_true_difference(n_rms, noise):
    """Simulated studies with a known truth (docs/compare.md keeps the table)."""
    sa, sb, sy = noise
    r = [1 / np.sqrt((1 + s * s) * (1 + sy * sy)) for s in (sa, sb)]
    assert abs(spearman_of_normal(r[0]) - spearman_of_normal(r[1])) < 1
    assert difference_coverage(n_rms, noise, reps=200, draws=400, seed=3) >= 0.90


def test_resolution_is_the_smallest_step_of_a_mean():
    from rlhf_eval.compare.sources import resolution

    greedy = [np.array([0.0, 1.0, -1.0, 0.0]), np.array([1.0, 1.0, 0.0, 0.0])]  # per-prompt 0/1 differences
    assert resolution(greedy, 4) == pytest.approx(0.25)
    assert resolution(greedy, 4 * 3) == pytest.approx(1 / 12)  # three seeds' means averaged
    assert resolution([np.array([0.0, 0.5, 0.75])], 2) == pytest.approx(0.125)
    assert np.isnan(resolution([np.zeros(5)], 5))
