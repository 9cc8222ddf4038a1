"""The rl_train stage's wiring: one node per (policy, RM, seed of rl.seeds), on the engine the
recipe names; policy_eval evaluates its checkpoints."""
from __future__ import annotations

from rlhf_eval.stages import Result, Stage

NAME = "rl_train"
RL_FORMAT = 3  # 2: checkpoints listed for policy_eval; 3: OpenRLHF prompt files carry labels


def rl_for_seed(rl, seed: int) -> dict:
    """An rl_train node's `rl` param, built once from the typed config: a config.RLRun (the
    recipe's settings but the list of seeds, and this node's own seed, so that adding seeds later
    keeps the nodes of the others); the openrlhf section only on that engine, so cluster settings
    never redo local runs. rl.base.rl_run reads it back."""
    from dataclasses import fields

    from rlhf_eval.config import RLRun, RLSettings
    from rlhf_eval.pipeline import plain

    params = plain(RLRun(**{f.name: getattr(rl, f.name) for f in fields(RLSettings)}, seed=seed))
    return params if rl.engine == "openrlhf" else {k: v for k, v in params.items() if k != "openrlhf"}


def label(rm: str, policy: str, seed: int, seeds: list[int]) -> str:
    """An rl_train node's label; the seed is named only when the recipe has several."""
    return f"rm={rm} policy={policy}" + (f" seed={seed}" if len(seeds) > 1 else "")


def runs(plan) -> dict:
    """policy -> {(RM, run): its rl_train node} ({} for every policy when rl.enabled is false); a
    run is its RL seed, or (RM training seed, RL seed) where rl.rm_seeds crosses them."""
    from rlhf_eval.pipeline import plain

    r = plan.recipe.rl
    out: dict = {}
    for pname, pcard in plan.loaded.policies.items():
        mine = out.setdefault(pname, {})
        if not r.enabled:
            continue
        for name, by_seed in plan.need("rm_seeds").items():
            if (name, "rl") in plan.gaps:
                continue
            chosen = list(by_seed.items())[:None if r.rm_seeds == "all" else 1]
            for rm_seed, rm in chosen:
                for seed in r.seeds:
                    run = seed if len(chosen) == 1 else (rm_seed, seed)
                    mine[name, run] = plan.add(
                        NAME, label(name, pname, seed, r.seeds) + (f" rm_seed={rm_seed}" if len(chosen) > 1 else ""),
                        {"policy": plain(pcard), "rl": rl_for_seed(r, seed), "format": RL_FORMAT},
                        {"rm": rm, "toy": plan.need("toy"), "data": plan.need("curated")})
    return out


def check(recipe, rms: dict) -> list[str]:
    """rl.seeds, the engine's algorithms, and the engine's own refusals (rl.RECIPE_CHECKS)."""
    from rlhf_eval.rl import RECIPE_CHECKS, algorithm_problem

    rl = recipe.rl
    if not rl.seeds or len(set(rl.seeds)) != len(rl.seeds):
        return [f"rl.seeds={list(rl.seeds)} must list at least one seed, each once"]
    if not rl.enabled:
        return []
    problem = algorithm_problem(rl.engine, rl.algorithm)
    if problem:
        return [problem]
    return RECIPE_CHECKS.load(rl.engine)(rl, rms) if rl.engine in RECIPE_CHECKS else []


def gaps(loaded, name: str, card) -> dict:
    if loaded.recipe.rl.enabled and card.kind == "generative" and card.judge.mode == "pairwise":
        return {"rl": "a pairwise judge gives no reward to one response; RL takes pointwise judges "
                      "(pairwise judges in RL are out of scope, docs/generative.md)"}
    return {}


def settings(nodes: list, by_id: dict) -> dict:
    """Per policy: the RL settings but the seed, and the seeds run."""
    out: dict = {}
    for n in nodes:
        rl = {k: v for k, v in n.params["rl"].items() if k != "seed"}
        entry = out.setdefault(f"RL ({n.params['policy']['name']})", {"policy": n.params["policy"], "rl": rl,
                                                                       "seeds": []})
        entry["seeds"] = sorted(set(entry["seeds"]) | {n.params["rl"]["seed"]})
    return out


def cost(node, c):
    """Per step: decoding the rollouts, then a forward and backward pass of the actor (6x), the
    reference and the RM forward (2x each), and a critic (8x) for PPO-style algorithms."""
    from rlhf_eval.launch.cost import Estimate

    rl = node.params["rl"]
    pp = c.policy_params(node.params["policy"])
    pr = c.rm_params(c.nodes[node.deps["rm"]])
    r = rl["prompts_per_step"] * rl["samples_per_prompt"]
    critic = 8 * pp if rl["algorithm"] in ("ppo", "gae") else 0
    tokens = c.cost["prompt_tokens"] + rl["max_new_tokens"]
    per_step = (c.hours(2 * pp * r * rl["max_new_tokens"], c.cost["decode_tflops"])
                + c.hours((6 * pp + 2 * pp + 2 * pr + critic) * r * tokens, c.cost["train_tflops"]))
    return Estimate(node.stage, node.label, per_step * rl["steps"],
                    f"{rl['steps']} steps x {r} rollouts, policy {pp / 1e9:g}B, RM {pr / 1e9:g}B")


def ray_cluster(node) -> bool:
    """An OpenRLHF node runs inside a Ray cluster its own job starts."""
    return node.params["rl"]["engine"] == "openrlhf"


def slurm_check(node, nodes: dict, r: dict) -> str | None:
    """Why the Slurm resources of an OpenRLHF node cannot hold its Ray cluster's placement."""
    from rlhf_eval.rl.openrlhf_cmd import gpus_needed

    rl = node.params["rl"]
    if rl["engine"] != "openrlhf":
        return None
    remote = nodes[node.deps["rm"]].params["card"]["backend"] == "remote"
    need, have = gpus_needed(rl["openrlhf"], rl["algorithm"], remote, rl["kl_coef"]), r["nodes"] * r["gpus_per_node"]
    if not r["gpus_per_node"] or need <= have:
        return None
    o = rl["openrlhf"]
    actor = o["actor"]["nodes"] * o["actor"]["gpus_per_node"]
    return (f"{node.label}: rl.openrlhf's placement needs {need} GPUs but slurm.stages.{NAME} gives {r['nodes']} "
            f"nodes x {r['gpus_per_node']} GPUs; raise nodes or gpus_per_node, or put every role on the actor's "
            f"{actor} GPUs: rl.openrlhf.colocate_all=true"
            + (", rl.openrlhf.ref placed like rl.openrlhf.actor" if rl["kl_coef"] > 0 else "")
            + f", and rl.openrlhf.vllm_engines x vllm_tensor_parallel_size = {actor}")


def seeds(config: dict) -> dict:
    rl = config["recipe"]["rl"]
    return {"rl": rl.get("seeds", rl.get("seed"))}


STAGE = Stage(NAME, "rlhf_eval.rl.stage:run",
              artifact="rlhf_eval.rl.base:checkpoints", provides={"rl": runs}, section="rl", check=check, gaps=gaps,
              result=Result(tables="rlhf_eval.compare.tables:rl_tables", settings=settings),
              cost=cost, ray_cluster=ray_cluster, slurm_check=slurm_check, seeds=seeds)
