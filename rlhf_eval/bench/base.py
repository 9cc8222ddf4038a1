"""What a static benchmark is to the rest of the code (a leaf: each benchmark module defines its
Benchmark from its own functions; rlhf_eval.bench.BENCHMARKS names them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rlhf_eval.bench.items import Item, Outcomes


def no_notes(items: list[Item]) -> list[str]:
    return []


def item_pairs(item: Item) -> list[tuple[int, int]]:
    return list(item.pairs)


@dataclass(frozen=True)
class Benchmark:
    name: str
    id_field: str
    # (dataset id, split), or several for a benchmark published as several datasets (PPE correctness)
    hub: tuple[str, str] | list[tuple[str, str]] | None
    to_item: Callable[..., Item]
    item_outcomes: Callable[..., Outcomes]
    aggregate: Callable[[Outcomes], dict[str, float]]
    # The saved-scores order, for error messages and docs.
    candidate_order: str
    takes_columns: bool = False
    # Warnings about the data as loaded (missing sections, subsets left out), shown with the metrics.
    notes: Callable[[list[Item]], list[str]] = no_notes
    # A pairwise judge's decisions -> outcomes (rlhf_eval.bench.judged); None: the benchmark does
    # not score pairwise judges, and `judge_refusal` says why.
    judged_outcomes: Callable[[list[Item], list[list[tuple]]], Outcomes] | None = None
    # The pairs a pairwise judge is asked, per item (each in both orders).
    judge_pairs: Callable[[Item], list[tuple[int, int]]] = item_pairs
    judge_refusal: str = "it has no protocol for pairwise judges here"
    # Responses one RM scores over the released data (plan --cost); None: not counted here, and
    # plan --cost says so and asks for cost.benchmark_responses.<name>.
    responses: int | None = None


@dataclass(frozen=True)
class BenchmarkScores:
    """A static_bench node's result: one RM on one benchmark, with the per-item outcomes that
    compare resamples. Rebuilt from the node's outputs here only."""
    benchmark: str  # the recipe's name for it
    scored_as: str  # the registered benchmark whose rules scored it
    rm: str
    units: str  # units.jsonl: {id, group, <outcome columns>}
    metrics: dict
    rm_seed: int | None = None  # the RM's training seed (None: a checkpoint given as is, or made before seeds)

    @classmethod
    def from_outputs(cls, out: dict) -> BenchmarkScores:
        # "kind" in runs made before the field was renamed.
        return cls(out["benchmark"], out.get("scored_as", out.get("kind")), out["rm"], out["units"], out["metrics"],
                   out.get("rm_seed"))

