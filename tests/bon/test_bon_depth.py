"""Best-of-n at depth: extending N_max reuses candidates, an unseen lm-eval task YAML works, Ray
shards survive a killed worker, and a remote RM over OpenRLHF's protocol scores like a local one."""
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import SMOKE, rm_manifest, run_cli
from rlhf_eval.pipeline import node_manifests

pytestmark = pytest.mark.slow


def outputs(run_dir: Path, stage: str) -> list[dict]:
    return [m["outputs"] for m in node_manifests(run_dir, stage)]


def unseen_task(folder: Path) -> Path:
    """An lm-eval task the recipe has never heard of: short sorting prompts, its own regex filter."""
    rows = [{"q": f"sort these letters in alphabetical order : {' '.join(w)}", "a": " ".join(sorted(w))}
            for w in ("dbca", "zyx", "mlkj", "fed", "qpo", "utsr")]
    (folder / "short.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"task": "sort_short", "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(folder / "short.jsonl")}}, "test_split": "test",
            "output_type": "generate_until", "doc_to_text": "{{q}}", "doc_to_target": "{{a}}",
            "generation_kwargs": {"until": ["<|end|>"], "max_gen_toks": 24, "do_sample": False},
            "filter_list": [{"name": "letters", "filter": [
                {"function": "regex", "regex_pattern": r"\b([a-z](?: [a-z])*)\b", "group_select": -1},
                {"function": "take_first"}]}],
            "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]}
    path = folder / "sort_short.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_raising_n_max_samples_only_new_blocks_and_unseen_task_yaml(reference_run, toy_cache, tmp_path):
    run_dir, _ = reference_run
    root = tmp_path / "runs"
    shutil.copytree(run_dir, root / "smoke")
    task = unseen_task(tmp_path)
    run_cli(toy_cache, "run", SMOKE, f"run_root={root}", "bon.n_max=8", "bon.n_grid=[1,2,4,8]",
            f"bon.tasks=[toy_sort,{task}]", "rl.enabled=false")
    gens = {o["task"]: o for o in outputs(root / "smoke", "bon_generate")}
    old = next(o for o in outputs(run_dir, "bon_generate"))
    toy, short = gens["toy_sort"], gens[str(task)]
    # toy_sort at N_max=8 took the 4 candidates per prompt of the N_max=4 node and drew 4 more.
    assert toy["reused_candidates"] == 4 * old["n_prompts"] and toy["sampled_candidates"] == 4 * old["n_prompts"]
    new = {(c["prompt_id"], c["sample_idx"]): c["text"] for c in map(json.loads, open(toy["candidates"]))}
    before = {(c["prompt_id"], c["sample_idx"]): c["text"] for c in map(json.loads, open(old["candidates"]))}
    assert {k: new[k] for k in before} == before and len(new) == 8 * old["n_prompts"]

    # Drawing blocks 0 and 1 from scratch gives the same 8 candidates: reuse changes nothing.
    from rlhf_eval.bon.generate_stage import Sampling
    from rlhf_eval.bon.lm import CandidateSampler
    from rlhf_eval.evals.harness import run_task
    from rlhf_eval.gen.transformers_backend import TransformersSampler
    s = toy["sampling"]
    sampler = TransformersSampler(toy["policy_path"], Sampling(**s).settings, s["seed"], 64)
    lm = CandidateSampler(sampler, 4, [0, 1], s["max_new_tokens"])
    toy_world = json.loads(next((root / "smoke" / "toy_world").glob("*/manifest.json")).read_text())["outputs"]
    run_task(lm, "toy_sort", toy_world, None)
    assert {(c["prompt_id"], c["sample_idx"]): c["text"] for c in lm.candidates} == new

    # The task given only as a YAML path ran through best-of-n with its own metric.
    assert short["n_prompts"] == 6 and short["reused_candidates"] == 0 and short["metric"] == "exact_match"
    evals = [o for o in outputs(root / "smoke", "bon_eval") if o["task"] == str(task)]
    assert {o["rm"] for o in evals} == {"classifier-curated", "dpo-curated"}
    for o in evals:
        assert [p["n"] for p in o["curve"]] == [1, 2, 4, 8]
        oracle = [p["oracle"] for p in o["curve"]]
        assert oracle == sorted(oracle) and all(0 <= p["value"] <= p["oracle"] + 1e-9 for p in o["curve"])


