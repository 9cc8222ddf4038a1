"""`rlhf-eval score CARD --benchmark NAME`: one RM on one benchmark with no recipe, the same
numbers as the static_bench stage, truncation counted and said; and a static-only recipe, which
plans nothing it does not need."""
import json
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, cli_env, run_cli
from rlhf_eval.pipeline import node_manifests

SHARED = ROOT.parent / "shared" / "data"
JUDGEBENCH = SHARED / "judgebench" / "judgebench_claude-3-5-sonnet-20240620.jsonl"
needs_judgebench = pytest.mark.skipif(not JUDGEBENCH.is_file(), reason="../shared/data/judgebench is absent")


def own_card(tmp_path: Path, run_dir: Path, **extra) -> Path:
    """A user's own RM card: the smoke run's classifier checkpoint given by `path`, in a
    reward_models/ folder of its own (found through $RLHF_EVAL_CARDS)."""
    [m] = node_manifests(run_dir, "train_rm", "rm=classifier-curated rm_seed=0")
    folder = tmp_path / "cards" / "reward_models"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(yaml.safe_dump({"name": "mine", "kind": "classifier",
                                                       "path": m["outputs"]["path"]} | extra))
    return tmp_path / "cards"


def test_score_gives_the_static_bench_nodes_numbers_and_files(reference_run, toy_cache, tmp_path):
    run_dir, _ = reference_run
    out = tmp_path / "out"
    proc = run_cli(toy_cache, "score", "classifier-curated", "--benchmark", "toy_rewardbench", "--run", run_dir,
                   "--out", out, "--bootstrap", "200")
    [node] = [m for m in node_manifests(run_dir, "static_bench")
              if m["outputs"]["rm"] == "classifier-curated" and m["outputs"]["rm_seed"] == 0
              and m["outputs"]["benchmark"] == "toy_rewardbench"]
    mine = json.loads((out / "metrics.json").read_text())
    assert mine["metrics"] == node["outputs"]["metrics"] and mine["ci"] == node["outputs"]["ci"]
    assert mine["length_baseline"] == node["outputs"]["length_baseline"]
    assert (out / "scores.jsonl").read_bytes() == Path(node["outputs"]["scores"]).read_bytes()
    assert (out / "units.jsonl").read_bytes() == Path(node["outputs"]["units"]).read_bytes()
    assert mine["truncation"]["items"] == 0 and mine["notes"] == []
    # the terminal shows the headline with its interval
    lo, hi = mine["ci"]["score"]
    assert f"{mine['metrics']['score']:.3f}" in proc.stdout and f"{lo:.3f} - {hi:.3f}" in proc.stdout
    assert "warning" not in proc.stdout


def test_score_refuses_what_it_cannot_load_without_a_run(toy_cache, tmp_path):
    proc = run_cli(toy_cache, "score", "classifier-curated", "--benchmark", "toy_rewardbench", "--out", tmp_path,
                   check=False)
    assert proc.returncode == 2 and "has no `path` (a recipe trains it); give --run RUN_DIR" in proc.stderr
    assert not (tmp_path / "metrics.json").exists()


