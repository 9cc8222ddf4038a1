import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "recipes" / "smoke.yaml"


@pytest.fixture(scope="session")
def toy_cache(tmp_path_factory):
    """One toy-world cache per test session, shared by every end-to-end run."""
    path = Path(os.environ.get("RLHF_EVAL_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    return path


@pytest.fixture(autouse=True)
def _writes_stay_in_the_test_cache(toy_cache, monkeypatch):
    """What this process writes under $RLHF_EVAL_CACHE (judge answers, reference log-probs) goes
    to the session's cache, never the user's."""
    if "RLHF_EVAL_CACHE" not in os.environ:
        monkeypatch.setenv("RLHF_EVAL_CACHE", str(toy_cache))


def cli_env(cache: Path) -> dict:
    env = dict(os.environ, RLHF_EVAL_CACHE=str(cache), PYTHONUNBUFFERED="1")
    return env


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "rlhf_eval.cli", *map(str, args)]


def run_cli(cache, *args, check=True):
    proc = subprocess.run(cli(*args), cwd=ROOT, env=cli_env(cache), capture_output=True, text=True,
                          timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlhf-eval {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def reference_run(toy_cache, tmp_path_factory):
    """The smoke recipe, run once per test session; tests that add nodes use their own run roots."""
    root = tmp_path_factory.mktemp("ref")
    proc = run_cli(toy_cache, "run", SMOKE, f"run_root={root}")
    return root / "smoke", proc


def rerun_node(run_dir: Path, stage: str, tmp_path: Path, nth: int = 0) -> tuple[dict, dict]:
    """Run the nth `stage` node of a finished run again, through the stage's own run(), in a copy
    of the run whose copy of that node (and its .keep folder of checkpoints) was removed.
    Returns (the new manifest, the one the run wrote) with outputs' paths resolved."""
    from rlhf_eval import store
    from rlhf_eval.launch.node import node_dir, run_node
    from rlhf_eval.pipeline import load_plan

    copy = tmp_path / Path(run_dir).name
    shutil.copytree(run_dir, copy, symlinks=True)
    nodes = load_plan(copy)
    node = [n for n in nodes if n.stage == stage][nth]
    folder = node_dir(copy, node)
    before = store.read_manifest(folder)
    shutil.rmtree(folder)
    shutil.rmtree(folder.with_name(f"{folder.name}.keep"), ignore_errors=True)
    return run_node(copy, node, {n.id: n for n in nodes}), before


def rm_manifest(run_dir: Path, rm: str) -> dict:
    """The train_rm node of card `rm` (its first training seed, where it has several)."""
    from rlhf_eval.pipeline import node_manifests

    return next(m for m in node_manifests(run_dir, "train_rm") if m["outputs"]["name"] == rm)


@pytest.fixture
def rerun(reference_run, toy_cache, tmp_path, monkeypatch):
    """rerun(stage, nth=0): rerun_node on the session's smoke run, in this process, with its cache."""
    monkeypatch.setenv("RLHF_EVAL_CACHE", str(toy_cache))
    return lambda stage, nth=0: rerun_node(reference_run[0], stage, tmp_path, nth)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    """A tiny random Llama with the toy tokenizer, saved as safetensors: a real model for judge
    mechanics (what it answers is noise)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rlhf_eval.toy.tokenizer import build_tokenizer

    path = tmp_path_factory.mktemp("tiny_lm")
    tok = build_tokenizer(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    return str(path)


def missing_data_task(tmp_path):
    """A task YAML whose data file does not exist yet: its bon_generate node fails."""
    data = tmp_path / "short.jsonl"
    task = tmp_path / "sort_short.yaml"
    task.write_text(yaml.safe_dump({
        "task": "sort_short", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test", "output_type": "generate_until", "doc_to_text": "{{q}}", "doc_to_target": "{{a}}",
        "generation_kwargs": {"until": ["<|end|>"], "max_gen_toks": 24, "do_sample": False},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]}))
    return data, task


def write_data(data):
    data.write_text("".join(json.dumps({"q": f"sort these letters in alphabetical order : {w}",
                                        "a": " ".join(sorted(w.split()))}) + "\n" for w in ("b a", "d c a")))


def same_numbers(run_results: dict, ref_results: dict) -> None:
    def pick(r):
        return sorted((x["rm"], x["n"], x["value"]) for x in r["downstream"]
                      if x["method"] == "best-of-n" and x["task"] == "toy_sort")
    assert pick(run_results) == pick(ref_results)
    assert {(x["rm"], x["benchmark"], x["metric"], x["value"]) for x in run_results["static"]} == \
        {(x["rm"], x["benchmark"], x["metric"], x["value"]) for x in ref_results["static"]}
