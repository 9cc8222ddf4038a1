"""`rlhf-eval compare` over two real runs (the smoke run and one with three other RMs), the refusal
to mix runs whose sampling differs, and the optional exports."""
import csv
import json
import shutil

import numpy as np
import pytest
from scipy import stats

from conftest import SMOKE, run_cli

pytestmark = pytest.mark.slow
OTHER_RMS = "reward_models=[dpo-raw,classifier-raw,classifier-length]"


@pytest.fixture(scope="module")
def other_run(toy_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("other")
    run_cli(toy_cache, "run", SMOKE, f"run_root={root}", OTHER_RMS, "report.exports=[leaderboard,tensorboard]")
    return root / "smoke"


def test_compare_merges_runs_into_one_answer(reference_run, other_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    out = tmp_path / "cmp"
    proc = run_cli(toy_cache, "compare", ref_dir, other_run, "--out", out, "--bootstrap", "200")
    res = json.loads((out / "results.json").read_text())
    assert res["n_rms"] == 5 and res["enough_rms"]
    assert {r["rm"] for r in res["rm_table"]} == {"classifier-curated", "dpo-curated", "dpo-raw", "classifier-raw",
                                                 "classifier-length"}
    # Each RM's numbers are its own run's: merging changes nothing about them.
    for run in (ref_dir, other_run):
        own = json.loads((run / "results.json").read_text())
        for row in own["rm_table"]:
            merged = next(r for r in res["rm_table"] if r["rm"] == row["rm"])
            # (the intervals come from this comparison's own bootstrap draws, not the run's)
            assert {k: v for k, v in row.items() if k != "ci"} == {k: merged[k] for k in row if k != "ci"}
            assert set(merged["ci"]) == set(row["ci"])
    # 3 benchmarks x 3 downstream gains (best-of-2, best-of-4, RL), all three correlations, each with a CI;
    # and the on-policy signals that vary over the RMs, against the RL gain only.
    on_policy = [c for c in res["correlations"] if c["static"].startswith("on-policy")]
    assert len(res["correlations"]) - len(on_policy) == 9
    assert on_policy and all(c["downstream"].startswith("RL gain") for c in on_policy)
    for c in res["correlations"]:
        assert c["n_rms"] == 5 and c["agreement"]["pairs"] == 10
        for method in ("pearson", "spearman", "kendall"):
            lo, hi = c[method]["ci"]
            assert lo - 1e-9 <= c[method]["value"] <= hi + 1e-9
        rel = c["reliability"]
        assert rel["static"] <= 1.0 and rel["downstream"] <= 1.0
        if rel["static"] > 0 and rel["downstream"] > 0:
            want = min(1.0, max(-1.0, c["spearman"]["value"] / (rel["static"] * rel["downstream"]) ** 0.5))
            assert c["spearman"]["disattenuated"] == pytest.approx(want)
        if c["class"] == "no reliable relation":
            assert "cannot rule out" in c["verdict"]
    # The headline cells are one family: exact permutation p over 5! orderings, Holm over all of
    # them, the verdict word from the adjusted p, and a global max-|rho| test.
    from rlhf_eval.compare.family import holm

    fam, size = res["family"], len(res["correlations"])
    assert fam["size"] == size and fam["global"]["cells"] == size and fam["global"]["exact"]
    cells = res["correlations"]
    np.testing.assert_allclose([c["p_adjusted"] for c in cells], holm([c["p"] for c in cells]))
    for c in res["correlations"]:
        assert c["exact"] and (c["p"] * 120) == pytest.approx(round(c["p"] * 120))  # a count of the 120 orderings
        assert c["class"] == ("no reliable relation" if c["p_adjusted"] >= 0.05 else
                              "predicts" if c["spearman"]["value"] > 0 else "reversed")
    assert fam["declarable"] == {"n_rms": 5, "family": None, "one_cell": 1.0}  # 2/120 * 9 > 0.05: nothing declarable
    assert all(c["verdict"] != "predicts" for c in res["correlations"])
    assert all(0 <= m["q"] <= 1 for m in res["matrix"] if m["q"] == m["q"])
    # RL: two training seeds per RM (smoke's rl.seeds); the RM's gain is their mean, with a t interval.
    assert len(res["rl_seeds"]) == 5 and all(g["final"] for g in res["rl_seeds"])  # 2 steps: the final checkpoint only
    for g in res["rl_seeds"]:
        per_seed = list(g["per_seed"].values())
        assert g["seeds"] == 2 and len(per_seed) == 2 and g["gain"] == pytest.approx(sum(per_seed) / 2)
        # t(0.975, 1 df) * sd / sqrt(2), with sd = |a - b| / sqrt(2)
        half = stats.t.ppf(0.975, 1) * abs(per_seed[0] - per_seed[1]) / 2
        assert g["ci_low"] == pytest.approx(g["gain"] - half) and g["ci_high"] == pytest.approx(g["gain"] + half)
    rl_gain = {r["rm"]: r[next(k for k in r if k.startswith("RL gain"))] for r in res["rm_table"]}
    for g in (g for g in res["rl_seeds"] if g["final"]):
        assert rl_gain[g["rm"]] == pytest.approx(g["gain"])  # correlations use the seed means
    assert len(res["verdicts"]) == 3 + len({c["static"] for c in on_policy})
    assert all("5 RMs" in v["text"] for v in res["verdicts"])
    assert all(v["text"].split(" ")[0] in proc.stdout for v in res["verdicts"])
    # The subset matrix holds every subset and domain, and every table is a CSV.
    assert any("subset/" in m["static"] for m in res["matrix"])
    assert any("domain_worst" in m["static"] for m in res["matrix"])
    for name in ("rm_table", "static", "downstream", "correlations", "pairwise", "matrix", "verdicts", "rl_gains",
                 "rl_seeds"):
        with open(out / f"{name}.csv") as fh:
            assert len(list(csv.DictReader(fh))) > 0, name
    assert [p["run_dir"] for p in res["provenance"]] == [str(ref_dir.absolute()), str(other_run.absolute())]
    assert res["provenance"][0]["versions"]["torch"] and res["provenance"][0]["seeds"]["bon"] == 0
    assert set(res["funnel"]) == {str(ref_dir), str(other_run)}
    html = (out / "report.html").read_text()
    assert "classifier-length" in html and "http://" not in html and "https://" not in html
    assert 'id="rl-seeds"' in html and "Disattenuated" in html
    assert 'id="family"' in html and f"one family of {size} tests" in html and "Benjamini-Hochberg" in html
    assert f"one family of {size} tests" in " ".join(proc.stdout.split())
    with open(out / "correlations.csv") as fh:
        assert {"spearman_disattenuated", "reliability_static", "reliability_downstream", "p", "p_adjusted",
                "rests_on"} <= set(next(csv.DictReader(fh)))


def test_compare_refuses_runs_with_different_sampling(reference_run, other_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    shutil.copytree(other_run, tmp_path / "smoke")  # all but best-of-n stays cached
    run_cli(toy_cache, "run", SMOKE, f"run_root={tmp_path}", OTHER_RMS, "bon.temperature=0.7")
    proc = run_cli(toy_cache, "compare", ref_dir, tmp_path / "smoke", "--out", tmp_path / "cmp", check=False)
    assert proc.returncode == 2
    said = " ".join(proc.stderr.split())
    assert "best-of-n (toy-policy, toy_sort) differs in sampling.temperature: 1.0 vs 0.7" in said
    assert not (tmp_path / "cmp").exists()


def test_exports_leaderboard_and_tensorboard(other_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    [report] = [p for p in (other_run / "report").iterdir() if (p / "manifest.json").is_file()]
    res = json.loads((report / "results.json").read_text())
    board = json.loads((report / "leaderboard.json").read_text())
    score = {(r["rm"], r["benchmark"]): r["value"] for r in res["static"] if r["metric"] == "score"}
    assert len(board) == len(score) == 9
    for rec in board:
        assert rec["score"] == round(100 * score[(rec["model"], rec["benchmark"])], 2)
    ev = EventAccumulator(str(report / "tensorboard"))
    ev.Reload()
    tag = "static/toy_rewardbench/dpo-raw"
    assert ev.Scalars(tag)[0].value == pytest.approx(score[("dpo-raw", "toy_rewardbench")], abs=1e-6)
    bon = ev.Scalars("best_of_n/toy_sort/toy-policy/dpo-raw")
    assert [s.step for s in bon] == [1, 2, 4]
