"""The policy_eval stage's wiring: lm-eval on each policy as it is (the base) and on every
checkpoint of every RL run (the steps rl.save_every marks, and the final one); the final
checkpoints' gains over the base are a downstream side of compare."""
from __future__ import annotations

from rlhf_eval.stages import Result, Stage

NAME = "policy_eval"


def expand(plan) -> None:
    from rlhf_eval.pipeline import plain

    r = plan.recipe
    ev = plain(r.eval)
    steps = list(range(r.rl.save_every, r.rl.steps, r.rl.save_every)) + [r.rl.steps]
    several = len(r.rl.seeds) > 1
    for pname, pcard in plan.loaded.policies.items():
        evals = {"base": None} | plan.need("rl")[pname]
        for who_rl, rl in evals.items():
            rm_name, seed = (None, None) if rl is None else who_rl
            for step in [None] if rl is None else steps:
                for task in r.eval.tasks:
                    who = "base" if rl is None else (f"rl[{rm_name}]" + (f"#{seed}" if several else "")
                                                     + ("" if step == r.rl.steps else f"@{step}"))
                    plan.add(NAME, f"policy={pname} model={who} task={task}",
                             {"policy": plain(pcard), "task": task, "limit": ev["limit"],
                              "batch_size": ev["batch_size"], "rm": rm_name, "seed": seed,
                              "step": step, "final": step in (None, r.rl.steps)},
                             {"toy": plan.need("toy"), "rl": rl})


def settings(nodes: list, by_id: dict) -> dict:
    """The base policy's evaluation must be the same for RL gains of two runs to share it."""
    return {f"evaluation ({n.params['policy']['name']}, {n.params['task']})":
            {"policy": n.params["policy"], "limit": n.params["limit"]} for n in nodes if n.params["rm"] is None}


def shared(outputs: dict):
    """A base policy's evaluation belongs to no RM: merged runs share one copy."""
    return (outputs["policy"], outputs["task"]) if outputs["rm"] is None else None


def cost(node, c):
    """Decoding one response per prompt."""
    from rlhf_eval.launch.cost import Estimate

    prompts = node.params["limit"] or c.task_prompts(node.params["task"])
    p = c.policy_params(node.params["policy"])
    return Estimate(node.stage, node.label, c.hours(2 * p * prompts * c.resp, c.cost["decode_tflops"]),
                    f"{p / 1e9:g}B x {prompts} prompts")


STAGE = Stage(NAME, "rlhf_eval.evals.stage:run", expand=expand, section="eval",
              result=Result(side="downstream", tables="rlhf_eval.compare.tables:eval_tables",
                            sources="rlhf_eval.compare.sources:rl_sources",
                            settings=settings, shared=shared, same="rlhf_eval.compare.merge:same_base"),
              cost=cost)
