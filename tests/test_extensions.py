"""Each extension point is one module plus one registry line: registering the implementations of
tests/extension_examples.py is all it takes for the config to accept them and the pipeline to use
them (the registries are read when used, never copied into lists)."""
import json
from pathlib import Path

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
SMOKE = ROOT / "recipes" / "smoke.yaml"


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


def test_a_new_stage(monkeypatch, reference_run, toy_cache, tmp_path):
    """extension_examples.BEST_MINUS_WORST, a toy downstream measure, plus its registry line: the
    recipe takes its section (and names it in a typo's error), the pipeline plans and runs its
    nodes, compare correlates it with every static score, plan --cost and Slurm handle it."""
    import shutil
    from dataclasses import replace

    import extension_examples
    from rlhf_eval import store
    from rlhf_eval.config import ConfigError
    from rlhf_eval.launch.cost import estimate
    from rlhf_eval.launch.node import run_node
    from rlhf_eval.launch.slurm import render
    from rlhf_eval.pipeline import expand, plan_dict
    from rlhf_eval.stages import STAGES
    from rlhf_eval.stages import stage as stage_of

    monkeypatch.setitem(STAGES, "best_minus_worst", "extension_examples:BEST_MINUS_WORST")
    monkeypatch.setenv("RLHF_EVAL_CACHE", str(toy_cache))
    with pytest.raises(ConfigError, match="unknown key 'best_minus_worst.enabeld' .*did you mean 'enabled'"):
        load_recipe(SMOKE, ["best_minus_worst.enabeld=true"])
    shutil.copytree(reference_run[0], tmp_path / "smoke", symlinks=True)  # its other nodes are done
    loaded = load_recipe(SMOKE, ["best_minus_worst.enabled=true", f"run_root={tmp_path}",
                                 "slurm.stages.best_minus_worst.cpus=2"])
    nodes = expand(loaded)
    new = [n for n in nodes if n.stage == "best_minus_worst"]
    assert [n.label for n in new] == [f"rm={rm} policy=toy-policy task=toy_sort" for rm in loaded.recipe.reward_models]
    [cmp] = [n for n in nodes if n.stage == "compare"]
    assert {n.id for n in new} <= set(cmp.deps.values())
    off = expand(load_recipe(SMOKE, [f"run_root={tmp_path}"]))  # off: the other nodes keep their keys
    assert {n.id for n in off if n.stage not in ("compare", "report")} == \
        {n.id for n in nodes if n.stage not in ("compare", "report", "best_minus_worst")}

    run_dir = loaded.run_dir
    store.atomic_write_json(run_dir / "plan.json", plan_dict(loaded, nodes))
    by_id = {n.id: n for n in nodes}
    for n in nodes:
        run_node(run_dir, n, by_id)
    report = store.read_manifest(run_dir / "report" / nodes[-1].key)["outputs"]
    results = json.loads(Path(report["results"]).read_text())
    gaps = [r for r in results["downstream"] if r["method"] == "best-minus-worst"]
    assert sorted(r["rm"] for r in gaps) == sorted(loaded.recipe.reward_models)
    for r in gaps:  # the mean over prompts of (gold of the RM's first pick - gold of its last)
        [out] = [store.read_manifest(run_dir / n.stage / n.key)["outputs"] for n in new if r["rm"] in n.label]
        per = [row["gap"] for row in store.read_jsonl(out["per_prompt"])]
        assert r["value"] == pytest.approx(sum(per) / len(per)) and len(per) == 24
    cells = [c for c in results["correlations"] if c["downstream"] == "best-minus-worst gap (toy_sort, toy-policy)"]
    assert {c["benchmark"] for c in cells} == {"toy_rewardbench", "toy_rewardbench2", "toy_rmbench"}
    assert all(c["n_rms"] == 2 for c in cells)

    gpu = load_recipe(ROOT / "recipes" / "gpu-cluster.yaml", ["best_minus_worst.enabled=true"])
    plain, gpu_nodes = gpu.to_dict()["recipe"], expand(gpu)
    assert [n for n in gpu_nodes if n.stage == "best_minus_worst"]
    assert not [e for e in estimate(gpu_nodes, plain) if e.stage == "best_minus_worst"]  # declared: no GPU work
    # undeclared: said, never skipped
    monkeypatch.setattr(extension_examples, "BEST_MINUS_WORST", replace(stage_of("best_minus_worst"), cost=None))
    [unknown] = {e.detail for e in estimate(gpu_nodes, plain) if e.stage == "best_minus_worst"}
    assert unknown == "stage 'best_minus_worst' declares no cost rule (stages.Stage.cost)"
    script = render(loaded.recipe, run_dir, [new[0]])
    assert f"best_minus_worst/{new[0].key}" in script and "#SBATCH --cpus-per-task=2" in script


def test_every_declared_artifact_reads_the_outputs_its_stage_wrote(reference_run):
    """A stage's `artifact` (the typed form other stages read its outputs as) rebuilds every
    output of that stage in the smoke run, and the run has outputs of each such stage."""
    from rlhf_eval.pipeline import node_manifests
    from rlhf_eval.stages import all_stages, resolve

    declared = [s for s in all_stages() if s.artifact]
    assert {s.name for s in declared} >= {"train_rm", "static_bench", "bon_generate", "bon_score", "rl_train"}
    for s in declared:
        outs = [m["outputs"] for m in node_manifests(reference_run[0], s.name)]
        assert outs, s.name
        for out in outs:
            assert resolve(s.artifact)(out), (s.name, out)
