"""OpenRLHF 0.11.2's own checks of a `train_ppo_ray` command, run on the command we would submit
before anything is submitted, so a recipe it would refuse fails at load with the recipe keys
named instead of minutes into a cluster job.

Each Check names the released assert it mirrors by its condition as `ast.unparse` writes it
(`mirrors`); tests/rl/test_openrlhf_checks.py reads every assert of the released
cli/train_ppo_ray.py and fails on one that is not here, so another release's checks are caught.
The asserts inside `train()` (placement) are mirrored from the source; those of its `__main__`
block are also run as released on each violating command, to show both refuse the same. DeepSpeed's
batch check (deepspeed/runtime/config.py `_batch_assertion`) applies to every DeepSpeed group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# The released defaults of the flags the checks read (tests compare them with its argparse).
DEFAULTS = {
    "--train.colocate_actor_ref": False, "--train.colocate_all": False, "--train.colocate_critic_reward": False,
    "--algo.kl.init_coef": 0.01, "--actor.num_nodes": 1, "--actor.num_gpus_per_node": 8, "--ref.num_nodes": 1,
    "--ref.num_gpus_per_node": 8, "--critic.num_nodes": 1, "--critic.num_gpus_per_node": 8,
    "--reward.num_nodes": 1, "--reward.num_gpus_per_node": 8, "--vllm.num_engines": None,
    "--vllm.tensor_parallel_size": 1, "--vllm.enable_sleep": False, "--train.async_enable": False,
    "--algo.advantage.is_correction_threshold": [0.5, 5.0], "--algo.advantage.estimator": "gae",
    "--rollout.n_samples_per_prompt": 1, "--data.max_images_per_prompt": 0, "--ds.packing_samples": False,
    "--ds.ring_attn_size": 1, "--ds.tensor_parallel_size": 1, "--train.dynamic_batch_enable": False,
    "--train.partial_rollout_enable": False, "--eval.dataset": None, "--reward.remote_url": None,
    "--reward.model_name_or_path": None, "--train.agent_func_path": None,
    "--rollout.vllm_generate_batch_size": None, "--rollout.batch_size": 1024, "--rollout.micro_batch_size": 1,
    "--algo.dynamic_filtering_enable": False, "--algo.dynamic_filtering_range": [0, 1],
    "--train.batch_size": 128, "--train.micro_batch_size": 1,
}
LISTS = {"--algo.advantage.is_correction_threshold", "--algo.dynamic_filtering_range"}
GROUP_BASELINE = ("rloo", "reinforce_baseline", "group_norm", "dr_grpo")


class Args:
    """A command's flags as OpenRLHF reads them, after its own rewrites of `__main__`
    (ring attention and dynamic batches turn packing on; sleep is off without colocate_all)."""

    def __init__(self, argv: list[str]):
        self.given: dict = {}
        flag = None
        for token in map(str, argv):
            if token.startswith("--"):
                flag = token.split("=", 1)[0]
                self.given[flag] = [token.split("=", 1)[1]] if "=" in token else []
            elif flag is not None:
                self.given[flag].append(token)

    def __getitem__(self, flag: str):
        default = DEFAULTS[flag]
        if flag not in self.given:
            return default
        values = self.given[flag]
        if isinstance(default, bool):
            return True
        if flag in LISTS:
            return [float(v) for v in values]
        value = values[-1] if values else None
        for kind in (int, float):
            try:
                return kind(value)
            except (TypeError, ValueError):
                pass
        return value

    def gpus(self, role: str) -> int:
        return self[f"--{role}.num_nodes"] * self[f"--{role}.num_gpus_per_node"]

    def placement(self, role: str) -> tuple[int, int]:
        return self[f"--{role}.num_nodes"], self[f"--{role}.num_gpus_per_node"]

    @property
    def engines(self) -> int:
        return self["--vllm.num_engines"] or 0

    @property
    def packing(self) -> bool:
        return self["--ds.packing_samples"] or self["--ds.ring_attn_size"] > 1 or self["--train.dynamic_batch_enable"]

    @property
    def sleep(self) -> bool:
        return self["--vllm.enable_sleep"] and self["--train.colocate_all"]

    @property
    def critic(self) -> bool:
        return self["--algo.advantage.estimator"] == "gae"

    @property
    def remote(self) -> bool:
        return bool(self["--reward.remote_url"] or self["--train.agent_func_path"])

    @property
    def generate_batch(self) -> int:
        return self["--rollout.vllm_generate_batch_size"] or self["--rollout.batch_size"]

    def groups(self) -> dict[str, int]:
        """DeepSpeed groups and their GPUs: the actor, the reference with a KL penalty, the critic
        for gae, a local RM."""
        out = {"actor": self.gpus("actor")}
        if self["--algo.kl.init_coef"] > 0:
            out["ref"] = self.gpus("ref")
        if self.critic:
            out["critic"] = self.gpus("critic")
        if self["--reward.model_name_or_path"] and not self["--reward.remote_url"]:
            out["reward"] = self.gpus("reward")
        return out


def _batch_problem(a: Args) -> str | None:
    batch = a["--train.batch_size"] * a["--ds.ring_attn_size"] * a["--ds.tensor_parallel_size"]
    micro = a["--train.micro_batch_size"]
    for role, gpus in a.groups().items():
        if batch < micro * gpus or batch % (micro * gpus):
            return (f"DeepSpeed needs the train batch ({batch}: rl.prompts_per_step x rl.samples_per_prompt) to be a "
                    f"multiple of rl.openrlhf.micro_batch_size ({micro}) x the {role}'s GPUs ({gpus}, "
                    f"rl.openrlhf.{role}); change one of them")
    return None


@dataclass(frozen=True)
class Check:
    mirrors: str  # the released assert's condition (ast.unparse), or where a check outside it lives
    applies: Callable[[Args], bool]
    holds: Callable[[Args], bool]
    message: Callable[[Args], str]


CHECKS = [
    Check("args.actor.num_nodes == args.ref.num_nodes and args.actor.num_gpus_per_node == args.ref.num_gpus_per_node",
          lambda a: (a["--train.colocate_actor_ref"] or a["--train.colocate_all"]) and a["--algo.kl.init_coef"] > 0,
          lambda a: a.placement("actor") == a.placement("ref"),
          lambda a: f"with rl.openrlhf.colocate_all and rl.kl_coef > 0 the reference shares the actor's GPUs: "
                    f"rl.openrlhf.ref ({a.placement('ref')[0]} x {a.placement('ref')[1]}) must equal rl.openrlhf.actor "
                    f"({a.placement('actor')[0]} x {a.placement('actor')[1]})"),
    Check("args.actor.num_nodes * args.actor.num_gpus_per_node == args.vllm.num_engines * "
          "args.vllm.tensor_parallel_size",
          lambda a: a.engines > 0 and a["--train.colocate_all"] and not a["--train.async_enable"],
          lambda a: a.gpus("actor") == a.engines * a["--vllm.tensor_parallel_size"],
          lambda a: f"with rl.openrlhf.colocate_all the vLLM engines share the actor's GPUs: "
                    f"rl.openrlhf.vllm_engines x vllm_tensor_parallel_size ({a.engines} x "
                    f"{a['--vllm.tensor_parallel_size']}) must equal the actor's {a.gpus('actor')} GPUs"),
    Check("args.critic.num_nodes == args.reward.num_nodes and args.critic.num_gpus_per_node == "
          "args.reward.num_gpus_per_node",
          lambda a: a.critic and a["--train.colocate_critic_reward"],
          lambda a: a.placement("critic") == a.placement("reward"),
          lambda a: "--train.colocate_critic_reward (rl.openrlhf.extra_args) needs rl.openrlhf.critic placed "
                    "like rl.openrlhf.reward"),
    Check("len(threshold) == 2", lambda a: True, lambda a: len(a["--algo.advantage.is_correction_threshold"]) <= 2,
          lambda a: "--algo.advantage.is_correction_threshold (rl.openrlhf.extra_args) takes HIGH or LOW HIGH"),
    Check("args.rollout.n_samples_per_prompt > 1",
          lambda a: a["--algo.advantage.estimator"] in GROUP_BASELINE,
          lambda a: a["--rollout.n_samples_per_prompt"] > 1,
          lambda a: f"rl.samples_per_prompt must be above 1 for {a['--algo.advantage.estimator']} (OpenRLHF's "
                    "estimator of rl.algorithm): its baseline is the group of a prompt's samples"),
    Check("args.critic.model_name_or_path is None",
          lambda a: a["--data.max_images_per_prompt"] > 0, lambda a: not a.critic,
          lambda a: "--data.max_images_per_prompt (rl.openrlhf.extra_args) cannot train a critic: "
                    "rl.algorithm=ppo is refused with images"),
    Check("not args.ds.packing_samples",
          lambda a: a["--data.max_images_per_prompt"] > 0, lambda a: not a.packing,
          lambda a: "--data.max_images_per_prompt and sample packing (rl.openrlhf.extra_args) exclude each other"),
    Check("args.vllm.num_engines > 0", lambda a: a.packing, lambda a: a.engines > 0,
          lambda a: "sample packing (--ds.packing_samples, ring attention or dynamic batches in "
                    "rl.openrlhf.extra_args) needs rl.openrlhf.vllm_engines > 0"),
    Check("not args.vllm.enable_sleep", lambda a: a["--train.async_enable"], lambda a: not a.sleep,
          lambda a: "--train.async_enable (rl.openrlhf.extra_args) cannot run with rl.openrlhf.colocate_all, "
                    "which puts vLLM and DeepSpeed to sleep in turn (--vllm.enable_sleep)"),
    Check("args.train.async_enable", lambda a: a["--train.partial_rollout_enable"],
          lambda a: a["--train.async_enable"],
          lambda a: "--train.partial_rollout_enable (rl.openrlhf.extra_args) needs --train.async_enable"),
    Check("args.reward.remote_url or args.train.agent_func_path", lambda a: bool(a["--eval.dataset"]),
          lambda a: a.remote, lambda a: "--eval.dataset (rl.openrlhf.extra_args) needs a remote RM card"),
    Check("args.train.async_enable", lambda a: a.generate_batch > a["--rollout.batch_size"],
          lambda a: a["--train.async_enable"],
          lambda a: "--rollout.vllm_generate_batch_size above rl.prompts_per_step (rl.openrlhf.extra_args) "
                    "needs --train.async_enable"),
    Check("args.algo.dynamic_filtering_range[0] < args.algo.dynamic_filtering_range[1]",
          lambda a: a["--algo.dynamic_filtering_enable"],
          lambda a: a["--algo.dynamic_filtering_range"][0] < a["--algo.dynamic_filtering_range"][1],
          lambda a: "--algo.dynamic_filtering_range (rl.openrlhf.extra_args): the low end must be below the high"),
    Check("args.reward.remote_url or args.train.agent_func_path", lambda a: a["--algo.dynamic_filtering_enable"],
          lambda a: a.remote, lambda a: "--algo.dynamic_filtering_enable (rl.openrlhf.extra_args) needs a remote "
                                        "RM card"),
    Check("args.rollout.n_samples_per_prompt > 1", lambda a: a["--algo.dynamic_filtering_enable"],
          lambda a: a["--rollout.n_samples_per_prompt"] > 1,
          lambda a: "--algo.dynamic_filtering_enable (rl.openrlhf.extra_args) needs rl.samples_per_prompt > 1"),
    Check("args.rollout.n_samples_per_prompt * args.rollout.batch_size // args.rollout.micro_batch_size >= "
          "args.actor.num_nodes * args.actor.num_gpus_per_node // args.ds.ring_attn_size // "
          "args.ds.tensor_parallel_size", lambda a: True,
          lambda a: a["--rollout.n_samples_per_prompt"] * a["--rollout.batch_size"] // a["--rollout.micro_batch_size"]
          >= a.gpus("actor") // a["--ds.ring_attn_size"] // a["--ds.tensor_parallel_size"],
          lambda a: f"rl.prompts_per_step x rl.samples_per_prompt / rl.openrlhf.micro_batch_size must be at least "
                    f"the actor's {a.gpus('actor')} GPUs (rl.openrlhf.actor): each needs a batch"),
    Check("deepspeed: train_batch == micro_batch * grad_acc * self.world_size", lambda a: True,
          lambda a: _batch_problem(a) is None, lambda a: _batch_problem(a)),
]


def problems(argv: list[str]) -> list[str]:
    """What OpenRLHF (and DeepSpeed under it) would refuse in this command, in recipe terms."""
    a = Args(argv)
    return [c.message(a) for c in CHECKS if c.applies(a) and not c.holds(a)]
