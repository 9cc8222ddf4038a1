"""Contract: every command the OpenRLHF builder can emit parses under OpenRLHF 0.11.2's own
argparse, rebuilt from the released wheel's source with `ast` (no import, no GPU). The flags read
are cached (RLHF_EVAL_CACHE/contracts), so after one download the test runs offline."""
import argparse
import itertools
import os
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from rlhf_eval.config import OpenRLHFConfig, RLConfig
from rlhf_eval.rl.base import rl_run
from rlhf_eval.rl.openrlhf_args import released_flags
from rlhf_eval.rl.openrlhf_cmd import OPENRLHF_VERSION, CommandError, build, emitted_flags, one_line
from rlhf_eval.rl.wiring import rl_for_seed

CACHE = Path(os.environ.get("RLHF_EVAL_CACHE", "~/.cache/rlhf_eval")).expanduser() / "contracts"
TYPES = {"int": int, "float": float, "str": str}


@pytest.fixture(scope="module")
def parser():
    try:
        flags = released_flags(OPENRLHF_VERSION, CACHE)
    except RuntimeError as exc:  # no cache and no package index
        pytest.skip(str(exc))
    p = argparse.ArgumentParser(exit_on_error=False)
    for name, spec in flags.items():
        kw = {}
        if spec.get("action") in ("store_true", "store_false"):
            kw["action"] = spec["action"]
        else:
            kw["type"] = TYPES.get(spec.get("type"), str)
            if isinstance(spec.get("choices"), list):
                kw["choices"] = spec["choices"]
            if spec.get("nargs") is not None:
                kw["nargs"] = spec["nargs"]
        p.add_argument(name, **kw)
    p.flags = flags
    return p


def rl_config(**over) -> RLConfig:
    return RLConfig(engine="openrlhf", **over)


def test_an_rl_train_nodes_params_read_back_as_the_recipes_config():
    rl = RLConfig(engine="openrlhf", seeds=[0, 3], steps=7, openrlhf=OpenRLHFConfig(zero_stage=3))
    back = rl_run(rl_for_seed(rl, 3))
    recipe_wide = ("seeds", "rm_seeds")  # the recipe's lists of runs, not one run's settings
    assert back.seed == 3
    assert asdict(back) == {k: v for k, v in asdict(rl).items() if k not in recipe_wide} | {"seed": 3}
    # A trl node's params leave the cluster settings out (so they never redo local runs).
    assert "openrlhf" not in rl_for_seed(replace(rl, engine="trl"), 0)
    back = rl_run(rl_for_seed(replace(rl, engine="trl"), 0))
    assert back.openrlhf == OpenRLHFConfig() and back.steps == 7


RMS = {
    "classifier": {"name": "c", "kind": "classifier", "backend": "transformers", "path": "/ckpt/rm", "url": None},
    "remote": {"name": "r", "kind": "classifier", "backend": "remote", "path": None, "url": "http://10.0.0.2:5000/get_reward"},
}


@pytest.mark.parametrize("algorithm, rm, colocate", list(itertools.product(
    ["ppo", "grpo", "rloo", "reinforce++"], ["classifier", "remote"], [False, True])))
def test_every_emitted_flag_parses_under_openrlhf(parser, algorithm, rm, colocate):
    o = OpenRLHFConfig(colocate_all=colocate)
    rl = rl_config(algorithm=algorithm, openrlhf=o)
    argv = build(rl, 0, "/models/policy", RMS[rm], "/data/prompts.jsonl", "/out")
    assert argv[:3] == ["python3", "-m", "openrlhf.cli.train_ppo_ray"]
    unknown = [f for f in emitted_flags(argv) if f not in parser.flags]
    assert not unknown, f"flags OpenRLHF {OPENRLHF_VERSION} does not define: {unknown}"
    args = vars(parser.parse_args(argv[3:]))  # types, choices and store_true flags all check here
    assert args["algo.advantage.estimator"] == {"ppo": "gae", "grpo": "group_norm", "rloo": "rloo",
                                                "reinforce++": "reinforce_baseline"}[algorithm]
    assert args["train.batch_size"] == rl.prompts_per_step * rl.samples_per_prompt
    assert args["ckpt.save_hf"] is True and args["ckpt.path"] == "/out/ckpt"
    assert (args["critic.model_name_or_path"] is not None) == (algorithm == "ppo")
    assert (args["reward.remote_url"] is not None) == (rm == "remote")
    assert args["train.colocate_all"] is colocate
    assert "\n" not in one_line(argv) and one_line(argv).startswith("python3 -m openrlhf.cli.train_ppo_ray ")


