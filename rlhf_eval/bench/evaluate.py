"""Scores -> metrics with CIs: the one path the static_bench stage and `bench score` share."""
from __future__ import annotations

import numpy as np

from rlhf_eval.bench import judged, ppe
from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.items import Item, Outcomes
from rlhf_eval.bootstrap import intervals
from rlhf_eval.data.pairs import DataError


def subset_outcomes(o: Outcomes, idx: np.ndarray) -> Outcomes:
    return Outcomes(o.columns, o.values[idx], o.groups[idx], [o.ids[i] for i in idx])


def with_domains(metrics: dict[str, float]) -> dict[str, float]:
    """Adds the mean and the worst of the domain scores (PPE: the weakest domain predicted
    downstream results better than the mean)."""
    domains = {k: v for k, v in metrics.items() if k.startswith("domain/")}
    if domains:
        metrics = metrics | {"domain_mean": float(np.mean(list(domains.values()))),
                             "domain_worst": float(min(domains.values()))}
    return metrics


def full_metrics(bench: Benchmark, o: Outcomes) -> dict[str, float]:
    return with_domains(bench.aggregate(o))


def check_scores(bench: Benchmark, items: list[Item], scores: list[list[float]], where: str = "scores",
                 swapped: list | None = None) -> None:
    for k, (it, s) in enumerate(zip(items, scores)):
        if len(s) != len(it.candidates):
            raise DataError(f"{where}: id {it.id!r}: {len(s)} scores for {len(it.candidates)} candidates "
                            f"(order: {bench.candidate_order})")
        if not all(np.isfinite(s)):
            raise DataError(f"{where}: id {it.id!r}: scores must be finite numbers")
        second = swapped[k] if swapped is not None else None
        if second is not None:
            if len(second) != len(it.candidates):
                raise DataError(f"{where}: id {it.id!r}: field 'swapped': {len(second)} scores for "
                                f"{len(it.candidates)} candidates (the second game's order, B then A)")
            if not all(np.isfinite(second)):
                raise DataError(f"{where}: id {it.id!r}: field 'swapped': scores must be finite numbers")


def evaluate(bench: Benchmark, items: list[Item], scores: list[list[float]], iters: int = 1000,
             seed: int = 0, swapped: list | None = None, where: str = "scores") -> dict:
    """`where` names the scores' origin (a file) in errors."""
    check_scores(bench, items, scores, where, swapped)
    extra = {"swapped": swapped} if swapped is not None else {}
    o = bench.item_outcomes(items, scores, **extra)
    result = evaluate_outcomes(bench, o, iters, seed)
    return result | {
        "n_items": len(items),
        "worst_domain": worst_domain(result["metrics"]),
        "ppe": ppe.ppe_metrics(items, scores, iters, seed),
        "notes": bench.notes(items),
        "outcomes": o,
    }


def evaluate_judged(bench: Benchmark, items: list[Item], decisions: list[list[tuple]], iters: int = 1000,
                    seed: int = 0) -> dict:
    """A pairwise judge's decisions (rlhf_eval.bench.judged.decide) -> the same result as evaluate(),
    with the judge's position bias; no PPE metrics, which need scores."""
    o = bench.judged_outcomes(items, decisions)
    result = evaluate_outcomes(bench, o, iters, seed)
    return result | {"worst_domain": worst_domain(result["metrics"]), "ppe": None, "notes": bench.notes(items),
                     "position_bias": judged.position_bias(decisions), "outcomes": o}


def worst_domain(metrics: dict) -> str | None:
    domains = {k[len("domain/"):]: v for k, v in metrics.items() if k.startswith("domain/")}
    return min(domains, key=domains.get) if domains else None


def evaluate_outcomes(bench: Benchmark, o: Outcomes, iters: int = 1000, seed: int = 0) -> dict:
    """Metrics and CIs from outcomes; on its own for outcomes computed elsewhere (an LLM judge's
    decisions), which have no scores and so no PPE metrics."""
    point = full_metrics(bench, o)

    def metrics(idx):
        return full_metrics(bench, subset_outcomes(o, idx))
    ci = intervals(metrics, len(o.ids), o.groups, iters, seed) if iters else {}
    return {"benchmark": bench.name, "n_items": len(o.ids), "metrics": point, "ci": {k: ci.get(k) for k in point}}


def json_safe(result: dict) -> dict:
    """The JSON-safe part of an evaluate() result."""
    return {k: v for k, v in result.items() if k != "outcomes"}
