"""Benchmark name -> loader and scorer.

Every benchmark loads from its hub id on a machine with network, or from a local file in the
published schema (`data:` in the recipe, `--data` on the command line). Toy benchmarks come from
the built toy world and score with the real benchmark's rules.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Callable

from rlhf_eval.bench import generic, judgebench, ppe_sets, rewardbench, rewardbench2, rmb, rmbench
from rlhf_eval.bench.items import Item, Outcomes
from rlhf_eval.data.pairs import DataError, read_source
from rlhf_eval.errors import UserError


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
    notes: Callable[[list[Item]], list[str]] = lambda items: []


def _from(name: str, mod: ModuleType, order: str, to_item=None, takes_columns=False) -> Benchmark:
    return Benchmark(name, mod.ID_FIELD, mod.HUB, to_item or mod.to_item, mod.item_outcomes, mod.aggregate,
                     order, takes_columns, getattr(mod, "notes", lambda items: []))


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    _from("rewardbench", rewardbench, "[chosen, rejected]"),
    _from("rewardbench2", rewardbench2, "chosen then rejected, in list order"),
    _from("rm-bench", rmbench, "chosen[0..2] then rejected[0..2]"),
    _from("judgebench", judgebench, "[response_A, response_B]; id = pair_id"),
    _from("rmb-bon", rmb, "[bon_best, losers in order]; id = bon_uid"),
    replace(_from("rmb-pairwise", rmb, "[chosen, reject]; id = pair_uid", rmb.pairwise_item),
            id_field=rmb.PAIR_ID_FIELD),
    Benchmark("ppe-preference", ppe_sets.ID_FIELD, ppe_sets.PREFERENCE_HUB, ppe_sets.preference_item,
              ppe_sets.preference_outcomes, ppe_sets.preference_aggregate, "[response_1, response_2]; id = question_id"),
    Benchmark("ppe-correctness", ppe_sets.ID_FIELD, [(h, "train") for h in ppe_sets.CORRECTNESS_HUB.values()],
              ppe_sets.correctness_item, ppe_sets.correctness_outcomes, ppe_sets.correctness_aggregate,
              "[response_1 .. response_K]; id = <sub-benchmark>/question_id (the plain id where unique)"),
    _from("pairwise", generic, "[chosen, rejected]", generic.pairwise_item, takes_columns=True),
    _from("best-of-k", generic, "[chosen, rejected in list order]", generic.best_of_k_item, takes_columns=True),
]}
# Toy-world benchmarks and the real format each one follows.
TOY = {"toy_rewardbench": "rewardbench", "toy_rewardbench2": "rewardbench2", "toy_rmbench": "rm-bench",
       # Built only with toy_world.study: one axis of the planted truth each.
       "toy_correct": "pairwise", "toy_marker": "pairwise"}


def kind_of(name: str, kind: str | None = None) -> Benchmark:
    key = kind or TOY.get(name, name)
    if key not in BENCHMARKS:
        import difflib
        close = difflib.get_close_matches(key, list(BENCHMARKS) + list(TOY), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(f"unknown benchmark '{key}'{hint} (registered: {', '.join(list(BENCHMARKS) + list(TOY))})")
    return BENCHMARKS[key]


def data_location(name: str, bench: Benchmark, data: str | None, split: str | None,
                  toy: dict | None) -> list[tuple[str, str]]:
    """[(path or hf:<id>, split)] a benchmark's rows come from."""
    if data:
        default = bench.hub[1] if isinstance(bench.hub, tuple) else "train"
        return [(data, split or default)]
    if name in TOY:
        if toy is None or name not in toy.get("benchmarks", {}):
            raise UserError(f"benchmark '{name}' lives in the toy world, which this recipe does not build")
        return [(toy["benchmarks"][name], "train")]
    if bench.hub is None:
        raise UserError(f"benchmark '{name}' has no hub copy: give its rows as a local file (data: / --data)")
    hubs = bench.hub if isinstance(bench.hub, list) else [bench.hub]
    return [(f"hf:{hub_id}", split or hub_split) for hub_id, hub_split in hubs]


def load_items(name: str, toy: dict | None = None, kind: str | None = None, data: str | None = None,
               split: str | None = None, columns: dict | None = None) -> tuple[Benchmark, list[Item], str]:
    bench = kind_of(name, kind)
    sources = data_location(name, bench, data, split, toy)
    extra = {"columns": columns or {}} if bench.takes_columns else {}
    items, seen = [], {}
    for where, source_split in sources:
        if not where.startswith("hf:") and not Path(where).is_file():
            raise DataError(f"{where}: benchmark file does not exist")
        rows = read_source(where, source_split)
        if not rows:
            raise DataError(f"{where}: no rows")
        for i, row in enumerate(rows, 1):
            if not isinstance(row, dict):
                raise DataError(f"{where}: row {i}: expected an object")
            item = bench.to_item(row, i, where, **extra)
            if item.id in seen:
                raise DataError(f"{where}: row {i}: field '{bench.id_field}': id {item.id!r} repeats "
                                f"{seen[item.id]}")
            seen[item.id] = f"row {i}" if len(sources) == 1 else f"{where} row {i}"
            items.append(item)
    return bench, items, ",".join(w for w, _ in sources)


def benchmark_prompts(name: str, toy: dict | None) -> list[tuple[str, object]]:
    """(item id, prompt) of every item, for decontamination."""
    _, items, _ = load_items(name, toy)
    return [(it.id, it.prompt) for it in items]
