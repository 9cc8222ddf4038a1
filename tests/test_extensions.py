"""Each extension point is one module plus one registry line: registering the implementations of
tests/extension_examples.py is all it takes for the config to accept them and the pipeline to use
them (the registries are read when used, never copied into lists)."""
import json

import pytest
from rich.console import Console

from conftest import ROOT
from rlhf_eval.bench import BENCHMARKS, benchmark_for
from rlhf_eval.bench.loading import load_items
from rlhf_eval.config import RLConfig, load_recipe
from rlhf_eval.gen import SAMPLERS, SamplerSpec, make_sampler
from rlhf_eval.gen.base import Settings
from rlhf_eval.launch import EXECUTORS
from rlhf_eval.rl import ALGORITHMS, ENGINES
from rlhf_eval.rm import RM_KINDS, SCORERS
from rlhf_eval.rm.base import load_scorer

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def test_a_new_generation_backend(monkeypatch, tmp_path):
    monkeypatch.setitem(SAMPLERS, "echo", "extension_examples:EchoSampler")
    sampler = make_sampler(SamplerSpec("echo", "/no/model", Settings(), 0, 8))
    assert sampler.sample(["sort : b a"], 2, 8) == [["a", "a"]]
    cards = tmp_path / "cards" / "policies"
    cards.mkdir(parents=True)
    (cards / "toy-policy.yaml").write_text("path: toy:policy\nbackend: echo\n")  # $RLHF_EVAL_CARDS comes first
    monkeypatch.setenv("RLHF_EVAL_CARDS", str(tmp_path / "cards"))
    assert load_recipe(QUICKSTART).policies["toy-policy"].backend == "echo"


def test_a_new_rm_backend(monkeypatch):
    monkeypatch.setitem(SCORERS, "length", "extension_examples:load_length_scorer")
    monkeypatch.setitem(RM_KINDS, "classifier", RM_KINDS["classifier"] + ("length",))
    out = {"name": "len", "kind": "classifier", "backend": "length", "path": None, "batch_size": 8, "max_length": 64}
    assert load_scorer({"outputs": out}).score(["q"], ["abc"]) == [3.0]
    with pytest.raises(ValueError, match="the length backend cannot score implicit RMs"):
        load_scorer({"outputs": out | {"kind": "implicit"}})


def test_a_new_executor(monkeypatch, capsys):
    monkeypatch.setitem(EXECUTORS, "dry", "extension_examples:record_nodes")
    loaded = load_recipe(QUICKSTART, ["executor=dry"])
    EXECUTORS.load(loaded.recipe.executor)(None, [1, 2, 3], Console(), recipe=loaded.recipe)
    assert "would run 3 nodes" in capsys.readouterr().out
    with pytest.raises(ValueError, match="executor='drry' is not one of local, ray, dry"):
        load_recipe(QUICKSTART, ["executor=drry"])


def test_a_new_rl_engine(monkeypatch):
    from rlhf_eval.rl.base import RLJob
    monkeypatch.setitem(ENGINES, "constant", "extension_examples:constant_engine")
    monkeypatch.setitem(ALGORITHMS, "constant", ("grpo",))
    loaded = load_recipe(QUICKSTART, ["rl.engine=constant"])
    steps = []
    train = ENGINES.load(loaded.recipe.rl.engine)
    out = train(None, RLJob(RLConfig(steps=5), 0, "/policy", []), steps.append)
    assert out["checkpoints"] == [{"step": 5, "path": "/policy"}] and steps == [5]


def test_a_new_benchmark(monkeypatch, tmp_path):
    monkeypatch.setitem(BENCHMARKS, "mini-pairwise", "extension_examples:MINI")
    data = tmp_path / "mini.jsonl"
    data.write_text(json.dumps({"id": "a", "prompt": "q", "chosen": "x", "rejected": "y"}) + "\n")
    bench, items, _ = load_items("mini-pairwise", data=str(data))
    assert bench is benchmark_for("mini-pairwise") and [it.id for it in items] == ["a"]
    assert load_recipe(QUICKSTART, [f"static_bench.benchmarks=[{{name: mini-pairwise, data: {data}}}]"])
