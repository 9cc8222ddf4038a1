"""Per-unit values of what the RMs are compared on: benchmark items (static) and evaluation
prompts (downstream), as bootstrap Sources."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rlhf_eval import store
from rlhf_eval.bench import benchmark_for
from rlhf_eval.bench.base import BenchmarkScores
from rlhf_eval.bench.evaluate import full_metrics
from rlhf_eval.bench.items import Outcomes
from rlhf_eval.compare.stats import Seeded, Source
from rlhf_eval.errors import UserError


def load_units(path: str) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """A benchmark result's per-unit outcomes, sorted by unit id so RMs align."""
    rows = sorted(store.read_jsonl(path), key=lambda r: r["id"])
    columns = list(dict.fromkeys(k for r in rows for k in r if k not in ("id", "group")))
    values = np.array([[np.nan if r.get(c) is None else r[c] for c in columns] for r in rows], float)
    return columns, values, np.array([r["group"] for r in rows], dtype=object), [r["id"] for r in rows]


STATIC_METRICS = ("score", "domain_worst")


def static_sources(bench_outs: list[dict]) -> list[Source]:
    """One source per benchmark: its headline score, worst domain, and every subset and domain."""
    out = []
    results = [BenchmarkScores.from_outputs(b) for b in bench_outs]
    for name in sorted({b.benchmark for b in results}):
        by_seed, groups, columns, ids = {}, None, None, None
        outs = [x for x in results if x.benchmark == name]
        bench = benchmark_for(name, outs[0].scored_as)
        for b in outs:
            columns, by_seed.setdefault(b.rm, {})[b.rm_seed], groups, rm_ids = load_units(b.units)
            if ids is not None and rm_ids != ids:
                raise UserError(f"{name}: RM '{b.rm}' was scored on other items than the RMs before it")
            ids = rm_ids
        units = {rm: Seeded.of(d) for rm, d in by_seed.items()}

        def metrics(v, idx, groups=groups, columns=columns, bench=bench):
            m = full_metrics(bench, Outcomes(columns, v[idx], groups[idx], []))
            return {k: x for k, x in m.items() if k in STATIC_METRICS or k.startswith(("subset/", "domain/"))}
        out.append(Source(name, units, groups, metrics, "static", "items"))
    return out


def per_doc(e: dict) -> np.ndarray:
    """A policy evaluation's per-prompt metric, in document order."""
    return np.array([r[e["metric"]] for r in sorted(store.read_jsonl(e["samples"]), key=lambda r: r["doc_id"])])


# What a measure is computed from, in Source labels ("reads"): a static-like metric and a gain that
# read the same data are partly circular, and compare keeps that cell out of the verdicts.
CANDIDATES = "best-of-n candidates"


def resolution(per_unit: list, n: int) -> float:
    """The smallest step a mean over `n` units can move by: the smallest gap between two distinct
    per-unit values (over every RM) divided by n; nan when every unit has the same value. A
    greedy exact-match gain over 200 prompts moves in steps of 1/200 = 0.005."""
    # (rounded first: an expected value over subsets carries float noise far below any real step)
    v = np.unique(np.round(np.concatenate([np.ravel(a) for a in per_unit]), 9))
    v = v[~np.isnan(v)]
    gaps = np.diff(v)
    return float(gaps[gaps > 0].min() / n) if (gaps > 0).any() else float("nan")


def bon_sources(bon_outs: list[dict]) -> list[Source]:
    """Per (policy, task): the best-of-n gain over n = 1 for every n > 1 of the grid, per prompt,
    so prompts can be resampled."""
    out = []
    for (policy, task) in sorted({(b["policy"], b["task"]) for b in bon_outs}):
        by_seed, grid = {}, None
        for b in (x for x in bon_outs if (x["policy"], x["task"]) == (policy, task)):
            pp = json.loads(Path(b["per_prompt"]).read_text())["values"]
            grid = [n for n in sorted(int(k) for k in pp) if n > 1]
            by_seed.setdefault(b["rm"], {})[b.get("rm_seed")] = np.stack(
                [np.array(pp[str(n)]) - np.array(pp["1"]) for n in grid], axis=1)
        units = {rm: Seeded.of(d) for rm, d in by_seed.items()}

        def metrics(v, idx, grid=grid):
            return {f"best-of-{n} gain": float(v[idx, k].mean()) for k, n in enumerate(grid)}
        arrays = [a for d in by_seed.values() for a in d.values()]
        n_prompts = len(arrays[0])
        labels = {f"best-of-{n} gain": {"short": f"bo{n}", "family": "best-of-n gain", "rank": n, "reads": CANDIDATES,
                                        "resolution": resolution([a[:, k] for a in arrays], n_prompts)}
                  for k, n in enumerate(grid)}
        out.append(Source(f"({task}, {policy})", units, None, metrics, "downstream", "prompts", labels))
    return out