@pytest.mark.parametrize("kind, what", [("implicit", "an implicit \\(DPO\\) RM"), ("generative", "a generative judge")])
def test_implicit_rm_and_judge_are_refused_with_a_way_out(kind, what):
    rm = {"name": "r", "kind": kind, "backend": "transformers", "path": "/p", "url": None}
    with pytest.raises(CommandError, match=f"RM 'r' is {what}, .* serve it with `rlhf-eval serve-rm`"):
        build(rl_config(algorithm="grpo"), 0, "/models/policy", rm, "/data/p.jsonl", "/out")


def test_remote_rm_token_is_referenced_never_written(parser, monkeypatch, tmp_path):
    from rlhf_eval.rl.openrlhf_cmd import TOKEN_REF, entrypoint
    from rlhf_eval.rl.openrlhf_engine import redact, rm_token_env

    rm = RMS["remote"] | {"api_key_env": "MY_RM_TOKEN"}
    argv = build(rl_config(algorithm="grpo"), 0, "/models/policy", rm, "/data/p.jsonl", "/out")
    args = vars(parser.parse_args(argv[3:]))
    assert args["reward.remote_url"] == f"http://10.0.0.2:5000/get_reward?token={TOKEN_REF}"
    assert args["data.label_key"] == "label"
    assert "token=***" in one_line(argv)
    assert '"http://10.0.0.2:5000/get_reward?token=${RLHF_EVAL_RM_TOKEN}"' in entrypoint(argv)
    monkeypatch.delenv("MY_RM_TOKEN", raising=False)
    with pytest.raises(CommandError, match="MY_RM_TOKEN .api_key_env. is not set"):
        rm_token_env(rm, argv)
    monkeypatch.setenv("MY_RM_TOKEN", "a&b")
    with pytest.raises(CommandError, match="URL-safe"):
        rm_token_env(rm, argv)
    monkeypatch.setenv("MY_RM_TOKEN", "s3cret")
    assert rm_token_env(rm, argv) == {"RLHF_EVAL_RM_TOKEN": "s3cret"}
    assert redact("POST http://x/get_reward?token=s3cret", ["s3cret"]) == "POST http://x/get_reward?token=***"
    # Without api_key_env the URL goes as given; a token written into the URL itself is refused.
    assert rm_token_env(RMS["remote"], build(rl_config(), 0, "/p", RMS["remote"], "/d.jsonl", "/o")) == {}
    with pytest.raises(CommandError, match="put the token in the environment variable"):
        build(rl_config(), 0, "/p", RMS["remote"] | {"url": "http://h/get_reward?token=abc"}, "/d.jsonl", "/o")


def test_extra_args_pass_through_and_normalize_is_refused(parser):
    o = OpenRLHFConfig(extra_args=["--algo.kl.estimator", "k3"])
    argv = build(rl_config(algorithm="grpo", openrlhf=o), 0, "/p", RMS["classifier"], "/d.jsonl", "/o")
    assert vars(parser.parse_args(argv[3:]))["algo.kl.estimator"] == "k3"
    for extra, match in ((["--reward.normalize_enable"], "mean/std buffers load uninitialised"),
                         (["--train.seed", "3"], "set from the recipe already")):
        o = OpenRLHFConfig(extra_args=extra)
        with pytest.raises(CommandError, match=match):
            build(rl_config(algorithm="grpo", openrlhf=o), 0, "/p", RMS["classifier"], "/d.jsonl", "/o")
