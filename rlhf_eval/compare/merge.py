"""Merge the results of several runs (RMs evaluated by different recipes) for one comparison.

Results are comparable only when they measure the same thing: the same benchmark data, the same
policy, task and sampling for best-of-n, the same evaluation and RL settings. Anything else is
refused with the first setting that differs, e.g.
`runs/a and runs/b: best-of-n (toy-policy, toy_sort) differs in sampling.temperature: 1.0 vs 0.7`.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from rlhf_eval.compare.sources import per_doc
from rlhf_eval.errors import UserError
from rlhf_eval.pipeline import load_plan, node_done

RESULT_STAGES = ("static_bench", "bon_eval", "policy_eval", "rl_train")


class MergeError(UserError):
    pass


def first_difference(a, b, prefix: str = "") -> str | None:
    """The first dotted key where two settings differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            found = first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
            if found:
                return found
        return None
    return None if a == b else f"{prefix.rstrip('.')}: {a!r} vs {b!r}"


def load_run(run_dir: Path) -> dict:
    """A finished run's result outputs by stage, and the settings that make results comparable."""
    run_dir = Path(run_dir)
    nodes = load_plan(run_dir)
    by_id = {n.id: n for n in nodes}
    cfg = json.loads((run_dir / "plan.json").read_text())["config"]
    by, settings, rm_keys, funnel = defaultdict(list), {}, {}, None
    for n in nodes:
        if n.stage not in RESULT_STAGES + ("curate", "train_rm"):
            continue
        m, damaged = node_done(run_dir, n)
        if m is None:
            why = (f"was damaged ({damaged}); run it again to redo it" if damaged
                   else "is not done; finish the run first")
            raise MergeError(f"{run_dir}: node {n.id} ({n.label}) {why}")
        out = m["outputs"]
        if n.stage == "curate":
            funnel = {k: out[k] for k in ("counts", "dropped", "events")}
        elif n.stage == "train_rm":
            rm_keys[out["name"]] = n.key
        else:
            by[n.stage].append(out)
        if n.stage == "static_bench":
            bench = n.params["benchmark"]
            settings[f"benchmark {bench['name']}"] = {k: v for k, v in bench.items() if k != "name"}
        elif n.stage == "bon_eval":
            gen = by_id[n.deps["candidates"]].params
            settings[f"best-of-n ({gen['policy']['name']}, {gen['task']})"] = {
                "policy": gen["policy"], "task_digest": gen["task_digest"], "n_max": gen["n_max"],
                "block": gen["block"], "sampling": gen["sampling"], "limit": gen["limit"], "n_grid": n.params["n_grid"]}
        elif n.stage == "policy_eval" and n.params["rm"] is None:
            settings[f"evaluation ({n.params['policy']['name']}, {n.params['task']})"] = {
                "policy": n.params["policy"], "limit": n.params["limit"]}
        elif n.stage == "rl_train":
            rl = {k: v for k, v in n.params["rl"].items() if k != "seed"}
            entry = settings.setdefault(f"RL ({n.params['policy']['name']})",
                                        {"policy": n.params["policy"], "rl": rl, "seeds": []})
            entry["seeds"] = sorted(set(entry["seeds"]) | {n.params["rl"]["seed"]})
    return {"dir": str(run_dir), "name": cfg["recipe"]["name"], "by": by, "settings": settings,
            "rm_keys": rm_keys, "funnel": funnel, "compare": cfg["recipe"]["compare"],
            "report": cfg["recipe"].get("report") or {}}


def merge(runs: list[dict]) -> dict:
    """One `by` (stage -> outputs) over all runs; an RM in several runs is taken once, from the first."""
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            for what in sorted(set(a["settings"]) & set(b["settings"])):
                diff = first_difference(a["settings"][what], b["settings"][what])
                if diff:
                    raise MergeError(f"{a['dir']} and {b['dir']}: {what} differs in {diff}; "
                                     "their results cannot be compared")
            for rm in sorted(set(a["rm_keys"]) & set(b["rm_keys"])):
                if a["rm_keys"][rm] != b["rm_keys"][rm]:
                    raise MergeError(f"{a['dir']} and {b['dir']}: RM '{rm}' is a different model in each "
                                     f"(train_rm {a['rm_keys'][rm]} vs {b['rm_keys'][rm]}); rename one card")
    by, seen_rm, bases = defaultdict(list), {}, {}
    for run in runs:
        for stage in RESULT_STAGES:
            for out in run["by"][stage]:
                rm = out.get("rm")
                if stage == "policy_eval" and rm is None:
                    key = (out["policy"], out["task"])
                    if key in bases:
                        if not np.array_equal(per_doc(bases[key]), per_doc(out)):
                            raise MergeError(f"{bases[key]['samples']} and {out['samples']}: the base policy's "
                                             f"per-prompt results on {out['task']} differ between runs, so RL gains "
                                             "would not share a baseline")
                        continue
                    bases[key] = out
                elif rm is not None and seen_rm.setdefault(rm, run["dir"]) != run["dir"]:
                    continue  # the same RM (same key) from an earlier run
                by[stage].append(out)
    if not any(by[s] for s in ("static_bench",)):
        raise MergeError("no static benchmark results in these runs")
    return by


def same_units(by: dict) -> None:
    """Prompts of best-of-n results must line up across runs (same count per (policy, task))."""
    sizes = defaultdict(set)
    for b in by["bon_eval"]:
        pp = json.loads(Path(b["per_prompt"]).read_text())["values"]
        sizes[(b["policy"], b["task"])].add(len(np.asarray(pp["1"])))
    for key, n in sizes.items():
        if len(n) > 1:
            raise MergeError(f"best-of-n {key}: runs evaluated different numbers of prompts ({sorted(n)})")
