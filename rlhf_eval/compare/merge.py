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
from rlhf_eval.pipeline import load_plan, makes_rms, node_done
from rlhf_eval.stages import resolve, result_stages, stage


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
    by, mine, rm_keys, funnel = defaultdict(list), defaultdict(list), {}, None
    for n in nodes:
        s = stage(n.stage)
        if s.result is None and s.funnel is None and not makes_rms(n):
            continue
        m, damaged = node_done(run_dir, n)
        if m is None:
            why = (f"was damaged ({damaged}); run it again to redo it" if damaged
                   else "is not done; finish the run first")
            raise MergeError(f"{run_dir}: node {n.id} ({n.label}) {why}")
        out = m["outputs"]
        if s.funnel is not None:
            funnel = s.funnel(out)
        if makes_rms(n):
            rm_keys[out["name"]] = n.key
        if s.result is not None:
            by[n.stage].append(out)
            mine[n.stage].append(n)
    settings = {}
    for s in result_stages():
        if s.result.settings is not None and mine[s.name]:
            settings |= s.result.settings(mine[s.name], by_id)
    return {"dir": str(run_dir), "name": cfg["recipe"]["name"], "by": by, "settings": settings,
            "rm_keys": rm_keys, "funnel": funnel, "compare": cfg["recipe"]["compare"],
            "report": cfg["recipe"].get("report") or {}}


def merge(runs: list[dict]) -> dict:
    """One `by` (stage -> outputs) over all runs; an RM in several runs is taken once, from the
    first, and outputs that belong to no RM (a base policy's evaluation) once, if the same."""
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
    by, seen_rm, shared = defaultdict(list), {}, {}
    found = result_stages()
    for run in runs:
        for s in found:
            for out in run["by"][s.name]:
                rm = out.get("rm")
                key = s.result.shared(out) if s.result.shared is not None else None
                if key is not None:
                    if (s.name, key) in shared:
                        problem = resolve(s.result.same)(shared[s.name, key], out) if s.result.same else None
                        if problem:
                            raise MergeError(problem)
                        continue
                    shared[s.name, key] = out
                elif rm is not None and seen_rm.setdefault(rm, run["dir"]) != run["dir"]:
                    continue  # the same RM (same key) from an earlier run
                by[s.name].append(out)
    if not any(by[s.name] for s in found if s.result.side == "static"):
        raise MergeError("no static benchmark results in these runs")
    for s in found:
        if s.result.check is not None:
            resolve(s.result.check)(by[s.name])
    return by


def same_base(a: dict, b: dict) -> str | None:
    """Why two runs' evaluations of the base policy cannot be one baseline, or None."""
    if np.array_equal(per_doc(a), per_doc(b)):
        return None
    return (f"{a['samples']} and {b['samples']}: the base policy's per-prompt results on {b['task']} differ "
            "between runs, so RL gains would not share a baseline")


def same_units(bon_outs: list[dict]) -> None:
    """Prompts of best-of-n results must line up across runs (same count per (policy, task))."""
    sizes = defaultdict(set)
    for b in bon_outs:
        pp = json.loads(Path(b["per_prompt"]).read_text())["values"]
        sizes[(b["policy"], b["task"])].add(len(np.asarray(pp["1"])))
    for key, n in sizes.items():
        if len(n) > 1:
            raise MergeError(f"best-of-n {key}: runs evaluated different numbers of prompts ({sorted(n)})")