def test_ray_shard_survives_a_killed_worker(reference_run, tmp_path):
    ray = pytest.importorskip("ray")
    from rlhf_eval.bon.sharded import ShardedSampler
    from rlhf_eval.config import RayShardConfig
    from rlhf_eval.gen import SamplerSpec
    from rlhf_eval.gen.base import Settings

    run_dir, _ = reference_run
    policy = next(o for o in outputs(run_dir, "bon_generate"))["policy_path"]
    spec = SamplerSpec("transformers", policy, Settings(temperature=1.0), seed=5, batch_size=64)
    contexts = [f"<|user|> sort these letters in alphabetical order : {' '.join(w)} <|end|><|assistant|> "
                for w in ("qwertyui", "asdfghjk", "zxcvbnm", "poiuytr") * 30]
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        reference = ShardedSampler(spec, tmp_path / "clean", RayShardConfig(shards=2)).sample(contexts, 8, 24)

        work = tmp_path / "killed"
        killed = []

        def kill_first_worker():
            deadline = time.time() + 120
            while time.time() < deadline and not killed:
                for marker in work.glob("*.attempt-*") if work.exists() else []:
                    pid = int(marker.name.rsplit("-", 1)[1])
                    os.kill(pid, signal.SIGKILL)
                    killed.append(marker.name)
                    return
                time.sleep(0.01)
        t = threading.Thread(target=kill_first_worker)
        t.start()
        sharded = ShardedSampler(spec, work, RayShardConfig(shards=2, max_retries=3))
        got = sharded.sample(contexts, 8, 24)
        t.join()
    finally:
        ray.shutdown()
    assert killed, "no shard started"
    shard = killed[0].split(".attempt-")[0]
    assert len(list(work.glob(f"{shard}.attempt-*"))) == 2  # killed once, retried once
    assert got == reference  # nothing lost, nothing twice, same samples as an undisturbed run
    assert len(got) == len(contexts) and all(len(x) == 8 for x in got)


def test_remote_rm_over_openrlhf_protocol(reference_run, monkeypatch):
    import requests

    from rlhf_eval.rm.base import load_scorer
    from rlhf_eval.rm.remote import RemoteRMError, RemoteScorer
    from rlhf_eval.rm.serve import make_server, serve_in_thread

    run_dir, _ = reference_run
    local = load_scorer(rm_manifest(run_dir, "classifier-curated"))
    prompts = ["sort these letters in alphabetical order : c a b"] * 3 + [
        [{"role": "user", "content": "sort these letters in alphabetical order : e d"}]]
    responses = ["a b c", "c a b", "a c", "d e"]
    server, url = serve_in_thread(local, token="s3cret")
    try:
        monkeypatch.setenv("RM_TOKEN", "s3cret")
        remote = RemoteScorer(url, api_key_env="RM_TOKEN", batch_size=3)
        # Batches differ (3 + 1 remotely), so padding differs: equal up to float32 rounding.
        assert remote.score(prompts, responses) == pytest.approx(local.score(prompts, responses), abs=1e-5)
        # OpenRLHF's shape (no `responses`): query = the templated conversation, scored as sent.
        user = [{"role": "user", "content": "sort these letters in alphabetical order : b a"}]
        query = local.tok.apply_chat_template(user + [{"role": "assistant", "content": "a b"}], tokenize=False)
        prompt = local.tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        body = requests.post(url, json={"query": [query], "prompts": [prompt], "labels": ["a b"]},
                             headers={"Authorization": "Bearer s3cret"}, timeout=30).json()
        assert body["rewards"] == pytest.approx(local.score([user[0]["content"]], ["a b"]), abs=1e-5)
        monkeypatch.setenv("RM_TOKEN", "wrong")
        with pytest.raises(RemoteRMError, match="HTTP 401"):
            remote.score(prompts, responses)
    finally:
        server.shutdown()
    with pytest.raises(RemoteRMError, match="no answer after 2 tries"):
        RemoteScorer(url, retries=1, timeout=2).score(prompts[:1], responses[:1])
    with pytest.raises(ValueError, match="refusing to serve on 0.0.0.0 without a token"):
        make_server(local, host="0.0.0.0")
