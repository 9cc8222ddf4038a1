"""Build OpenRLHF 0.11's `train_ppo_ray` command (dotted flags) from the recipe's RL section, the
policy card and the RM. Every flag this module can emit is checked against the released
argparse by tests/rl/test_openrlhf.py."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from rlhf_eval.config import Placement, RLConfig, RLSettings
from rlhf_eval.errors import UserError

# Our algorithm names -> OpenRLHF's advantage estimator.
ESTIMATOR = {"ppo": "gae", "grpo": "group_norm", "rloo": "rloo", "reinforce++": "reinforce_baseline"}
OPENRLHF_VERSION = "0.11.2"
# A remote RM's token reaches the job as this environment variable of the Ray job's runtime_env;
# the entrypoint names the variable, so job.json, manifests and printed commands never hold it.
TOKEN_ENV = "RLHF_EVAL_RM_TOKEN"
TOKEN_REF = "${" + TOKEN_ENV + "}"
# Flags a recipe may not pass through `rl.openrlhf.extra_args`, and why.
REFUSED = {
    "--reward.normalize_enable": "in OpenRLHF 0.11.2 the reward model's mean/std buffers load uninitialised "
                                 "with it (seen: rewards around 1e25)",
}


class CommandError(UserError):
    pass


def _abs(path: str) -> str:
    """Local paths absolute (the job runs elsewhere); hub ids and URLs as given."""
    return str(Path(path).resolve()) if Path(path).exists() else path


def _placement(flags: list, role: str, p: Placement) -> None:
    flags += [f"--{role}.num_nodes", p.nodes, f"--{role}.num_gpus_per_node", p.gpus_per_node]


def remote_url(rm: dict) -> str:
    """The card's URL; with `api_key_env`, plus `token=<TOKEN_REF>` (OpenRLHF's client sends no
    headers, so the token must ride in the URL)."""
    url = rm["url"]
    if "token" in parse_qs(urlsplit(url).query):
        raise CommandError(f"RM '{rm['name']}': its url carries a token, which would be written to job.json, "
                           "manifests and OpenRLHF's logs; put the token in the environment variable named "
                           "by `api_key_env` instead")
    if not rm.get("api_key_env"):
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}token={TOKEN_REF}"


def check_extra_args(extra: list[str], emitted: list[str]) -> None:
    for flag in extra:
        name = flag.split("=", 1)[0]
        if name in REFUSED:
            raise CommandError(f"rl.openrlhf.extra_args: {name} is refused: {REFUSED[name]}")
        if name.startswith("--") and name in emitted:
            raise CommandError(f"rl.openrlhf.extra_args: {name} is set from the recipe already; "
                               "change the recipe key instead")


def build(rl: RLSettings, seed: int, policy_path: str, rm: dict, prompts_path: str, out_dir: str) -> list[str]:
    """argv of the job, trained with `seed`. `rm` is a train_rm manifest's outputs; `prompts_path`
    a file from `write_prompt_file` (`prompt` and `label` columns); checkpoints go under out_dir."""
    if rl.algorithm not in ESTIMATOR:
        raise CommandError(f"rl.algorithm={rl.algorithm} is not one OpenRLHF runs ({', '.join(ESTIMATOR)})")
    o = rl.openrlhf
    policy_path, prompts_path = _abs(policy_path), str(Path(prompts_path).absolute())
    out_dir = str(Path(out_dir).absolute())
    rm = rm | {"path": _abs(rm["path"]) if rm.get("path") else rm.get("path")}
    flags: list = []
    _placement(flags, "actor", o.actor)
    _placement(flags, "ref", o.ref)
    flags += ["--actor.model_name_or_path", policy_path, "--actor.adam.lr", rl.learning_rate]
    if rm["backend"] == "remote":
        flags += ["--reward.remote_url", remote_url(rm)]
    elif rm["kind"] == "classifier":
        _placement(flags, "reward", o.reward)
        flags += ["--reward.model_name_or_path", rm["path"]]
    else:
        what = "an implicit (DPO) RM" if rm["kind"] == "implicit" else "a generative judge"
        raise CommandError(f"RM '{rm['name']}' is {what}, which OpenRLHF cannot load as a reward model: serve it "
                           "with `rlhf-eval serve-rm` and point a remote RM card at it")
    if rl.algorithm == "ppo":
        _placement(flags, "critic", o.critic)
        # The critic starts from the RM when it is a local classifier, as OpenRLHF's examples do.
        critic = rm["path"] if rm["backend"] != "remote" else policy_path
        flags += ["--critic.model_name_or_path", critic, "--critic.adam.lr", rl.learning_rate]
    flags += [
        "--algo.advantage.estimator", ESTIMATOR[rl.algorithm],
        "--algo.kl.init_coef", rl.kl_coef,
        "--vllm.num_engines", o.vllm_engines,
        "--vllm.tensor_parallel_size", o.vllm_tensor_parallel_size,
        "--vllm.gpu_memory_utilization", o.vllm_gpu_memory_utilization,
        "--ds.zero_stage", o.zero_stage,
        "--data.prompt_dataset", prompts_path,
        "--data.input_key", "prompt",
        "--data.label_key", "label",
        "--data.apply_chat_template",
        "--data.max_len", o.max_len,
        "--data.max_samples", rl.steps * rl.prompts_per_step,
        "--rollout.batch_size", rl.prompts_per_step,
        "--rollout.n_samples_per_prompt", rl.samples_per_prompt,
        "--rollout.max_new_tokens", rl.max_new_tokens,
        "--rollout.temperature", rl.temperature,
        "--rollout.micro_batch_size", o.micro_batch_size,
        "--train.batch_size", rl.prompts_per_step * rl.samples_per_prompt,
        "--train.micro_batch_size", o.micro_batch_size,
        "--train.num_episodes", 1,
        "--train.seed", seed,
        "--ckpt.path", str(Path(out_dir) / "ckpt"),
        "--ckpt.save_steps", rl.save_every,
        "--ckpt.save_hf",
        # A resubmitted job (after a preemption) resumes from <ckpt.path>/_actor when it exists.
        "--ckpt.load_enable",
        "--ckpt.output_dir", str(Path(out_dir) / "final"),
    ]
    if o.colocate_all:
        # Colocated, vLLM and DeepSpeed take turns on each GPU: without sleep, vLLM keeps holding its
        # share of memory while DeepSpeed trains.
        flags += ["--train.colocate_all", "--vllm.enable_sleep", "--ds.enable_sleep"]
    extra = [str(a) for a in o.extra_args]
    check_extra_args(extra, emitted_flags([str(f) for f in flags]))
    return list(o.entrypoint) + [str(f) for f in flags] + extra


def recipe_problems(rl: RLConfig, rm_cards: dict) -> list[str]:
    """What OpenRLHF would refuse in the command each RM card's rl_train nodes would submit
    (rl.openrlhf_checks), in recipe terms, and what build() itself refuses of the recipe's keys.
    An implicit RM or a judge is refused when its node runs (a recipe may train it for other stages)."""
    from rlhf_eval.rl.openrlhf_checks import problems
    found: dict[str, list[str]] = {}
    for name, card in rm_cards.items():
        if card.kind != "classifier" and card.backend != "remote":
            continue
        rm = {"name": name, "kind": card.kind, "backend": card.backend, "path": card.path or "rm", "url": card.url,
              "api_key_env": card.api_key_env}
        try:
            found_here = problems(build(rl, rl.seeds[0], "policy", rm, "prompts.jsonl", "out"))
        except CommandError as exc:
            found_here = [str(exc)]
        for p in found_here:
            found.setdefault(p, []).append(name)
    usable = sum(c.kind == "classifier" or c.backend == "remote" for c in rm_cards.values())
    return [p if len(names) == usable else f"RM {', '.join(map(repr, names))}: {p}"
            for p, names in found.items()]


def check_recipe(rl: RLConfig, rm_cards: dict) -> list[str]:
    """rl.RECIPE_CHECKS["openrlhf"]: recipe_problems, as one refusal."""
    found = recipe_problems(rl, rm_cards)
    return [f"OpenRLHF {OPENRLHF_VERSION} would refuse this run: " + "; ".join(found)] if found else []


def write_prompt_file(path: Path, rows: list[dict]) -> None:
    """OpenRLHF's prompt dataset: `prompt` as chat messages (its PromptDataset applies the chat
    template once, with the generation prompt) and `label`, the reference answer its remote RMs
    and reward functions receive (`--data.label_key label`)."""
    from rlhf_eval.data.pairs import prompt_messages
    from rlhf_eval.store import write_jsonl
    write_jsonl(Path(path), [{"prompt": prompt_messages(r["prompt"]), "label": r.get("label") or ""} for r in rows])


def emitted_flags(argv: list[str]) -> list[str]:
    return [a for a in argv if a.startswith("--")]


def one_line(argv: list[str]) -> str:
    """The command for people and records: a remote RM's token shows as `***`."""
    return shlex.join([a.replace(TOKEN_REF, "***") for a in argv])


