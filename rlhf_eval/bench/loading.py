"""Loading a benchmark's items: from its hub id, a local file in the published schema, or the toy
world (the benchmarks themselves are registered in rlhf_eval.bench.BENCHMARKS).

Every benchmark loads from its hub id on a machine with network, or from a local file in the
published schema (`data:` in the recipe, `--data` on the command line). Toy benchmarks come from
the built toy world and score with the real benchmark's rules.
"""
from __future__ import annotations

from pathlib import Path

from rlhf_eval.bench import TOY, benchmark_for
from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.items import Item
from rlhf_eval.data.pairs import DataError, read_source
from rlhf_eval.errors import UserError


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


def load_items(name: str, toy: dict | None = None, scored_as: str | None = None, data: str | None = None,
               split: str | None = None, columns: dict | None = None) -> tuple[Benchmark, list[Item], str]:
    bench = benchmark_for(name, scored_as)
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
