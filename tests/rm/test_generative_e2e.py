"""Generative judges through every stage of the smoke recipe (added to a copy of the session's
smoke run, so only their own nodes run): the pointwise toy judge trained, scored on the
benchmarks, in best-of-n and as an RL reward, with its calls and parse failures recorded and shown
in the report; the pairwise one where it can run, both orders, its position bias, best-of-n by
knockout and round robin, and the reason it is left out elsewhere. Judge nodes redone after their
folders are lost ask the judge nothing: every answer comes from the cache."""
import json
import shutil

import pytest

from conftest import ROOT, SMOKE, run_cli
from rlhf_eval.pipeline import node_manifests

RMS = "reward_models=[classifier-curated,dpo-curated,toy-judge,toy-judge-ab]"


@pytest.fixture(scope="module")
def judged_run(reference_run, toy_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("judged")
    shutil.copytree(reference_run[0], root / "smoke")
    run_cli(toy_cache, "run", SMOKE, f"run_root={root}", RMS)
    return root


def judge_nodes(run_dir, stage, rm):
    return [m for m in node_manifests(run_dir, stage) if m["outputs"]["rm"] == rm]


def test_a_pointwise_judge_runs_through_every_stage(judged_run):
    run_dir = judged_run / "smoke"
    [trained] = node_manifests(run_dir, "train_rm", "rm=toy-judge")
    assert trained["outputs"]["added_tokens"] == ["no", "yes"] and trained["outputs"]["trained"]
    static = judge_nodes(run_dir, "static_bench", "toy-judge")
    assert len(static) == 3
    for m in static:
        j = m["outputs"]["judge"]
        assert j["calls"] + j["cached"] > 0 and j["parse_failures"] == 0 and j["cost"] == 0
    [bon] = judge_nodes(run_dir, "bon_score", "toy-judge")
    [gen] = node_manifests(run_dir, "bon_generate")
    distinct = {(c["prompt"], c["text"]) for c in map(json.loads, open(gen["outputs"]["candidates"]))}
    # A candidate sampled twice for a prompt is the same question: asked once.
    assert bon["outputs"]["judge"]["calls"] + bon["outputs"]["judge"]["cached"] == len(distinct) <= bon["outputs"]["n"]
    rl = judge_nodes(run_dir, "rl_train", "toy-judge")
    assert rl and all(m["outputs"]["judge"]["calls"] + m["outputs"]["judge"]["cached"] > 0 for m in rl)
    results = json.loads((run_dir / "results.json").read_text())
    assert {r["rm"] for r in results["rm_table"]} == {"classifier-curated", "dpo-curated", "toy-judge", "toy-judge-ab"}
    assert [r["value"] for r in results["static"]
            if r["metric"] == "judge_parse_failures" and r["rm"] == "toy-judge"] == [0, 0, 0]
    assert "judge parse failures" in (run_dir / "report.html").read_text()


def test_a_pairwise_judge_runs_where_it_can_and_says_where_not(judged_run):
    """No RL and no RewardBench 2 (nothing planned, the reason in results.json); both orders on the
    other benchmarks with the flip rate beside the score; best-of-n by knockout and round robin with
    the judge calls of each."""
    run_dir = judged_run / "smoke"
    results = json.loads((run_dir / "results.json").read_text())
    assert {(g["rm"], g["what"]) for g in results["not_planned"]} == {("toy-judge-ab", "toy_rewardbench2"),
                                                                     ("toy-judge-ab", "rl")}
    assert not judge_nodes(run_dir, "rl_train", "toy-judge-ab")
    static = {m["outputs"]["benchmark"]: m["outputs"] for m in judge_nodes(run_dir, "static_bench", "toy-judge-ab")}
    assert set(static) == {"toy_rewardbench", "toy_rmbench"}
    for bench, per_item in (("toy_rewardbench", 1), ("toy_rmbench", 9)):
        out = static[bench]
        assert out["position_bias"]["pairs"] == per_item * out["n"]
        assert out["judge"]["calls"] > 0 and out["judge"]["cost"] == 0
        decisions = [json.loads(line) for line in open(out["decisions"])]
        assert len(decisions) == out["n"] and all(len(d["games"]) == per_item for d in decisions)
    flips = [r for r in results["static"] if r["rm"] == "toy-judge-ab" and r["metric"] == "judge_position_flips"]
    assert [r["value"] for r in flips] == [static[r["benchmark"]]["position_bias"]["flip_rate"] for r in flips]
    html = (run_dir / "report.html").read_text()
    assert "position flips" in html and "Not run" in html and "judge calls" in html

    [bon] = judge_nodes(run_dir, "bon_eval", "toy-judge-ab")
    curve = bon["outputs"]["curve"]
    assert bon["outputs"]["pairwise_rule"] == "round_robin"
    for point in curve:
        n = point["n"]
        assert point["rules"]["knockout"]["judge_calls"] == 2 * (n - 1)
        assert point["rules"]["round_robin"]["judge_calls"] == n * (n - 1)
        assert point["value"] == point["rules"]["round_robin"]["value"]
    assert curve[0]["rules"]["knockout"]["value"] == curve[0]["value"] == bon["outputs"]["base"]  # n = 1
    [score] = judge_nodes(run_dir, "bon_score", "toy-judge-ab")
    n_max, prompts = bon["outputs"]["n_max"], bon["outputs"]["n_prompts"]
    assert score["outputs"]["pairs"] == prompts * n_max * (n_max - 1) // 2


def test_lost_judge_nodes_are_redone_from_the_judgment_cache(judged_run, toy_cache):
    """A kill wipes an unfinished node's folder the same way."""
    run_dir = judged_run / "smoke"
    static = judge_nodes(run_dir, "static_bench", "toy-judge")[0]
    [score] = judge_nodes(run_dir, "bon_score", "toy-judge-ab")
    [bon] = judge_nodes(run_dir, "bon_eval", "toy-judge-ab")
    for m in (static, score, bon):
        shutil.rmtree(run_dir / m["stage"] / m["key"])
    run_cli(toy_cache, "run", SMOKE, f"run_root={judged_run}", RMS)
    again = {m["key"]: m for stage in ("static_bench", "bon_score", "bon_eval") for m in node_manifests(run_dir, stage)}
    was = static["outputs"]["judge"]
    assert again[static["key"]]["outputs"]["judge"]["calls"] == 0
    assert again[static["key"]]["outputs"]["judge"]["cached"] == was["calls"] + was["cached"]
    assert again[static["key"]]["outputs"]["metrics"] == static["outputs"]["metrics"]
    assert again[score["key"]]["outputs"]["judge"]["calls"] == 0
    assert again[bon["key"]]["outputs"]["curve"] == bon["outputs"]["curve"]


def test_the_toy_judge_served_and_asked_over_the_openai_api_scores_as_the_local_judge(judged_run, toy_cache,
                                                                                     tmp_path):
    """The toy judge is completion-style (judge.chat: false): `serve-judge` serves it on
    /v1/completions, and a card with backend openai asks it there through the official client.
    Scores equal the local judge's static_bench scores (to 1e-4); nothing is trained."""
    import os
    import signal
    import subprocess

    import requests
    import yaml

    from conftest import cli

    run_dir = judged_run / "smoke"
    local = next(m for m in judge_nodes(run_dir, "static_bench", "toy-judge")
                 if m["outputs"]["benchmark"] == "toy_rewardbench")
    card = yaml.safe_load((ROOT / "reward_models" / "toy-judge.yaml").read_text())
    cards = tmp_path / "cards" / "reward_models"
    cards.mkdir(parents=True)
    env = dict(os.environ, RLHF_EVAL_CACHE=str(toy_cache), RLHF_EVAL_CARDS=str(tmp_path / "cards"))
    proc = subprocess.Popen(cli("serve-judge", "toy-judge", "--run", run_dir, "--port", "0"), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert "(completions (judge.chat: false" in line, line + proc.stdout.read()
        url = line.split(" on ")[1].split(" ")[0]
        assert [m["id"] for m in requests.get(url + "/models", timeout=30).json()["data"]] == ["toy-judge"]
        chat = requests.post(url + "/chat/completions", timeout=30,
                             json={"model": "toy-judge", "messages": [{"role": "user", "content": "q"}]})
        assert chat.status_code == 400 and "completion-style" in chat.json()["error"]["message"]
        (cards / "toy-judge-api.yaml").write_text(yaml.safe_dump({
            "kind": "generative", "backend": "openai", "url": url,
            "judge": card["judge"] | {"model": "toy-judge"}}))
        out = tmp_path / "api"
        score = subprocess.run(cli("score", "toy-judge-api", "--benchmark", "toy_rewardbench", "--run", run_dir,
                                   "--out", out, "--bootstrap", "0"), cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=600)
        assert score.returncode == 0, score.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    mine = [json.loads(line) for line in open(out / "scores.jsonl")]
    theirs = [json.loads(line) for line in open(local["outputs"]["scores"])]
    assert [r["id"] for r in mine] == [r["id"] for r in theirs]
    diffs = [abs(a - b) for x, y in zip(mine, theirs) for a, b in zip(x["scores"], y["scores"])]
    assert max(diffs) < 1e-4 and len(diffs) == 2 * local["outputs"]["n"]
    spread = [abs(x["scores"][0] - x["scores"][1]) for x in mine]
    # the smoke judge is barely trained, but not a coin flip as over chat completions (spread < 1e-3 there)
    assert max(spread) > 5e-3
