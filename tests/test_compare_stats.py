"""The statistics of the answer: correlations against scipy, pairwise agreement by hand, verdict
wording, and the coverage of the bootstrap CIs on a simulated population with a known correlation."""
import math

import numpy as np
import pytest
from scipy import stats

from rlhf_eval.compare.merge import MergeError, first_difference, merge
from rlhf_eval.compare.stats import (Source, benchmark_verdict, bootstrap_table, classify, corr, correlate,
                                     pairwise_agreement, rowwise)


def test_correlations_match_scipy_on_fixed_inputs():
    x = [0.61, 0.72, 0.55, 0.90, 0.72, 0.48, 0.83]
    y = [0.10, 0.25, 0.05, 0.31, 0.20, 0.12, 0.22]
    assert corr("pearson", x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    assert corr("spearman", x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)  # a tie in x
    assert corr("kendall", x, y) == pytest.approx(stats.kendalltau(x, y)[0], abs=1e-12)  # tau-b
    # Hand-computed: a perfectly reversed ranking, and a constant side.
    assert corr("spearman", [1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)
    assert math.isnan(corr("pearson", [1, 2, 3], [5, 5, 5]))
    assert math.isnan(corr("spearman", [1, 2], [1, 2]))  # two RMs rank trivially


def test_rowwise_correlations_equal_scipy_row_by_row():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, (40, 8)).astype(float)  # many ties
    Y = X + rng.normal(0, 2, X.shape)
    for kind, fn in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
        got = rowwise(kind, X, Y)
        want = [fn(a, b)[0] if np.ptp(a) > 0 else np.nan for a, b in zip(X, Y)]
        np.testing.assert_allclose(got, want, atol=1e-10)


def test_pairwise_agreement_by_hand():
    rms = ["a", "b", "c", "d"]
    x = np.array([0.9, 0.8, 0.5, 0.49])
    y = np.array([0.3, 0.1, 0.2, 0.0])
    # Bootstrap draws: c and d overlap (within noise); every other pair is clearly separated.
    bx = np.array([x + d for d in np.linspace(-0.005, 0.005, 50)])
    bx[:25, 3] = 0.52
    a = pairwise_agreement(rms, x, y, bx)
    # Pairs: ab agree, ac agree, ad agree, bc disagree (0.8 > 0.5 but 0.1 < 0.2), bd agree; cd within noise (agree).
    assert a["pairs"] == 6 and a["within_noise"] == 1 and a["within_noise_agree"] == 1
    assert (a["resolved"], a["agree"]) == (5, 4) and a["share"] == pytest.approx(0.8)


def test_verdicts_name_too_few_rms_and_read_the_ci():
    c = {"spearman": {"value": 0.9, "ci": [0.2, 1.0]}}
    assert classify(c, 4) == "too few RMs"
    assert classify(c, 5) == "predicts"
    assert classify({"spearman": {"value": -0.8, "ci": [-1.0, -0.1]}}, 6) == "reversed"
    assert classify({"spearman": {"value": 0.3, "ci": [-0.4, 0.9]}}, 6) == "no reliable relation"
    v = benchmark_verdict("rewardbench", "score", [], 3)
    assert "only 3 RMs, too few to support any claim" in v["text"]


def _simulated(rho: float, n_rms: int, units: int, noise: float, rng) -> list[Source]:
    s = rng.normal(size=n_rms)
    d = rho * s + math.sqrt(1 - rho ** 2) * rng.normal(size=n_rms)
    rms = [f"rm{i}" for i in range(n_rms)]
    mean = lambda v, idx: {"value": float(v[idx].mean())}  # noqa: E731
    static = Source("bench", {r: s[i] + rng.normal(0, noise, units) for i, r in enumerate(rms)}, None, mean, "static")
    down = Source("task", {r: d[i] + rng.normal(0, noise, units) for i, r in enumerate(rms)}, None, mean, "downstream")
    return rms, [static, down]


def test_bootstrap_ci_covers_a_known_correlation():
    """RMs drawn from a population where static and downstream quality correlate at rho = 0.6,
    each measured on 100 noisy units. The CI that resamples RMs and units covers rho about 95% of
    the time; resampling units alone (measurement noise only) covers it far less often, which is
    why verdicts use the first."""
    rho, reps, hits, hits_meas = 0.6, 120, 0, 0
    rng = np.random.default_rng(1)
    for rep in range(reps):
        rms, sources = _simulated(rho, n_rms=30, units=100, noise=0.5, rng=rng)
        t = bootstrap_table(sources, rms, iters=300, seed=rep)
        key_s, key_d = ("bench", "value"), ("task", "value")
        c = correlate(t.point[key_s], t.point[key_d], t.boot[key_s], t.boot[key_d], seed=rep, kinds=("pearson",))
        lo, hi = c["pearson"]["ci"]
        hits += lo <= rho <= hi
        lo, hi = c["pearson"]["ci_measurement"]
        hits_meas += lo <= rho <= hi
    assert 0.87 <= hits / reps <= 0.99, hits / reps
    assert hits_meas / reps < 0.5, hits_meas / reps


def test_merge_refuses_different_settings_and_clashing_rms():
    assert first_difference({"sampling": {"temperature": 1.0, "top_p": 1.0}},
                            {"sampling": {"temperature": 0.7, "top_p": 1.0}}) == "sampling.temperature: 1.0 vs 0.7"
    a = {"dir": "runs/a", "settings": {"best-of-n (p, t)": {"limit": None}}, "rm_keys": {"rm1": "k1"}, "by": {}}
    b = {"dir": "runs/b", "settings": {"best-of-n (p, t)": {"limit": 50}}, "rm_keys": {"rm1": "k1"}, "by": {}}
    with pytest.raises(MergeError, match=r"runs/a and runs/b: best-of-n \(p, t\) differs in limit: None vs 50"):
        merge([a, b])
    b["settings"]["best-of-n (p, t)"]["limit"] = None
    b["rm_keys"]["rm1"] = "k2"
    with pytest.raises(MergeError, match="RM 'rm1' is a different model in each"):
        merge([a, b])