@needs_judgebench
def test_my_rm_on_judgebench_in_one_command_with_truncation_counted(reference_run, toy_cache, tmp_path):
    """The user's own checkpoint, by card, on a real benchmark file: no run, no recipe. Inputs longer
    than max_length are counted (against a count made here with the tokenizer), written and said."""
    import subprocess

    from conftest import cli
    from rlhf_eval.bench.loading import load_items
    from rlhf_eval.rm.base import encode, load_tokenizer

    run_dir, _ = reference_run
    cards = own_card(tmp_path, run_dir)
    out = tmp_path / "jb"
    env = cli_env(toy_cache) | {"RLHF_EVAL_CARDS": str(cards)}
    proc = subprocess.run(cli("score", "mine", "-b", "judgebench", "--data", JUDGEBENCH, "--out", out,
                              "--bootstrap", "100"), cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    _, items, _ = load_items("judgebench", data=str(JUDGEBENCH))
    [card] = [yaml.safe_load((cards / "reward_models" / "mine.yaml").read_text())]
    tok = load_tokenizer(card["path"])
    lengths = [[len(x) for x in encode(tok, [it.prompt] * len(it.candidates), it.candidates, 10**9,
                                       response_mask=False).ids] for it in items]
    cut_inputs = sum(n > 256 for row in lengths for n in row)
    cut_items = sum(any(n > 256 for n in row) for row in lengths)
    t = m["truncation"]
    assert (t["inputs"], t["of_inputs"], t["items"], t["of_items"]) == (cut_inputs, 2 * len(items), cut_items,
                                                                        len(items))
    assert t["max_length"] == 256 and t["side"].startswith("start") and 0 < cut_items < len(items)
    assert m["truncated"] == cut_inputs
    warning = next(n for n in m["notes"] if "max_length=256" in n)
    assert f"{cut_items} of {len(items)} items" in warning
    assert f"warning: {cut_items} of {len(items)} items" in " ".join(proc.stdout.split())
    # scores.jsonl is `bench score`'s format: scoring it there gives the same metrics
    again = subprocess.run(cli("bench", "score", "judgebench", "--data", JUDGEBENCH, "--scores", out / "scores.jsonl",
                               "--bootstrap", "100"), cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)
    assert json.loads(again.stdout)["metrics"] == m["metrics"]


@needs_judgebench
def test_a_static_only_recipe_plans_only_what_it_needs_and_reports_truncation(reference_run, toy_cache, tmp_path):
    """policies: [] and no toy world: no toy world, curation, judge, best-of-n, RL or evaluation
    nodes; the run scores the user's RM, and the terminal and report say what was truncated."""
    import subprocess

    from conftest import cli
    from rlhf_eval.config import load_recipe
    from rlhf_eval.pipeline import expand

    run_dir, _ = reference_run
    cards = own_card(tmp_path, run_dir)
    (cards / "recipes").mkdir()
    recipe = cards / "recipes" / "static.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "static", "run_root": str(tmp_path / "runs"), "toy_world": None, "reward_models": ["mine"],
        "policies": [], "bon": {"enabled": False}, "rl": {"enabled": False},
        "static_bench": {"benchmarks": [{"name": "judgebench", "data": str(JUDGEBENCH)}], "bootstrap": 100},
        "compare": {"bootstrap": 100}}))
    nodes = expand(load_recipe(recipe))
    assert [n.stage for n in nodes] == ["train_rm", "static_bench", "compare", "report"]
    # a recipe with the toy world, training its RM from the toy policy that `policies` does not list
    trained = expand(load_recipe(recipe, ["toy_world={}", "reward_models=[classifier-raw]",
                                          "static_bench.benchmarks=[toy_rewardbench]"]))
    assert sorted(n.stage for n in trained) == ["compare", "report", "static_bench", "toy_world", "train_rm"]
    proc = subprocess.run(cli("run", recipe), cwd=tmp_path, env=cli_env(toy_cache), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "runs" / "static" / "results.json").read_text())
    [t] = results["truncation"]
    assert (t["rm"], t["benchmark"], t["max_length"]) == ("mine", "judgebench", 256) and t["items"] > 0
    assert f"mine on judgebench: {t['items']} of {t['of_items']} items" in " ".join(proc.stdout.split())
    html = (tmp_path / "runs" / "static" / "report.html").read_text()
    assert 'id="truncation"' in html and f"{t['items']} of {t['of_items']} items" in html


@pytest.mark.slow
def test_my_rm_joins_a_runs_comparison_with_one_override(reference_run, toy_cache, tmp_path):
    """`reward_models+=[mine]` on a finished run (its RMs trained from the toy policy, which the
    recipe lists): only the new RM's nodes and the comparison run, the RM table gains a row, and
    its static score is what `rlhf-eval score` gives for the same card."""
    import shutil
    import subprocess

    from conftest import SMOKE, cli

    run_dir, _ = reference_run
    cards = own_card(tmp_path, run_dir)
    shutil.copytree(run_dir, tmp_path / "runs" / "smoke")
    env = cli_env(toy_cache) | {"RLHF_EVAL_CARDS": str(cards)}
    proc = subprocess.run(cli("run", SMOKE, f"run_root={tmp_path / 'runs'}", "reward_models+=[mine]"), cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    ran = [line for line in proc.stdout.splitlines() if " cached, " in line]
    # the smoke run's 36 nodes, less its compare and report, are cached; mine adds train_rm, 3 static_bench,
    # bon_score, bon_eval, bon_signal, 2 rl_train and 2 policy_eval (RL seeds), and compare and report run again
    assert ran and ran[0].startswith("47 nodes: 34 cached, 13 run"), ran
    results = json.loads((tmp_path / "runs" / "smoke" / "results.json").read_text())
    row = next(r for r in results["rm_table"] if r["rm"] == "mine")
    one = subprocess.run(cli("score", "mine", "-b", "toy_rewardbench", "--run", run_dir, "--out", tmp_path / "one",
                             "--bootstrap", "0"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr
    alone = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert row["toy_rewardbench score"] == alone["metrics"]["score"]
