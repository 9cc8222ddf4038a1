"""`rlhf-eval diff` on two real runs: the smoke run, and a copy of it rerun with another best-of-n
seed (only the nodes whose key changed run again)."""
import json
import math
import shutil

from conftest import SMOKE, run_cli


def test_diff_of_two_runs_names_nodes_seeds_and_moves(reference_run, toy_cache, tmp_path):
    run_a, _ = reference_run
    run_b = tmp_path / "b" / "smoke"
    shutil.copytree(run_a, run_b, symlinks=True)
    run_cli(toy_cache, "run", SMOKE, f"run_root={run_b.parent}", "bon.seed=7")
    out = tmp_path / "diff.json"
    proc = run_cli(toy_cache, "diff", run_a, run_b, "--json", out)
    d = json.loads(out.read_text())

    by_stage = {}
    for n in d["nodes"]:
        by_stage.setdefault(n["stage"], set()).add(n["status"])
    for stage in ("toy_world", "train_rm", "static_bench", "curate", "rl_train", "policy_eval"):
        assert by_stage[stage] == {"same key"}, (stage, by_stage[stage])
    for stage in ("bon_generate", "bon_score", "bon_eval", "compare", "report"):
        assert by_stage[stage] == {"different key"}, stage
    gen = next(n for n in d["nodes"] if n["stage"] == "bon_generate")
    assert [(p["path"], p["a"], p["b"]) for p in gen["params"]] == [("sampling.seed", 0, 7)]
    assert d["setup"]["seeds"] == [{"what": "bon", "a": 0, "b": 7}]
    assert d["setup"]["versions"] == [] and d["setup"]["data"] != []   # the candidates' fingerprints

    a = json.loads((run_a / "results.json").read_text())
    rows = {(r["rm"], r["column"]): r for r in d["numbers"]}
    static = [k for k in rows if k[1].endswith(" score")]
    bon = [k for k in rows if k[1].startswith("best-of-")]
    assert static and all(rows[k]["moved"] == "same" for k in static)
    assert any(rows[k]["delta"] != 0 for k in bon)
    # z against both runs' own intervals, by hand for one moved number
    moved = next(rows[k] for k in bon if rows[k]["delta"] != 0)
    se = [(ci[1] - ci[0]) / (2 * 1.96) for ci in (moved["ci_a"], moved["ci_b"])]
    assert moved["z"] == (moved["b"] - moved["a"]) / math.hypot(*se)
    assert moved["moved"] == ("beyond noise" if abs(moved["z"]) > 1.96 else "within noise")
    assert len(d["verdicts"]) == len(a["correlations"])
    assert "nodes: " in proc.stdout and "headline numbers:" in proc.stdout and "seeds: bon: A 0, B 7" in proc.stdout


def test_diff_of_a_folder_that_is_not_a_run(reference_run, toy_cache, tmp_path):
    proc = run_cli(toy_cache, "diff", reference_run[0], tmp_path, check=False)
    assert proc.returncode == 2 and f"{tmp_path}: not a run folder (no plan.json)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_beyond_noise_has_its_stated_false_alarm_rate_under_a_known_truth():
    """Two runs measuring the same true accuracy on independent item draws (percentile bootstrap
    CIs, as the report's): diff calls about 5% of them "beyond noise"; a true shift of 3 standard
    errors of the difference (expected power 0.85) it calls in most."""
    import numpy as np

    from rlhf_eval.report.diff import number_diff
    rng = np.random.default_rng(0)
    items, studies, boots = 300, 300, 200

    def run(p):
        x = rng.random(items) < p
        draws = x[rng.integers(0, items, (boots, items))].mean(axis=1)
        ci = [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]
        return {"correlations": [{"static": "s score", "downstream": "d",
                                  "values": [{"rm": "r", "static": float(x.mean()), "static_ci": ci,
                                              "downstream": 0.0, "downstream_ci": [0.0, 0.0]}]}]}

    def alarm_rate(shift):
        hits = 0
        for _ in range(studies):
            row = next(r for r in number_diff(run(0.7), run(0.7 + shift)) if r["column"] == "s score")
            hits += row["moved"] == "beyond noise"
        return hits / studies
    se_difference = (2 * 0.7 * 0.3 / items) ** 0.5
    assert 0.02 <= alarm_rate(0.0) <= 0.09
    assert alarm_rate(3 * se_difference) >= 0.75
