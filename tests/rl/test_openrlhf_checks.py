"""OpenRLHF 0.11.2's own checks, mirrored at recipe load (rl.openrlhf_checks): every assert of the
released train_ppo_ray.py is mirrored, the recipes that break one are refused with their keys
named, OpenRLHF's own `__main__` block refuses the same commands, and gpu-cluster.yaml passes."""
import ast
import re
from collections import Counter
from dataclasses import replace

import pytest

from conftest import ROOT  # noqa: I001
from openrlhf_side import SITE, need_openrlhf, run_openrlhf
from rlhf_eval.config import ConfigError, load_recipe
from rlhf_eval.rl import RECIPE_CHECKS
from rlhf_eval.rl.openrlhf_args import argparse_flags
from rlhf_eval.rl.openrlhf_checks import CHECKS, DEFAULTS, problems
from rlhf_eval.rl.openrlhf_cmd import build, recipe_problems

CLUSTER = ROOT / "recipes" / "gpu-cluster.yaml"
ENTRY = SITE / "openrlhf" / "cli" / "train_ppo_ray.py"


def released() -> str:
    need_openrlhf()
    return ENTRY.read_text()


def test_every_assert_of_the_released_entrypoint_is_mirrored():
    asserts = Counter(" ".join(ast.unparse(n.test).split()) for n in ast.walk(ast.parse(released()))
                      if isinstance(n, ast.Assert))
    mirrored = Counter(c.mirrors for c in CHECKS if not c.mirrors.startswith("deepspeed:"))
    assert sum(asserts.values()) == 16 and asserts == mirrored
    deepspeed = (SITE / "deepspeed" / "runtime" / "config.py").read_text()
    assert "assert train_batch == micro_batch * grad_acc * self.world_size" in deepspeed


def test_the_defaults_the_checks_assume_are_the_released_ones():
    flags = argparse_flags(released())
    got = {f: flags[f].get("default") for f in DEFAULTS}
    assert {f: list(v) if isinstance(v, tuple) else v for f, v in got.items()} == DEFAULTS


def test_gpu_cluster_recipe_passes_every_check_with_colocation_flags_emitted():
    loaded = load_recipe(CLUSTER)
    assert recipe_problems(loaded.recipe.rl, loaded.reward_models) == []
    rl = loaded.recipe.rl
    colocated = replace(rl, openrlhf=replace(rl.openrlhf, colocate_all=True, ref=rl.openrlhf.actor, vllm_engines=8))
    argv = build(colocated, 0, "policy", {"name": "r", "kind": "classifier", "backend": "transformers",
                                          "path": "rm", "url": None}, "p.jsonl", "out")
    assert {"--train.colocate_all", "--vllm.enable_sleep", "--ds.enable_sleep"} <= set(argv)
    assert problems(argv) == []