def entrypoint(argv: list[str]) -> str:
    """The command the Ray job runs (through a shell): an argument holding TOKEN_REF is double-
    quoted so the shell expands it from the job's runtime_env; everything else is quoted inert."""
    def quote(a: str) -> str:
        if TOKEN_REF not in a:
            return shlex.quote(a)
        rest = a.split(TOKEN_REF)
        return '"' + TOKEN_REF.join(re.sub(r'(["\\$`])', r"\\\1", part) for part in rest) + '"'
    return " ".join(quote(a) for a in argv)


def hf_checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of the job's HF saves, `<ckpt.path>/global_step<N>_hf`, in step order."""
    found = []
    for d in (Path(out_dir) / "ckpt").glob("global_step*_hf"):
        step = d.name[len("global_step"):-len("_hf")]
        if step.isdigit() and (d / "config.json").is_file():
            found.append((int(step), d))
    return sorted(found)


def gpus_needed(o: dict, algorithm: str, remote_rm: bool, kl_coef: float) -> int:
    """GPUs OpenRLHF's placement asks for: every role apart, or the largest when all are colocated.
    With no KL penalty OpenRLHF 0.11.2 creates no reference model (train_ppo_ray.py: `if
    args.algo.kl.init_coef > 0`), so its GPUs are not counted."""
    roles = [o["actor"]] + ([o["ref"]] if kl_coef > 0 else []) + ([] if remote_rm else [o["reward"]]) + \
        ([o["critic"]] if algorithm == "ppo" else [])
    roles = [r["nodes"] * r["gpus_per_node"] for r in roles]
    vllm = o["vllm_engines"] * o["vllm_tensor_parallel_size"]
    return max(roles + [vllm]) if o["colocate_all"] else sum(roles) + vllm
