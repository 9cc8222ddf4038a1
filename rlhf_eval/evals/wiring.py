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
            # a run crossed with an RM training seed (rl.rm_seeds: all) names it; others keep their keys
            rm_seed, seed = seed if isinstance(seed, tuple) else (None, seed)
            for step in [None] if rl is None else steps:
                for task in r.eval.tasks:
                    who = "base" if rl is None else (f"rl[{rm_name}]" + (f"~{rm_seed}" if rm_seed is not None else "")
                                                     + (f"#{seed}" if several else "")
                                                     + ("" if step == r.rl.steps else f"@{step}"))
                    plan.add(NAME, f"policy={pname} model={who} task={task}",
                             {"policy": plain(pcard), "task": task, "limit": ev["limit"],
                              "batch_size": ev["batch_size"], "rm": rm_name, "seed": seed,
                              "step": step, "final": step in (None, r.rl.steps)} | sampling(r.eval)
                             | ({"rm_seed": rm_seed} if rm_seed is not None else {}),
                             {"toy": plan.need("toy"), "rl": rl})


def sampling(ev) -> dict:
    """How responses are drawn, when not greedy (a greedy evaluation's params, and so its key,
    are what they were before sampling existed)."""
    if not ev.sampled:
        return {}
    return {"sampling": {"samples": ev.samples, "temperature": ev.temperature, "top_p": ev.top_p,
                         "pass_at": sorted(set(ev.pass_at))}}


def check(recipe, rms: dict) -> list[str]:
    ev = recipe.eval
    problems = []
    if ev.samples > 1 and ev.temperature == 0:
        problems.append(f"eval.samples={ev.samples} needs eval.temperature > 0: greedy decoding gives the same "
                        "response every time")
    if ev.pass_at and not ev.sampled:
        problems.append("eval.pass_at needs sampled responses: set eval.samples > 1 and eval.temperature > 0")
    problems += [f"eval.pass_at has k={k} > eval.samples={ev.samples}: pass@k needs at least k responses"
                 for k in ev.pass_at if k > ev.samples]
    return problems


def settings(nodes: list, by_id: dict) -> dict:
    """The base policy's evaluation must be the same for RL gains of two runs to share it."""
    return {f"evaluation ({n.params['policy']['name']}, {n.params['task']})":
            {"policy": n.params["policy"], "limit": n.params["limit"]}
            | ({"sampling": n.params["sampling"]} if "sampling" in n.params else {})
            for n in nodes if n.params["rm"] is None}


def shared(outputs: dict):
    """A base policy's evaluation belongs to no RM: merged runs share one copy."""
    return (outputs["policy"], outputs["task"]) if outputs["rm"] is None else None


def cost(node, c):
    """Decoding `eval.samples` responses per prompt."""
    from rlhf_eval.launch.cost import Estimate

    prompts = node.params["limit"] or c.task_prompts(node.params["task"])
    k = node.params.get("sampling", {}).get("samples", 1)
    p = c.policy_params(node.params["policy"])
    return Estimate(node.stage, node.label, c.hours(2 * p * prompts * k * c.resp, c.cost["decode_tflops"]),
                    f"{p / 1e9:g}B x {prompts} prompts" + (f" x {k} samples" if k > 1 else ""))


STAGE = Stage(NAME, "rlhf_eval.evals.stage:run", expand=expand, section="eval",
              result=Result(side="downstream", tables="rlhf_eval.compare.tables:eval_tables",
                            sources="rlhf_eval.compare.sources:rl_sources",
                            settings=settings, shared=shared, same="rlhf_eval.compare.merge:same_base"),
              check=check, cost=cost)
