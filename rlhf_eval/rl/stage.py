"""rl_train stage: RL on one policy with one RM, on the engine the recipe names."""
from __future__ import annotations

import json
import random
from pathlib import Path

from rlhf_eval.data.pairs import first_user_turn, read_rows
from rlhf_eval.errors import UserError
from rlhf_eval.rl import ENGINES, algorithm_problem
from rlhf_eval.rl.base import RLJob, rl_run
from rlhf_eval.toy.stage import resolve


def rl_prompts(data_path: str, count: int, seed: int, gold=None) -> list[dict]:
    """Distinct prompts of the curated data (strings or chat messages), each with its `label`:
    the pair's own, else `gold(prompt)` (the toy task's reference answer), else ""."""
    unique = {json.dumps(r["prompt"], sort_keys=True): r for r in read_rows(Path(data_path))}
    rows = [{"prompt": unique[k]["prompt"], "label": unique[k].get("label")} for k in sorted(unique)]
    random.Random(seed).shuffle(rows)
    for r in rows[:count]:
        if r["label"] is None:
            r["label"] = gold(first_user_turn(r["prompt"])) if gold else ""
    return rows[:count]


def run(ctx) -> dict:
    rl = rl_run(ctx.params["rl"])
    seed = rl.seed
    problem = algorithm_problem(rl.engine, rl.algorithm)  # plan.json is input: checked again here
    if problem:
        raise UserError(problem)
    toy = ctx.out("toy") if ctx.has("toy") else None
    policy_path = resolve(ctx.params["policy"]["path"], toy, "policy")
    verify = gold = None
    if toy is not None and ctx.params["policy"]["path"] == "toy:policy":
        from rlhf_eval.toy.task import gold_answer as gold
        from rlhf_eval.toy.task import is_correct as verify
    rows = rl_prompts(ctx.out("data")["path"], rl.steps * rl.prompts_per_step, seed, gold)
    train = ENGINES.load(rl.engine)
    with ctx.bar(f"{rl.algorithm} with RM {ctx.out('rm')['name']}", rl.steps) as update:
        info = train(ctx, RLJob(rl, seed, policy_path, rows, verify), update)
    return info | {"rm": ctx.out("rm")["name"], "policy": ctx.params["policy"]["name"],
                   "algorithm": rl.algorithm, "engine": rl.engine, "seed": seed}
