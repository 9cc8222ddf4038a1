"""Golden files for what cannot run here: the sbatch scripts `rlhf-eval submit` renders (a single
node, a job array, a Ray-cluster job) and the OpenRLHF train_ppo_ray argv of each algorithm, for
recipes/gpu-cluster.yaml. A change to a template, a flag or the recipe shows up as a diff against
tests/golden/. After an intended change, re-record them and read the diff:

    make golden        # RLHF_EVAL_RECORD_GOLDEN=1 pytest tests/test_golden.py

Paths that depend on the machine (the run folder, this checkout, the interpreter) are written as
{RUN}, {ROOT} and {PYTHON}. The substring checks in test_slurm.py and test_openrlhf.py stay where
they say why a line matters.
"""
import os
import shlex
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from rlhf_eval.config import load_recipe
from rlhf_eval.launch.slurm import groups, needs_ray_cluster, render
from rlhf_eval.pipeline import expand
from rlhf_eval.rl.openrlhf_cmd import build

GOLDEN = Path(__file__).parent / "golden"
RECORD = os.environ.get("RLHF_EVAL_RECORD_GOLDEN") == "1"
GPU = ROOT / "recipes" / "gpu-cluster.yaml"


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if RECORD:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.is_file(), f"{path} is missing: record it with `make golden`"
    expected = path.read_text()
    if text != expected:
        import difflib
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "rendered"))
        pytest.fail(f"{name} differs from its golden file (after an intended change: `make golden`):\n{diff}")


def normalized(text: str, run_dir: Path) -> str:
    for value, name in ((str(run_dir.absolute()), "{RUN}"), (str(Path(sys.executable).parent), "{PYTHON}"),
                        (str(ROOT), "{ROOT}")):
        text = text.replace(value, name)
    return text


@pytest.fixture(scope="module")
def gpu_plan(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    loaded = load_recipe(GPU, [f"run_root={root}"])
    return loaded, expand(loaded)


@pytest.mark.parametrize("kind", ["node", "array", "ray-cluster"])
def test_sbatch_scripts_match_their_golden_files(gpu_plan, kind, monkeypatch):
    monkeypatch.chdir(ROOT)  # scripts cd to the folder submit ran in
    loaded, nodes = gpu_plan
    found = groups(nodes, loaded.recipe.slurm.arrays)
    group = {"node": next(g for g in found if len(g) == 1 and g[0].stage == "curate"),
             "array": next(g for g in found if len(g) > 1 and g[0].stage == "static_bench"),
             "ray-cluster": next(g for g in found if needs_ray_cluster(g[0]))}[kind]
    check(f"sbatch-{kind}.sh", normalized(render(loaded.recipe, loaded.run_dir, group), loaded.run_dir))


@pytest.mark.parametrize("algorithm", ["ppo", "grpo", "rloo", "reinforce++"])
@pytest.mark.parametrize("rm", ["local", "remote"])
def test_openrlhf_argv_matches_its_golden_file(algorithm, rm):
    loaded = load_recipe(GPU, [f"rl.algorithm={algorithm}"])
    rm_out = ({"name": "skywork-llama-8b", "kind": "classifier", "backend": "transformers",
               "path": "/models/Skywork-Reward-Llama-3.1-8B", "url": None} if rm == "local" else
              {"name": "remote-rm", "kind": "classifier", "backend": "remote", "path": None,
               "url": "http://10.0.0.2:5000/get_reward", "api_key_env": "RM_TOKEN"})
    argv = build(loaded.recipe.rl, 0, "/models/Llama-3.1-8B-Instruct", rm_out,
                 "/shared/run/rl_train/0123456789ab/prompts.jsonl",
                 "/shared/checkpoints/rlhf-eval/0123456789ab")
    # One flag and its value per line, so a diff names the flag.
    lines, i = [], 0
    while i < len(argv):
        if argv[i].startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            lines.append(f"{argv[i]} {shlex.quote(str(argv[i + 1]))}")
            i += 2
        else:
            lines.append(shlex.quote(str(argv[i])))
            i += 1
    check(f"openrlhf-{algorithm.replace('+', 'p')}-{rm}.txt", "\n".join(lines) + "\n")
