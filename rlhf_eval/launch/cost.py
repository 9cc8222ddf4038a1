"""`rlhf-eval plan --cost`: GPU-hours per node and stage of a real-model recipe, before submitting.

Each node's work is counted in FLOPs from model sizes and token counts, then divided by a stated
achieved throughput. The standard transformer counts (Kaplan et al. 2020): a forward pass costs
2 * params FLOPs per token and a training step (forward and backward) 6 * params. Generation is
priced at its own, lower, achieved rate, since decoding is bound by memory bandwidth, not FLOPs.

Each stage prices its own nodes (stages.Stage.cost, in its wiring module); the formula per stage
and the defaults are in docs/cost.md (one table, kept there only).

seq_tokens = prompt_tokens + response_tokens. Sizes come from `cost.params_b` (by card name), else
from a size in the model id (`...-8B` -> 8e9), else the recipe must state them. The numbers are
estimates to size an allocation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rlhf_eval.errors import UserError
from rlhf_eval.pipeline import Node
from rlhf_eval.stages import stage

# Known sizes of tasks (prompts), from their released data; a benchmark's is on its Benchmark
# (bench.base.Benchmark.responses).
TASK_PROMPTS = {"gsm8k": 1319, "ifeval": 541, "math": 5000, "humaneval": 164}
SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)[bB](?![a-zA-Z])")


class CostError(UserError):
    pass


@dataclass(frozen=True)
class Estimate:
    stage: str
    label: str
    gpu_hours: float | None  # None: a size this estimate needs is not known (detail says which)
    detail: str


def params_of(name: str, path: str | None, cost: dict) -> float:
    """Parameters of a card's model: `cost.params_b[name]`, else a size in its id, in billions."""
    if name in cost["params_b"]:
        return float(cost["params_b"][name]) * 1e9
    m = SIZE.search(str(path or name).split("/")[-1])
    if m:
        return float(m.group(1)) * 1e9
    raise CostError(f"no model size for '{name}' ({path}): set cost.params_b.{name} (in billions)")


def _hours(flops: float, tflops: float) -> float:
    return flops / (tflops * 1e12) / 3600


@dataclass(frozen=True)
class Costing:
    """What a stage's cost rule (stages.Stage.cost) prices a node with: the recipe's `cost`
    section, every node by id (to read a node's inputs), and the sizes derived from them."""
    cost: dict
    nodes: dict

    @property
    def seq(self) -> int:
        return self.cost["prompt_tokens"] + self.cost["response_tokens"]

    @property
    def resp(self) -> int:
        return self.cost["response_tokens"]

    def rm_params(self, rm: Node) -> float:
        card = rm.params["card"]
        return params_of(card["name"], card["path"] or rm.params.get("base"), self.cost)

    def policy_params(self, card: dict) -> float:
        return params_of(card["name"], card["path"], self.cost)

    def task_prompts(self, task: str) -> int:
        return _task_prompts(task, self.cost)

    @staticmethod
    def hours(flops: float, tflops: float) -> float:
        return _hours(flops, tflops)


def estimate(nodes: list[Node], recipe: dict) -> list[Estimate]:
    """One estimate per GPU node, from its stage's cost rule (the cards are in the nodes' params;
    `recipe`: a plain dict). A stage without a rule gives an estimate of unknown size."""
    c = Costing(recipe["cost"], {n.id: n for n in nodes})
    out = []
    for n in nodes:
        rule = stage(n.stage).cost
        if rule is None:
            out.append(Estimate(n.stage, n.label, None, f"stage '{n.stage}' declares no cost rule (stages.Stage.cost)"))
            continue
        found = rule(n, c)
        if found is not None:
            out.append(found)
    return out


def _task_prompts(task: str, cost: dict) -> int:
    prompts = cost["task_prompts"].get(task) or TASK_PROMPTS.get(task)
    if prompts is None:
        raise CostError(f"no size for task '{task}': set cost.task_prompts.{task} (or bon.limit / eval.limit)")
    return prompts


def by_stage(estimates: list[Estimate]) -> dict[str, tuple[int, float]]:
    """stage -> (nodes, GPU-hours of the nodes whose size is known)."""
    out: dict[str, tuple[int, float]] = {}
    for e in estimates:
        k, h = out.get(e.stage, (0, 0.0))
        out[e.stage] = (k + 1, h + (e.gpu_hours or 0.0))
    return out


def unknown(estimates: list[Estimate]) -> list[Estimate]:
    """The nodes left out of the totals, each saying what size it lacks."""
    return [e for e in estimates if e.gpu_hours is None]
