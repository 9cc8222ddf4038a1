"""A generative judge through every stage of the smoke recipe (added to a copy of the session's
smoke run, so only its own nodes run): trained, scored on the benchmarks, in best-of-n and as an
RL reward, with its calls and parse failures recorded and shown in the report. A judge node
redone after its folder is lost asks the judge nothing: every answer comes from the cache."""
import json
import shutil

from conftest import SMOKE, run_cli
from rlhf_eval.pipeline import node_manifests

RMS = "reward_models=[classifier-curated,dpo-curated,toy-judge]"


def test_a_generative_judge_runs_through_every_stage(reference_run, toy_cache, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(reference_run[0], root / "smoke")
    run_cli(toy_cache, "run", SMOKE, f"run_root={root}", RMS)
    run_dir = root / "smoke"
    [trained] = node_manifests(run_dir, "train_rm", "rm=toy-judge")
    assert trained["outputs"]["added_tokens"] == ["no", "yes"] and trained["outputs"]["trained"]
    static = [m for m in node_manifests(run_dir, "static_bench") if m["outputs"]["rm"] == "toy-judge"]
    assert len(static) == 3
    for m in static:
        j = m["outputs"]["judge"]
        assert j["calls"] + j["cached"] > 0 and j["parse_failures"] == 0 and j["cost"] == 0
    [bon] = [m for m in node_manifests(run_dir, "bon_score") if m["outputs"]["rm"] == "toy-judge"]
    [gen] = node_manifests(run_dir, "bon_generate")
    distinct = {(c["prompt"], c["text"]) for c in map(json.loads, open(gen["outputs"]["candidates"]))}
    # A candidate sampled twice for a prompt is the same question: asked once.
    assert bon["outputs"]["judge"]["calls"] + bon["outputs"]["judge"]["cached"] == len(distinct) <= bon["outputs"]["n"]
    rl = [m for m in node_manifests(run_dir, "rl_train") if m["outputs"]["rm"] == "toy-judge"]
    assert rl and all(m["outputs"]["judge"]["calls"] + m["outputs"]["judge"]["cached"] > 0 for m in rl)
    results = json.loads((run_dir / "results.json").read_text())
    assert {r["rm"] for r in results["rm_table"]} == {"classifier-curated", "dpo-curated", "toy-judge"}
    assert [r["value"] for r in results["static"] if r["metric"] == "judge_parse_failures"] == [0, 0, 0]
    assert "judge parse failures" in (run_dir / "report.html").read_text()

    # Lose a judge node's folder (a kill wipes an unfinished node the same way): redone from the cache.
    first = static[0]
    shutil.rmtree(run_dir / "static_bench" / first["key"])
    run_cli(toy_cache, "run", SMOKE, f"run_root={root}", RMS)
    [again] = [m for m in node_manifests(run_dir, "static_bench") if m["key"] == first["key"]]
    was = first["outputs"]["judge"]
    assert again["outputs"]["judge"]["calls"] == 0
    assert again["outputs"]["judge"]["cached"] == was["calls"] + was["cached"]
    assert again["outputs"]["metrics"] == first["outputs"]["metrics"]


def test_a_pairwise_judge_runs_where_it_can_and_says_where_not(reference_run, toy_cache, tmp_path):
    """No RL and no RewardBench 2 (nothing planned, the reason in results.json); both orders on the
    other benchmarks with the flip rate beside the score; best-of-n by knockout and round robin with
    the judge calls of each; a lost best-of-n node is redone from the judgment cache."""
    root, rms = tmp_path / "root", "reward_models=[classifier-curated,dpo-curated,toy-judge-ab]"
    shutil.copytree(reference_run[0], root / "smoke")
    run_cli(toy_cache, "run", SMOKE, f"run_root={root}", rms)
    run_dir = root / "smoke"
    results = json.loads((run_dir / "results.json").read_text())
    assert {(g["rm"], g["what"]) for g in results["not_planned"]} == {("toy-judge-ab", "toy_rewardbench2"),
                                                                     ("toy-judge-ab", "rl")}
    assert not [m for m in node_manifests(run_dir, "rl_train") if m["outputs"]["rm"] == "toy-judge-ab"]
    static = {m["outputs"]["benchmark"]: m["outputs"] for m in node_manifests(run_dir, "static_bench")
              if m["outputs"]["rm"] == "toy-judge-ab"}
    assert set(static) == {"toy_rewardbench", "toy_rmbench"}
    for bench, per_item in (("toy_rewardbench", 1), ("toy_rmbench", 9)):
        out = static[bench]
        assert out["position_bias"]["pairs"] == per_item * out["n"]
        j = out["judge"]
        assert j["calls"] > 0 and j["cost"] == 0
        decisions = [json.loads(line) for line in open(out["decisions"])]
        assert len(decisions) == out["n"] and all(len(d["games"]) == per_item for d in decisions)
    flips = [r for r in results["static"] if r["rm"] == "toy-judge-ab" and r["metric"] == "judge_position_flips"]
    assert [r["value"] for r in flips] == [static[r["benchmark"]]["position_bias"]["flip_rate"] for r in flips]
    assert "position flips" in (run_dir / "report.html").read_text()

    [bon] = [m for m in node_manifests(run_dir, "bon_eval") if m["outputs"]["rm"] == "toy-judge-ab"]
    curve = bon["outputs"]["curve"]
    assert bon["outputs"]["pairwise_rule"] == "round_robin"
    for point in curve:
        n = point["n"]
        assert point["rules"]["knockout"]["judge_calls"] == 2 * (n - 1)
        assert point["rules"]["round_robin"]["judge_calls"] == n * (n - 1)
        assert point["value"] == point["rules"]["round_robin"]["value"]
    assert curve[0]["rules"]["knockout"]["value"] == curve[0]["value"] == bon["outputs"]["base"]  # n = 1
    [score] = [m for m in node_manifests(run_dir, "bon_score") if m["outputs"]["rm"] == "toy-judge-ab"]
    n_max, prompts = bon["outputs"]["n_max"], bon["outputs"]["n_prompts"]
    assert score["outputs"]["pairs"] == prompts * n_max * (n_max - 1) // 2

    shutil.rmtree(run_dir / "bon_score" / score["key"])
    shutil.rmtree(run_dir / "bon_eval" / bon["key"])
    run_cli(toy_cache, "run", SMOKE, f"run_root={root}", rms)
    [again] = [m for m in node_manifests(run_dir, "bon_score") if m["key"] == score["key"]]
    assert again["outputs"]["judge"]["calls"] == 0
    [bon_again] = [m for m in node_manifests(run_dir, "bon_eval") if m["key"] == bon["key"]]
    assert bon_again["outputs"]["curve"] == curve