# (recipe overrides, what our message names, whether OpenRLHF's __main__ block checks it too)
CASES = [
    (["rl.openrlhf.colocate_all=true"], "rl.openrlhf.ref (1 x 4) must equal rl.openrlhf.actor (1 x 8)", False),
    (["rl.openrlhf.colocate_all=true", "rl.openrlhf.ref.gpus_per_node=8"],
     "vllm_tensor_parallel_size (2 x 1) must equal the actor's 8 GPUs", False),
    (["rl.algorithm=ppo", "rl.openrlhf.critic.gpus_per_node=4",
      "rl.openrlhf.extra_args=[--train.colocate_critic_reward]"],
     "rl.openrlhf.critic placed like rl.openrlhf.reward", False),
    (["rl.openrlhf.extra_args=[--algo.advantage.is_correction_threshold, '1', '2', '3']"], "takes HIGH or LOW HIGH",
     True),
    (["rl.samples_per_prompt=1"], "rl.samples_per_prompt must be above 1 for group_norm", True),
    (["rl.algorithm=ppo", "rl.openrlhf.extra_args=[--data.max_images_per_prompt, '1']"], "cannot train a critic",
     True),
    (["rl.openrlhf.extra_args=[--data.max_images_per_prompt, '1', --ds.packing_samples]"],
     "sample packing (rl.openrlhf.extra_args) exclude each other", True),
    (["rl.openrlhf.vllm_engines=0", "rl.openrlhf.extra_args=[--ds.ring_attn_size, '2']"],
     "needs rl.openrlhf.vllm_engines > 0", True),
    (["rl.openrlhf.colocate_all=true", "rl.openrlhf.ref.gpus_per_node=8", "rl.openrlhf.vllm_engines=8",
      "rl.openrlhf.extra_args=[--train.async_enable]"], "cannot run with rl.openrlhf.colocate_all", True),
    (["rl.openrlhf.extra_args=[--train.partial_rollout_enable]"], "needs --train.async_enable", True),
    (["rl.openrlhf.extra_args=[--eval.dataset, e.jsonl]"], "--eval.dataset (rl.openrlhf.extra_args) needs a remote",
     True),
    (["rl.openrlhf.extra_args=[--rollout.vllm_generate_batch_size, '128']"], "above rl.prompts_per_step", True),
    (["rl.openrlhf.extra_args=[--algo.dynamic_filtering_enable, --algo.dynamic_filtering_range, '1', '0']"],
     "the low end must be below the high", True),
    (["rl.openrlhf.extra_args=[--algo.dynamic_filtering_enable]"], "--algo.dynamic_filtering_enable (rl.openrlhf."
                                                                   "extra_args) needs a remote", True),
    (["rl.prompts_per_step=1", "rl.samples_per_prompt=4", "rl.openrlhf.ref.gpus_per_node=1",
      "rl.openrlhf.reward.gpus_per_node=1"], "must be at least the actor's 8 GPUs", True),
    (["rl.openrlhf.micro_batch_size=3"], "a multiple of rl.openrlhf.micro_batch_size (3) x the actor's GPUs (8", False),
]


def command(overrides: list[str], monkeypatch) -> tuple[list[str], str]:
    """The argv of the first RM's rl_train node, and the load error (or "")."""
    try:
        load_recipe(CLUSTER, overrides)
        error = ""
    except ConfigError as exc:
        error = str(exc)
    with monkeypatch.context() as m:  # the recipe as it would be without the check
        m.delitem(RECIPE_CHECKS, "openrlhf")
        loaded = load_recipe(CLUSTER, overrides)
    name, card = next(iter(loaded.reward_models.items()))
    rm = {"name": name, "kind": card.kind, "backend": card.backend, "path": "rm", "url": card.url}
    return [str(a) for a in build(loaded.recipe.rl, 0, "policy", rm, "p.jsonl", "out")], error


MAIN = '''
import argparse, ast, datetime, json, os, sys
import openrlhf
path = os.path.join(os.path.dirname(openrlhf.__file__), "cli", "train_ppo_ray.py")
tree = ast.parse(open(path).read())
main = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
code = compile(ast.Module(body=main.body, type_ignores=[]), path, "exec")
out = []
for argv in json.load(sys.stdin)["argvs"]:
    sys.argv = ["train_ppo_ray"] + argv[3:]
    try:
        exec(code, {"argparse": argparse, "os": os, "datetime": datetime.datetime, "__name__": "m",
                    "train": lambda args: None})
        out.append(None)
    except AssertionError as exc:
        out.append(str(exc) or "assert")
print(json.dumps(out))
'''


def test_each_broken_rule_is_refused_at_load_naming_the_keys_as_openrlhf_refuses_it(monkeypatch):
    commands = [command(overrides, monkeypatch) for overrides, _, _ in CASES]
    for (overrides, message, _), (argv, error) in zip(CASES, commands):
        assert "OpenRLHF 0.11.2 would refuse this run" in error and message in error, (overrides, error)
    # OpenRLHF's own __main__ block (argument parsing and its checks, run as released) on the same commands.
    verdicts = run_openrlhf(MAIN, {"argvs": [argv for argv, _ in commands]})
    for (overrides, _, in_main), verdict in zip(CASES, verdicts):
        assert (verdict is not None) == in_main, (overrides, verdict)
    # And the command gpu-cluster.yaml submits passes there.
    assert run_openrlhf(MAIN, {"argvs": [command([], monkeypatch)[0]]}) == [None]


@pytest.mark.parametrize("argv, flag", [(["--rollout.batch_size", "x"], "--rollout.batch_size")])
def test_a_value_that_is_no_number_stays_text(argv, flag):
    from rlhf_eval.rl.openrlhf_checks import Args
    assert Args(argv)[flag] == "x" and re.fullmatch(r"\d+", str(Args(["--rollout.batch_size", "7"])[flag]))
