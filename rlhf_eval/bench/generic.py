"""Generic benchmarks over any dataset, given a column mapping in the recipe.

- `pairwise`: one chosen and one rejected response; correct when score(chosen) > score(rejected).
- `best-of-k`: one chosen and a list of rejected responses; correct when the chosen scores above
  every rejected one (the strict rule RMB uses).
Contract fields: id (default: the row number), prompt, chosen, rejected, group (default: "all").
"""
from __future__ import annotations

from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.fields import prompt_of, required_field
from rlhf_eval.bench.items import Item, Outcomes, group_means, outcomes, strictly_best
from rlhf_eval.bench.judged import beats, win_value
from rlhf_eval.data.pairs import DataError

ID_FIELD = "id"
HUB = None
FIELDS = ("id", "prompt", "chosen", "rejected", "group")


def _item(row, i, where, columns, best_of_k: bool) -> Item:
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise DataError(f"{where}: columns: unknown contract field(s) {unknown}; valid: {', '.join(FIELDS)}")
    col = {f: columns.get(f, f) for f in FIELDS}  # errors name the file's own column
    prompt = prompt_of(row, col["prompt"], where, i)
    chosen = required_field(row, col["chosen"], where, i, str)
    rejected = (required_field(row, col["rejected"], where, i, list) if best_of_k
                else [required_field(row, col["rejected"], where, i, str)])
    item_id = str(row[col["id"]]) if row.get(col["id"]) is not None else str(i)
    group = str(row[col["group"]]) if row.get(col["group"]) is not None else "all"
    return Item(item_id, prompt, [chosen] + rejected, group,
                correct=[1] + [0] * len(rejected), pairs=[(0, k) for k in range(1, len(rejected) + 1)])


def pairwise_item(row: dict, i: int, where: str, columns: dict | None = None) -> Item:
    return _item(row, i, where, columns, best_of_k=False)


def best_of_k_item(row: dict, i: int, where: str, columns: dict | None = None) -> Item:
    return _item(row, i, where, columns, best_of_k=True)


def item_outcomes(items: list[Item], scores: list[list[float]]) -> Outcomes:
    return outcomes([(it.id, it.group, {"correct": strictly_best(s, 0)}) for it, s in zip(items, scores)])


def judged_pairwise(items: list[Item], decisions: list[list[tuple]]) -> Outcomes:
    return outcomes([(it.id, it.group, {"correct": win_value(d[0])}) for it, d in zip(items, decisions)])


def judged_best_of_k(items: list[Item], decisions: list[list[tuple]]) -> Outcomes:
    """Correct when the chosen beats every rejected (`beats`, both orders), as RMB's best-of-N."""
    return outcomes([(it.id, it.group, {"correct": float(all(beats(g) for g in d))})
                     for it, d in zip(items, decisions)])


def aggregate(o: Outcomes) -> dict[str, float]:
    correct = o.values[:, o.col("correct")]
    return {"score": float(correct.mean())} | {f"domain/{g}": v for g, v in group_means(correct, o.groups).items()}


PAIRWISE = Benchmark("pairwise", ID_FIELD, HUB, pairwise_item, item_outcomes, aggregate, "[chosen, rejected]",
                     takes_columns=True, judged_outcomes=judged_pairwise)
BEST_OF_K = Benchmark("best-of-k", ID_FIELD, HUB, best_of_k_item, item_outcomes, aggregate,
                      "[chosen, rejected in list order]", takes_columns=True,
                      judged_outcomes=judged_best_of_k)