def rl_sources(eval_outs: list[dict]) -> list[Source]:
    """Per (policy, task): the final RL checkpoint's gain over the base policy (rl_units)."""
    out = []
    for (policy, task) in sorted({(e["policy"], e["task"]) for e in eval_outs if e["rm"] is None}):
        base = next(e for e in eval_outs if e["rm"] is None and (e["policy"], e["task"]) == (policy, task))
        finals = [e for e in eval_outs if e["rm"] and e["final"] and (e["policy"], e["task"]) == (policy, task)]
        by_rm = rl_differences(base, finals)
        units = units_of(by_rm)
        if units:
            diffs = [d for per_seed in by_rm.values() for d in per_seed.values()]
            seeds = {e.get("seed") for e in finals}
            # per-prompt differences, then a mean over prompts and seeds
            step = resolution(diffs, len(diffs[0]) * len(seeds))
            out.append(Source(f"({task}, {policy})", units, None, lambda v, idx: {"RL gain": float(v[idx].mean())},
                              "downstream", "seeds" if len(seeds) > 1 else "prompts",
                              {"RL gain": {"short": "RL", "resolution": step}}))
    return out


def run_of(e: dict):
    """An RL evaluation's run: its RL seed, or (RM training seed, RL seed) where rl.rm_seeds
    crossed them."""
    return e.get("seed") if e.get("rm_seed") is None else (e["rm_seed"], e.get("seed"))


def rl_differences(base: dict, finals: list[dict]) -> dict:
    """RM -> run -> the per-prompt differences of its final checkpoint from the base policy."""
    b = per_doc(base)
    by_rm: dict = {}
    for e in finals:
        by_rm.setdefault(e["rm"], {})[run_of(e)] = per_doc(e) - b
    return by_rm


def rl_units(base: dict, finals: list[dict]) -> dict:
    """The units of each RM's RL gain (units_of its rl_differences)."""
    return units_of(rl_differences(base, finals))


def units_of(by_rm: dict) -> dict:
    """With several training seeds the seeds are the units (one gain per seed, the mean over
    evaluation prompts), since run-to-run variance is the top level of an RM's RL measurement;
    with one seed, the evaluation prompts (paired differences). An RM whose training seeds were
    crossed with the RL seeds (rl.rm_seeds: all) has those units for each RM seed, a Seeded: its
    RM seeds are the top level."""
    rl_sets = {tuple(sorted({k[1] if isinstance(k, tuple) else k for k in d}, key=str)) for d in by_rm.values()}
    if len(rl_sets) > 1:
        raise UserError(f"RMs were trained with different RL seeds ({sorted(rl_sets)}); "
                        "compare them on the same seeds")
    several = bool(rl_sets) and len(next(iter(rl_sets))) > 1

    def inner(d: dict):
        return np.array([d[s].mean() for s in sorted(d, key=str)]) if several else next(iter(d.values()))
    out = {}
    for rm, d in by_rm.items():
        by_top: dict = {}
        for k, v in d.items():
            top, rl = k if isinstance(k, tuple) else (None, k)
            by_top.setdefault(top, {})[rl] = v
        out[rm] = Seeded.of({top: inner(x) for top, x in by_top.items()})
    return out


def measure_name(source: str, metric: str, side: str) -> str:
    return f"{source} {metric}" if side == "static" else f"{metric} {source}"


SIGNALS = {"spread": "on-policy spread", "tie": "on-policy ties", "accuracy": "on-policy accuracy"}


def signal_sources(signal_outs: list[dict]) -> list[Source]:
    """Per (policy, task): each RM's on-policy signals (bon.signal_stage), prompts as units. They
    read best-of-n's candidates, as best-of-n gains do: their labels say so (`reads`)."""
    out = []
    for (policy, task) in sorted({(o["policy"], o["task"]) for o in signal_outs}):
        by_seed: dict = {}
        for o in (x for x in signal_outs if (x["policy"], x["task"]) == (policy, task)):
            rows = sorted(store.read_jsonl(o["per_prompt"]), key=lambda r: r["prompt_id"])
            by_seed.setdefault(o["rm"], {})[o.get("rm_seed")] = np.array(
                [[np.nan if r[k] is None else r[k] for k in SIGNALS] for r in rows], float)
        units = {rm: Seeded.of(d) for rm, d in by_seed.items()}

        def metrics(v, idx):
            with np.errstate(all="ignore"):
                return {name: float(np.nanmean(v[idx, k])) if np.any(~np.isnan(v[idx, k])) else float("nan")
                        for k, name in enumerate(SIGNALS.values())}
        labels = {name: {"short": short, "reads": CANDIDATES}
                  for name, short in zip(SIGNALS.values(), ("OPspread", "OPties", "OPacc"))}
        out.append(Source(f"({task}, {policy})", units, None, metrics, "on-policy", "prompts", labels))
    return out
