"""Saved scores: one JSON row per benchmark item, `{"id": ..., "scores": [...]}`, the scores in
the benchmark's published candidate order. JudgeBench rows may add `"swapped": [B, A]`, the
scores of the second game (B shown first) of an order-sensitive judge."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from rlhf_eval.bench.items import Item
from rlhf_eval.data.pairs import DataError, json_lines


def _id_rows(path: Path):
    """(row number, id, row) of a JSON-lines file whose rows are objects with a distinct `id`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    seen = set()
    for i, row in json_lines(path):
        if not isinstance(row, dict) or "id" not in row:
            raise DataError(f"{path}: row {i}: field 'id' missing")
        key = str(row["id"])
        if key in seen:
            raise DataError(f"{path}: row {i}: field 'id': {key!r} appears twice")
        seen.add(key)
        yield i, key, row


def read_scores(path: Path, items: list[Item]) -> tuple[list[list[float]], list | None]:
    path = Path(path)
    by_id, swapped = {}, {}
    for i, key, row in _id_rows(path):
        for field in ("scores", "swapped") if "swapped" in row else ("scores",):
            s = row.get(field)
            if not isinstance(s, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in s):
                raise DataError(f"{path}: row {i}: field '{field}': expected a list of numbers")
        by_id[key] = [float(v) for v in row["scores"]]
        if "swapped" in row:
            swapped[key] = [float(v) for v in row["swapped"]]
    keys = match_rows(path, items, by_id, "scores", "score")
    return ([by_id[k] for k in keys], [swapped.get(k) for k in keys] if swapped else None)


def match_rows(path: Path, items: list[Item], by_id: dict, what: str, row: str) -> list[str]:
    """The row id for each item, in item order: its own id, or the id the benchmark file gave it
    when that is unique in the file (RM-Bench items are keyed domain/id, as ids repeat across
    domains). Items without a row, and rows without an item, are errors that count and name them."""
    raw_count = Counter(it.meta.get("raw_id") for it in items)

    def key(item: Item) -> str | None:
        if item.id in by_id:
            return item.id
        raw = item.meta.get("raw_id")
        return raw if raw is not None and raw in by_id and raw_count[raw] == 1 else None
    keys = [key(it) for it in items]
    missing = [it.id for it, k in zip(items, keys) if k is None]
    if missing:
        raise DataError(f"{path}: {len(missing)} of {len(items)} benchmark items have no {what} "
                        f"(e.g. {', '.join(missing[:3])})")
    extra = sorted(set(by_id) - set(keys))
    if extra:
        raise DataError(f"{path}: {len(extra)} {row} rows match no benchmark item (e.g. {', '.join(extra[:3])}); "
                        "is this the right benchmark file?")
    return keys


def write_scores(path: Path, items: list[Item], scores: list[list[float]]) -> None:
    from rlhf_eval import store
    store.write_jsonl(Path(path), [{"id": it.id, "scores": s} for it, s in zip(items, scores)])


def read_decisions(path: Path, items: list[Item]) -> list[list]:
    """An LLM judge's decisions: one JSON row per item, `{"id": pair_id, "decisions": ["A>B", "B>A"]}`
    (one or two games, the second with the responses swapped; null where the judge gave none)."""
    path = Path(path)
    by_id = {}
    for i, key, row in _id_rows(path):
        d = row.get("decisions")
        if not (isinstance(d, list) and 1 <= len(d) <= 2 and all(x is None or isinstance(x, str) for x in d)):
            raise DataError(f"{path}: row {i}: field 'decisions': expected one or two decisions "
                            '(strings such as "A>B", or null)')
        by_id[key] = d
    return [by_id[k] for k in match_rows(path, items, by_id, "decisions", "decision")]


def write_decisions(path: Path, items: list[Item], pairs_of, decisions: list[list[tuple]]) -> None:
    """A pairwise judge's games per item: `pairs` (candidate indices, first shown first in game 1),
    `games` ([game 1, game 2 read back onto the pair] per pair) and `decisions`, the first pair's two
    games as the judge wrote them (game 2 shows the second response first), which is the format
    `bench score judgebench --decisions` reads."""
    from rlhf_eval import store
    from rlhf_eval.rm.judge_answers import unswap
    store.write_jsonl(Path(path), [
        {"id": it.id, "pairs": [list(p) for p in pairs_of(it)], "games": [list(g) for g in d],
         "decisions": [d[0][0], unswap(d[0][1])]} for it, d in zip(items, decisions)])
