"""`rlhf-eval plan --cost`: GPU-hours per node and stage of a real-model recipe, before submitting.

Each node's work is counted in FLOPs from model sizes and token counts, then divided by a stated
achieved throughput. The standard transformer counts (Kaplan et al. 2020): a forward pass costs
2 * params FLOPs per token and a training step (forward and backward) 6 * params. Generation is
priced at its own, lower, achieved rate, since decoding is bound by memory bandwidth, not FLOPs.

The formula per stage and the defaults are in docs/cost.md (one table, kept there only).

seq_tokens = prompt_tokens + response_tokens. Sizes come from `cost.params_b` (by card name), else
from a size in the model id (`...-8B` -> 8e9), else the recipe must state them. The numbers are
estimates to size an allocation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rlhf_eval.bench import benchmark_for
from rlhf_eval.errors import UserError
from rlhf_eval.pipeline import Node

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


def estimate(nodes: list[Node], recipe: dict) -> list[Estimate]:
    """One estimate per GPU node (the cards are in the nodes' params). `recipe`: a plain dict."""
    cost = recipe["cost"]
    seq = cost["prompt_tokens"] + cost["response_tokens"]
    resp = cost["response_tokens"]
    by_id = {n.id: n for n in nodes}

    def p_rm(rm: Node) -> float:
        card = rm.params["card"]
        return params_of(card["name"], card["path"] or rm.params.get("base"), cost)

    def p_policy(card: dict) -> float:
        return params_of(card["name"], card["path"], cost)

    out = []
    for n in nodes:
        if n.stage == "train_rm":
            card = n.params["card"]
            if card["path"]:
                continue
            p = p_rm(n)
            pairs = card["train"]["max_pairs"] or cost["train_pairs"]
            tokens = pairs * 2 * seq * card["train"]["epochs"]
            flops = (6 + (2 if card["kind"] == "implicit" else 0)) * p * tokens
            out.append(Estimate(n.stage, n.label, _hours(flops, cost["train_tflops"]),
                                f"{p / 1e9:g}B x {pairs} pairs x {card['train']['epochs']:g} epochs"))
        elif n.stage == "static_bench":
            p = p_rm(by_id[n.deps["rm"]])
            b = n.params["benchmark"]
            responses = cost["benchmark_responses"].get(b["name"]) or benchmark_for(b["name"], b["scored_as"]).responses
            if responses is None:
                out.append(Estimate(n.stage, n.label, None, f"size of '{b['name']}' unknown: set "
                                                            f"cost.benchmark_responses.{b['name']}"))
                continue
            out.append(Estimate(n.stage, n.label, _hours(2 * p * responses * seq, cost["infer_tflops"]),
                                f"{p / 1e9:g}B x {responses} responses"))
        elif n.stage == "bon_generate":
            prompts = n.params["limit"] or _task_prompts(n.params["task"], cost)
            p = p_policy(n.params["policy"])
            hours = _hours(2 * p * prompts * n.params["n_max"] * resp, cost["decode_tflops"])
            out.append(Estimate(n.stage, n.label, hours,
                                f"{p / 1e9:g}B x {prompts} prompts x {n.params['n_max']} samples"))
        elif n.stage == "bon_score":
            gen = by_id[n.deps["candidates"]].params
            prompts = gen["limit"] or _task_prompts(gen["task"], cost)
            p = p_rm(by_id[n.deps["rm"]])
            out.append(Estimate(n.stage, n.label, _hours(2 * p * prompts * gen["n_max"] * seq, cost["infer_tflops"]),
                                f"{p / 1e9:g}B x {prompts * gen['n_max']} candidates"))
        elif n.stage == "rl_train":
            rl = n.params["rl"]
            pp = p_policy(n.params["policy"])
            pr = p_rm(by_id[n.deps["rm"]])
            r = rl["prompts_per_step"] * rl["samples_per_prompt"]
            critic = 8 * pp if rl["algorithm"] in ("ppo", "gae") else 0
            tokens = cost["prompt_tokens"] + rl["max_new_tokens"]
            per_step = (_hours(2 * pp * r * rl["max_new_tokens"], cost["decode_tflops"])
                        + _hours((6 * pp + 2 * pp + 2 * pr + critic) * r * tokens, cost["train_tflops"]))
            out.append(Estimate(n.stage, n.label, per_step * rl["steps"],
                                f"{rl['steps']} steps x {r} rollouts, policy {pp / 1e9:g}B, RM {pr / 1e9:g}B"))
        elif n.stage == "policy_eval":
            prompts = n.params["limit"] or _task_prompts(n.params["task"], cost)
            p = p_policy(n.params["policy"])
            out.append(Estimate(n.stage, n.label, _hours(2 * p * prompts * resp, cost["decode_tflops"]),
                                f"{p / 1e9:g}B x {prompts} prompts"))
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
