"""Seams with other tools, driven by their own code:
- OpenRLHF 0.11.2 (tests/openrlhf_side.py): its remote-RM client against a running `serve-rm`,
  its `train_ppo_ray` argument parsing and checks on our command (through a shell, as a Ray job
  runs it), its `blending_datasets` and `PromptDataset` on our prompt file, its loader on our
  classifier. vLLM is never imported: a fixed-token engine stands in for generation.
- TRL: the curated dataset, as saved, into `RewardTrainer`.
- lm-eval: the commands our nodes record, run with lm-eval's own CLI."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import rm_manifest
from openrlhf_side import ROOT, need_openrlhf, openrlhf_env, run_openrlhf
from rlhf_eval.config import OpenRLHFConfig, RLConfig
from rlhf_eval.pipeline import node_manifests
from rlhf_eval.rl.openrlhf_cmd import build, entrypoint, one_line, write_prompt_file
from rlhf_eval.rl.stage import rl_prompts
from rlhf_eval.rm.base import load_scorer
from rlhf_eval.rm.serve import serve_in_thread
from rlhf_eval.toy.task import gold_answer

# OpenRLHF's SingleTurnAgentExecutor, as its PPO rollout calls it: the prompt comes out of its
# PromptDataset (chat-templated), the engine returns token ids ending with EOS, the client posts
# the decoded ids as `query`.
CLIENT = r'''
import asyncio, json, sys
from types import SimpleNamespace
from transformers import AutoTokenizer
from openrlhf.datasets import PromptDataset
from openrlhf.utils.agent import SingleTurnAgentExecutor

a = json.load(sys.stdin)
tok = AutoTokenizer.from_pretrained(a["tokenizer"])
data = SimpleNamespace(input_key="prompt", label_key="label", apply_chat_template=True)
strategy = SimpleNamespace(args=SimpleNamespace(data=data), is_rank_0=lambda: True)
ds = PromptDataset([{"prompt": r["prompt"], "label": r["label"]} for r in a["rows"]], tok, strategy)

class Engine:
    """vLLM stand-in: returns one fixed response, as token ids ending with EOS."""
    def __init__(self, text):
        self.text = text
    async def generate(self, prompt_ids, params, multi_modal_data=None):
        ids = tok(self.text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        out = SimpleNamespace(token_ids=ids, text=self.text, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])

async def main():
    ex = SingleTurnAgentExecutor(a["url"])
    jobs = [ex.execute(ds[i][1], ds[i][2], SimpleNamespace(max_tokens=64, logprobs=None), 256, tok,
                       Engine(r["response"])) for i, r in enumerate(a["rows"])]
    return await asyncio.gather(*jobs)

outs = asyncio.run(main())
print(json.dumps({"rewards": [o["reward"] for o in outs], "prompts": [o["prompt"] for o in outs]}))
'''


def curated_rows(run_dir: Path, n: int) -> list[dict]:
    path = node_manifests(run_dir, "curate")[0]["outputs"]["path"]
    pairs = [json.loads(line) for line in Path(path).read_text().splitlines()[:n]]
    return [{"prompt": p["prompt"], "response": p[side], "label": ""} for p in pairs for side in ("chosen", "rejected")]


@pytest.mark.parametrize("rm", ["classifier-curated", "dpo-curated"])
def test_openrlhf_client_gets_local_rewards_from_serve_rm(reference_run, rm):
    need_openrlhf()
    run_dir, _ = reference_run
    manifest = rm_manifest(run_dir, rm)
    local = load_scorer(manifest)
    rows = curated_rows(run_dir, 24)
    want = local.score([r["prompt"] for r in rows], [r["response"] for r in rows])
    server, url = serve_in_thread(local, token="s3cret")
    try:
        # OpenRLHF's client sends no headers: the token rides in the URL.
        got = run_openrlhf(CLIENT, {"url": f"{url}?token=s3cret", "tokenizer": manifest["outputs"]["path"],
                                    "rows": rows})
    finally:
        server.shutdown()
    rewards = [r[0] if isinstance(r, list) else r for r in got["rewards"]]
    assert None not in rewards, "OpenRLHF's client got no reward (it swallows HTTP errors)"
    # The prompts it sent were templated once by its PromptDataset.
    assert all(p.startswith("<|user|>") and p.count("<|user|>") == 1 and p.endswith("<|assistant|> ")
               for p in got["prompts"])
    assert rewards == pytest.approx(want, abs=1e-4)
    r = float(np.corrcoef(rewards, want)[0, 1])
    # rows alternate chosen, rejected
    acc = np.mean([a > b for a, b in zip(rewards[::2], rewards[1::2])])
    print(f"{rm}: correlation with local scores {r:.6f} over {len(rows)} responses; chosen over "
          f"rejected {acc:.3f} through OpenRLHF's client, "
          f"{np.mean([a > b for a, b in zip(want[::2], want[1::2])]):.3f} locally")
    assert r > 0.9999


def test_openrlhf_client_gets_a_pointwise_judges_local_scores_from_serve_rm(reference_run, tmp_path):
    """A generative judge behind serve-rm: OpenRLHF's client sends the formatted prompt and the
    decoded query; the judge reads the user turn and the response out of them and scores what it
    scores locally. (The toy policy as a completion-style judge, untrained: its P(done) is a
    number like any other.)"""
    from rlhf_eval.config import JudgeConfig
    from rlhf_eval.rm.judge import GenerativeJudge
    from rlhf_eval.rm.judge_transformers import TransformersJudge
    from rlhf_eval.rm.judgments import JudgmentCache

    need_openrlhf()
    run_dir, _ = reference_run
    policy = node_manifests(run_dir, "toy_world")[0]["outputs"]["policy"]
    config = JudgeConfig(chat=False, template="<|user|> {{ prompt }} <|end|> <|assistant|> {{ response }}",
                         yes_token="done", no_token="the")
    judge = GenerativeJudge("toy-judge", TransformersJudge(policy, batch_size=8), config,
                            JudgmentCache(tmp_path / "judgments.sqlite"))
    rows = curated_rows(run_dir, 12)
    want = judge.score([r["prompt"] for r in rows], [r["response"] for r in rows])
    asked = judge.counts["calls"]
    server, url = serve_in_thread(judge, token="s3cret")
    try:
        got = run_openrlhf(CLIENT, {"url": f"{url}?token=s3cret", "tokenizer": policy, "rows": rows})
    finally:
        server.shutdown()
    rewards = [r[0] if isinstance(r, list) else r for r in got["rewards"]]
    assert None not in rewards, "OpenRLHF's client got no reward (it swallows HTTP errors)"
    assert rewards == pytest.approx(want, abs=1e-6)
    assert judge.counts["calls"] == asked  # the very questions asked locally: all from the cache


LOADER = r'''
import json, sys
import torch
import openrlhf.utils.utils as ou
from openrlhf.models import get_llm_for_sequence_regression

a = json.load(sys.stdin)
out = {}
for dtype in ("bf16", "fp32"):
    if dtype == "fp32":  # 0.11.2 offers bf16 and fp16 only; fp32 shows the weights map exactly
        ou.convert_to_torch_dtype = lambda _: torch.float32
    model = get_llm_for_sequence_regression(a["path"], "reward", param_dtype="bf16", attn_implementation="eager",
                                            value_head_prefix="score").eval()
    width = max(len(x) for x in a["ids"])
    ids = torch.tensor([[a["pad"]] * (width - len(x)) + x for x in a["ids"]])  # left padding, as OpenRLHF pads
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in a["ids"]])
    with torch.no_grad():
        out[dtype] = model(ids, mask).float().tolist()
print(json.dumps(out))
'''


def test_openrlhf_loader_reads_our_classifier(reference_run):
    from rlhf_eval.rm.base import encode
    run_dir, _ = reference_run
    manifest = rm_manifest(run_dir, "classifier-curated")
    local = load_scorer(manifest)
    rows = curated_rows(run_dir, 8)
    prompts, responses = [r["prompt"] for r in rows], [r["response"] for r in rows]
    want = local.score(prompts, responses)
    ids = encode(local.tok, prompts, responses, local.max_length, response_mask=False).ids
    got = run_openrlhf(LOADER, {"path": manifest["outputs"]["path"], "ids": ids, "pad": local.tok.pad_token_id})
    print("OpenRLHF loader vs local, max |diff|: " + ", ".join(
        f"{k} {max(abs(a - b) for a, b in zip(got[k], want)):.2e}" for k in ("fp32", "bf16")))
    assert got["fp32"] == pytest.approx(want, abs=1e-4)  # the head `score` loaded, not initialised afresh
    assert got["bf16"] == pytest.approx(want, abs=0.1)  # OpenRLHF's default dtype: rounding only


def test_curated_dataset_trains_in_trl_as_saved(reference_run, tmp_path):
    """Outside the harness: `load_from_disk` on the curate node's dataset, straight into TRL."""
    from datasets import load_from_disk
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    run_dir, _ = reference_run
    curated = node_manifests(run_dir, "curate")[0]["outputs"]
    ds = load_from_disk(curated["dataset"])
    assert ds.column_names == curated["dataset_columns"] and "margin" not in ds.column_names
    assert isinstance(ds[0]["prompt"], list) and ds[0]["chosen"][0]["role"] == "assistant"
    policy = node_manifests(run_dir, "toy_world")[0]["outputs"]["policy"]
    tok = AutoTokenizer.from_pretrained(policy)
    model = AutoModelForSequenceClassification.from_pretrained(policy, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    args = RewardConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, use_cpu=True,
                        report_to="none", save_strategy="no", gradient_checkpointing=False)
    result = RewardTrainer(model=model, args=args, train_dataset=ds, processing_class=tok).train()
    assert result.global_step == 2 and np.isfinite(result.training_loss)


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_command_token_prompts_and_labels_as_openrlhf_parses_them(reference_run, tmp_path, algorithm):
    """Our entrypoint through a shell (as a Ray job runs it), OpenRLHF's own argument parsing and
    checks, then its blending_datasets and PromptDataset on our prompt file."""
    run_dir, _ = reference_run
    policy = node_manifests(run_dir, "toy_world")[0]["outputs"]["policy"]
    rows = rl_prompts(node_manifests(run_dir, "curate")[0]["outputs"]["path"], 8, 0, gold_answer)
    write_prompt_file(tmp_path / "prompts.jsonl", rows)
    driver = OpenRLHFConfig(entrypoint=[sys.executable, str(ROOT / "tests" / "openrlhf_parse.py")])
    rl = RLConfig(engine="openrlhf", algorithm=algorithm, steps=2, prompts_per_step=4, openrlhf=driver)
    rm = {"name": "r", "kind": "classifier", "backend": "remote", "path": None,
          "url": "http://10.0.0.2:5000/get_reward", "api_key_env": "MY_RM_TOKEN"}
    argv = build(rl, 0, policy, rm, str(tmp_path / "prompts.jsonl"), str(tmp_path / "out"))
    assert "t0k-123" not in entrypoint(argv) and "token=***" in one_line(argv)
    proc = subprocess.run(entrypoint(argv), shell=True, capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=openrlhf_env(RLHF_EVAL_RM_TOKEN="t0k-123"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    want_url = "http://10.0.0.2:5000/get_reward?token=t0k-123"
    assert got["remote_url_sha256"] == [hashlib.sha256(want_url.encode()).hexdigest()]
    assert got["estimator"] == {"grpo": "group_norm", "ppo": "gae"}[algorithm]
    # The prompts arrive templated exactly once, each with its reference answer.
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(policy)
    assert got["label_key"] == "label" and len(got["prompts"]) == 8
    assert got["prompts"] == [tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False,
                                                      add_generation_prompt=True) for r in rows]
    assert got["labels"] == [gold_answer(r["prompt"]) for r in rows] and all(got["labels"])


def lm_eval_cli(command: str, out: Path, *extra: str) -> dict:
    """Run a recorded command with the real lm-eval CLI; the metrics of its one task."""
    import shlex
    argv = shlex.split(command)
    argv[0] = str(Path(sys.executable).with_name(argv[0]))
    proc = subprocess.run(argv + ["--output_path", str(out), *extra], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [result] = list(out.rglob("results_*.json"))
    return next(iter(json.loads(result.read_text())["results"].values()))


def test_recorded_lm_eval_commands_reproduce_the_harness(reference_run, tmp_path):
    """The lm_eval command a policy_eval node records, run with lm-eval's own CLI, draws the same
    k responses per prompt (the smoke recipe samples 4): lm-eval's own score (the first response)
    is the node's, and the toy task's gold verifier on all of them gives the node's score, the mean
    over responses; so does the bon_eval node's, through `rlhf-eval-lm-eval` and the `bon` model."""
    from rlhf_eval.toy.task import is_correct

    run_dir, _ = reference_run
    node = node_manifests(run_dir, "policy_eval")[0]["outputs"]
    assert "--apply_chat_template" in node["lm_eval_command"] and node["responses_per_prompt"] == 4
    got = lm_eval_cli(node["lm_eval_command"], tmp_path / "policy", "--log_samples")
    assert got[f"{node['metric']},extract"] == pytest.approx(node["metrics"][f"{node['metric']},extract"])
    [logged] = list((tmp_path / "policy").rglob("samples_*.jsonl"))
    records = [json.loads(line) for line in logged.read_text().splitlines()]
    per_prompt = [sum(is_correct(r["doc"]["prompt"], x) for x in r["resps"][0]) / 4 for r in records]
    assert len(records) == node["n"] and sum(per_prompt) / len(per_prompt) == pytest.approx(node["value"])
    assert len({x for r in records for x in r["resps"][0]}) > len(records)  # the responses differ
    bon = node_manifests(run_dir, "bon_eval")[0]["outputs"]
    assert bon["lm_eval_command"].startswith("rlhf-eval-lm-eval run --model bon ")
    got = lm_eval_cli(bon["lm_eval_command"], tmp_path / "bon")
    assert got["exact_match,extract"] == pytest.approx(bon["lm_eval_pick_at_n_max"]["exact_match,extract"])


def ppe_fixtures(folder: Path, n: int = 40, k: int = 8) -> tuple[Path, Path]:
    """PPE-format files (the released hub schemas) on the toy task: Arena-style votes between a
    right and a wrong sort, and best-of-K sets of graded sorts."""
    import random

    from rlhf_eval.toy import task
    rng = random.Random(0)
    votes, sets = [], []
    for i in range(n):
        letters = task.sample_letters(rng, 3, 7)
        prompt, right = task.make_prompt(letters), task.correct_answer(letters)
        wrong = " ".join(task.corrupt(right, rng.choice(task.ERRORS), rng))
        a_wins = rng.random() < 0.5
        winner = "tie" if i % 10 == 9 else ("model_a" if a_wins else "model_b")
        pair = [" ".join(right), wrong] if a_wins else [wrong, " ".join(right)]
        votes.append({"question_id": f"q{i}", "model_a": "m1", "model_b": "m2", "winner": winner, "prompt": prompt,
                      "response_1": pair[0], "response_2": pair[1], "language": "English",
                      "hard_prompt": len(letters) >= 6, "easy_prompt": len(letters) <= 4, "if_prompt": False,
                      "math_prompt": False, "is_code": False})
        graded = [rng.random() < 0.4 for _ in range(k)]
        responses = [" ".join(right) if g else " ".join(task.corrupt(right, rng.choice(task.ERRORS), rng))
                     for g in graded]
        sets.append({"question_id": f"q{i}", "prompt": prompt, "model_name": "toy", "scores": graded,
                     "benchmark": ("MATH", "MMLU-Pro")[i % 2],
                     **{f"response_{j + 1}": r for j, r in enumerate(responses)}})
    pref, corr = folder / "ppe_preference.jsonl", folder / "ppe_correctness.jsonl"
    pref.write_text("".join(json.dumps(r) + "\n" for r in votes))
    corr.write_text("".join(json.dumps(r) + "\n" for r in sets))
    return pref, corr


def test_toy_rm_on_ppe_fixtures_and_rmb_samples(reference_run, tmp_path):
    """A trained toy RM through the real scoring path on PPE-format fixtures of the toy task (it
    should beat chance there) and on RMB's released samples (per goal; real text, so no claim)."""
    from rlhf_eval.bench.evaluate import evaluate
    from rlhf_eval.bench.loading import load_items
    from rlhf_eval.bench.stage import score_items

    run_dir, _ = reference_run
    scorer = load_scorer(rm_manifest(run_dir, "dpo-curated"))  # the smoke run's strong RM (toy RewardBench ~0.98)
    pref, corr = ppe_fixtures(tmp_path)
    for bench_name, path in (("ppe-preference", pref), ("ppe-correctness", corr)):
        bench, items, _ = load_items(bench_name, data=str(path))
        m = evaluate(bench, items, score_items(scorer, items), iters=0)["metrics"]
        print(bench_name, {k: round(v, 3) for k, v in m.items()})
        assert m["score"] > 0.7  # the toy RM knows right sorts from wrong ones
    assert m["best_of_k/8"] > m["best_of_k/1"] and m["pearson"] > 0.3  # ppe-correctness
    shared = ROOT.parent / "shared" / "data" / "rmb"
    if shared.is_dir():
        for bench_name, name in (("rmb-pairwise", "pairwise_helpfulness_code.json"),
                                 ("rmb-pairwise", "pairwise_harmlessness_S5.json"),
                                 ("rmb-bon", "bon_helpfulness_code.json"), ("rmb-bon", "bon_harmlessness_S5.json")):
            bench, items, _ = load_items(bench_name, data=str(shared / name))
            m = evaluate(bench, items, score_items(scorer, items), iters=0)["metrics"]
            print(bench_name, name, {k: round(v, 3) for k, v in m.items() if k.startswith(("domain/", "scenario/"))})
            assert len([k for k in m if k.startswith("domain/")]) == 1
