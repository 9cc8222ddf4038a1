"""RM training seeds in compare: a simulation with a known truth (RMs whose training adds seed noise
of a known size), and the crossed seeds-by-items noise by hand."""
import numpy as np
import pytest

from rlhf_eval.compare.stats import Seeded, Source, bootstrap_table, reliability

SEEDS, ITEMS = 3, 200
SEED_SD = 0.06  # training noise per seed: about twice an RM's item standard error, sqrt(.25 / 200)
KEY = ("bench", "score")


def mean_score(v, idx):
    return {"score": float(v[idx].mean())}


def study(rng, true) -> dict:
    """One study's per-item outcomes, rm -> {seed: 0/1 per item}: a fresh benchmark (items with
    their own difficulty, shared by every RM) and fresh training runs (a seed shifts the chance of
    a right answer on every item). RM r's true value is true[r], its expectation over both."""
    item = rng.normal(0, 0.1, ITEMS)
    return {f"rm{r}": {s: (rng.random(ITEMS) < np.clip(mu + rng.normal(0, SEED_SD) + item, 0, 1)).astype(float)
                       for s in range(SEEDS)} for r, mu in enumerate(true)}


def tables(data: dict, k: int, iters: int):
    """compare's table of the seeded RMs, and the seed-blind one of each RM's first seed (items
    resampled only, as before seeds existed)."""
    rms = list(data)
    seeded = bootstrap_table([Source("bench", {rm: Seeded.of(d) for rm, d in data.items()}, None, mean_score,
                                     "static")], rms, iters, k)
    blind = bootstrap_table([Source("bench", {rm: d[0] for rm, d in data.items()}, None, mean_score, "static")],
                            rms, iters, k)
    return seeded, blind


def test_with_three_seeds_the_per_rm_interval_covers_the_recipes_true_value():
    rng = np.random.default_rng(0)
    true = np.linspace(0.45, 0.65, 8)
    covered, blind_covered = [], []
    for k in range(150):
        seeded, blind = tables(study(rng, true), k, 200)
        covered += [lo <= t <= hi for t, (lo, hi) in zip(true, (seeded.interval(KEY, i) for i in range(8)))]
        blind_covered += [lo <= t <= hi for t, (lo, hi) in zip(true, (blind.interval(KEY, i) for i in range(8)))]
    assert 0.93 <= np.mean(covered) <= 0.985, np.mean(covered)
    assert np.mean(blind_covered) < 0.8, np.mean(blind_covered)  # a checkpoint's interval misses the recipe


def test_with_three_seeds_the_reliability_is_within_005_of_the_truth():
    """Over 30 RMs (few RMs bias any ratio estimate, with or without seeds); the truth is the
    share of true-score variance, each RM's noise measured as its spread over simulated studies."""
    rng = np.random.default_rng(1)
    true = np.linspace(0.4, 0.7, 30)
    estimates, blind_estimates, values = [], [], []
    for k in range(40):
        seeded, blind = tables(study(rng, true), k, 150)
        estimates.append(reliability(seeded.point[KEY], seeded.noise(KEY)))
        blind_estimates.append(reliability(blind.point[KEY], blind.noise(KEY)))
        values.append(seeded.point[KEY])
    noise = np.array(values).var(axis=0, ddof=1).mean()
    truth = np.var(true, ddof=1) / (np.var(true, ddof=1) + noise)
    assert abs(np.mean(estimates) - truth) < 0.05, (np.mean(estimates), truth)
    assert np.mean(blind_estimates) > truth + 0.05, (np.mean(blind_estimates), truth)  # items alone overstate it


def test_a_seeded_rm_is_the_mean_of_its_seeds_and_its_noise_is_the_crossed_design_s():
    a, b, c = np.array([1.0, 0, 0, 0]), np.array([1.0, 1, 0, 0]), np.array([1.0, 1, 1, 1])
    src = Source("bench", {"x": Seeded.of({0: a, 1: b, 2: c}), "y": a}, None, mean_score, "static")
    assert Seeded.of({5: a}) is a  # one seed: the array as it always was
    assert src.evaluate(["x", "y"])["score"] == pytest.approx([(0.25 + 0.5 + 1) / 3, 0.25])
    idx, picks = src.draw(np.random.default_rng(1))
    assert set(picks) == {"x"} and len(picks["x"]) == 3
    want = np.mean([[a, b, c][s][idx].mean() for s in picks["x"]])
    assert src.evaluate(["x"], idx, picks)["score"][0] == pytest.approx(want)
    table = bootstrap_table([src], ["x", "y"], 500, 0)
    assert list(table.seeds(KEY)) == [3, 1]
    values, draws = table.seeded[KEY][0]
    assert list(values) == [0.25, 0.5, 1.0]
    # by hand: A = var of the seed values / S, B = var of the seed mean over unit draws, V = mean
    # of each seed's own draw variance; A + B - (V - B) / (S - 1)
    big_a = np.var([0.25, 0.5, 1.0], ddof=1) / 3
    big_b = np.var(draws.mean(axis=1), ddof=1)
    big_v = np.mean(np.var(draws, axis=0, ddof=1))
    want = max(big_a + big_b - (big_v - big_b) / 2, big_a, big_b)
    assert table.noise(KEY)[0] == pytest.approx(want)
    assert table.noise(KEY)[1] == pytest.approx(np.var(table.boot[KEY][:, 1], ddof=1) * 4 / 3)
    lo, hi = table.interval(KEY, 0)
    assert lo < table.point[KEY][0] < hi and (hi - lo) / 2 >= 1.96 * np.sqrt(want)
