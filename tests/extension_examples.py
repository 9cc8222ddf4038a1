"""One new implementation per extension point, as a user would add them: each is this module plus
one line in its registry (test_extensions.py adds the lines)."""
from dataclasses import dataclass

import numpy as np

from rlhf_eval import store
from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.generic import aggregate, item_outcomes, pairwise_item
from rlhf_eval.compare.sources import CANDIDATES
from rlhf_eval.compare.stats import Source
from rlhf_eval.stages import Result, Stage, no_gpu


class EchoSampler:
    """A generation backend: repeats the prompt's last word."""

    def __init__(self, path, settings, seed, batch_size, trust_remote_code=False, engine_args=None):
        self.tok, self.seed = None, seed

    def sample(self, contexts, n, max_new_tokens, until=None, block=0, progress=None):
        return [[c.split()[-1]] * n for c in contexts]


class LengthScorer:
    truncated = 0

    def score(self, prompts, responses):
        return [float(len(r)) for r in responses]

    def score_texts(self, queries, prompts):
        return [float(len(q) - len(p)) for q, p in zip(queries, prompts)]


def load_length_scorer(rm):
    """An RM scoring backend: reward = response length."""
    return LengthScorer()


def record_nodes(run_dir, nodes, console, recipe=None, address=None):
    """An executor that runs nothing and lists the nodes it was given."""
    console.print(f"would run {len(nodes)} nodes")
    return {}


def constant_engine(ctx, job, progress):
    """An RL engine that returns the starting policy as its only checkpoint."""
    progress(job.rl.steps)
    return {"path": job.policy_path, "checkpoints": [{"step": job.rl.steps, "path": job.policy_path}],
            "history": []}


MINI = Benchmark("mini-pairwise", "id", None, pairwise_item, item_outcomes, aggregate, "[chosen, rejected]",
                 takes_columns=True)


def load_as_given(rm):
    """An RM scoring backend that hands back what it was given (for what load_scorer passes on)."""
    return rm


# --------------------------------------------------------------------------- a new stage
# A toy downstream measure: per prompt, the gold value of the candidate an RM ranks first minus
# that of the one it ranks last, over the best-of-n candidates already sampled and scored. It is
# this block and one line in stages.STAGES (test_extensions.py adds the line).
@dataclass
class BestMinusWorstConfig:
    enabled: bool = False  # on in a recipe with `best_minus_worst: {enabled: true}`


def plan_best_minus_worst(plan):
    if not plan.recipe.best_minus_worst.enabled:
        return
    gens = plan.need("candidates")
    for (rm, policy, task), scores in plan.need("scores").items():
        plan.add("best_minus_worst", f"rm={rm} policy={policy} task={task}", {},
                 {"scores": scores, "candidates": gens[policy, task]})


def run_best_minus_worst(ctx) -> dict:
    scores = {(r["prompt_id"], r["sample_idx"]): r["score"] for r in store.read_jsonl(ctx.out("scores")["scores"])}
    by_prompt: dict = {}
    for g in store.read_jsonl(ctx.out("candidates")["gold"]):
        by_prompt.setdefault(g["prompt_id"], []).append((scores[g["prompt_id"], g["sample_idx"]], g["gold"]))
    rows = [{"prompt_id": p, "gap": max(c)[1] - min(c)[1]} for p, c in sorted(by_prompt.items())]
    store.write_jsonl(ctx.dir / "per_prompt.jsonl", rows)
    return {"rm": ctx.out("scores")["rm"], "policy": ctx.out("candidates")["policy"],
            "task": ctx.out("candidates")["task"], "value": float(np.mean([r["gap"] for r in rows])),
            "prompts": len(rows),
            "per_prompt": str(ctx.dir / "per_prompt.jsonl")}


def best_minus_worst_tables(outs, cfg) -> dict:
    return {"downstream": [{"policy": o["policy"], "method": "best-minus-worst", "rm": o["rm"], "n": None,
                            "task": o["task"], "metric": "gold gap", "value": o["value"], "ci_low": None,
                            "ci_high": None, "prompts": o["prompts"]} for o in outs]}


def best_minus_worst_sources(outs) -> list:
    out = []
    for policy, task in sorted({(o["policy"], o["task"]) for o in outs}):
        units = {o["rm"]: np.array([r["gap"] for r in store.read_jsonl(o["per_prompt"])])
                 for o in outs if (o["policy"], o["task"]) == (policy, task)}
        out.append(Source(f"({task}, {policy})", units, None,
                          lambda v, idx: {"best-minus-worst gap": float(v[idx].mean())}, "downstream", "prompts",
                          # it reads the best-of-n candidates, as the on-policy signals do: no verdict between them
                          {"best-minus-worst gap": {"short": "bmw", "reads": CANDIDATES}}))
    return out


BEST_MINUS_WORST = Stage(
    "best_minus_worst", "extension_examples:run_best_minus_worst", expand=plan_best_minus_worst,
    section="best_minus_worst", config=BestMinusWorstConfig, cost=no_gpu,
    result=Result(side="downstream", tables="extension_examples:best_minus_worst_tables",
                  sources="extension_examples:best_minus_worst_sources"))
