"""Saved scores: one JSON row per benchmark item, `{"id": ..., "scores": [...]}`, the scores in
the benchmark's published candidate order. JudgeBench rows may add `"swapped": [B, A]`, the
scores of the second game (B shown first) of an order-sensitive judge."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from rlhf_eval.bench.items import Item
from rlhf_eval.data.pairs import DataError


def _id_rows(path: Path):
    """(row number, row) of a JSON-lines file whose rows are objects with an `id`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path) as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: row {i}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "id" not in row:
                raise DataError(f"{path}: row {i}: field 'id' missing")
            yield i, row


def read_scores(path: Path, items: list[Item]) -> tuple[list[list[float]], list | None]:
    path = Path(path)
    by_id, swapped = {}, {}
    for i, row in _id_rows(path):
        for field in ("scores", "swapped") if "swapped" in row else ("scores",):
            s = row.get(field)
            if not isinstance(s, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in s):
                raise DataError(f"{path}: row {i}: field '{field}': expected a list of numbers")
        key = str(row["id"])
        if key in by_id:
            raise DataError(f"{path}: row {i}: field 'id': {key!r} appears twice")
        by_id[key] = [float(v) for v in row["scores"]]
        if "swapped" in row:
            swapped[key] = [float(v) for v in row["swapped"]]
    raw_count = Counter(it.meta.get("raw_id") for it in items)
    keys = {it.id: score_key(it, raw_count, by_id) for it in items}
    missing = [it.id for it in items if keys[it.id] is None]
    if missing:
        raise DataError(f"{path}: {len(missing)} of {len(items)} benchmark items have no scores "
                        f"(e.g. {', '.join(missing[:3])})")
    extra = sorted(set(by_id) - set(keys.values()))
    if extra:
        raise DataError(f"{path}: {len(extra)} score rows match no benchmark item (e.g. {', '.join(extra[:3])}); "
                        "is this the right benchmark file?")
    return ([by_id[keys[it.id]] for it in items],
            [swapped.get(keys[it.id]) for it in items] if swapped else None)


def score_key(item: Item, raw_count: Counter, by_id: dict) -> str | None:
    """The score row for `item`: its own id, or the id the benchmark file gave it when that is
    unique in the file (RM-Bench items are keyed domain/id, as ids repeat across domains)."""
    if item.id in by_id:
        return item.id
    raw = item.meta.get("raw_id")
    if raw is not None and raw in by_id and raw_count[raw] == 1:
        return raw
    return None


def write_scores(path: Path, items: list[Item], scores: list[list[float]]) -> None:
    from rlhf_eval import store
    store.write_jsonl(Path(path), [{"id": it.id, "scores": s} for it, s in zip(items, scores)])


def read_decisions(path: Path, items: list[Item]) -> list[list]:
    """An LLM judge's decisions: one JSON row per item, `{"id": pair_id, "decisions": ["A>B", "B>A"]}`
    (one or two games, the second with the responses swapped; null where the judge gave none)."""
    path = Path(path)
    by_id = {}
    for i, row in _id_rows(path):
        d = row.get("decisions")
        if not (isinstance(d, list) and 1 <= len(d) <= 2 and all(x is None or isinstance(x, str) for x in d)):
            raise DataError(f"{path}: row {i}: field 'decisions': expected one or two decisions "
                            '(strings such as "A>B", or null)')
        key = str(row["id"])
        if key in by_id:
            raise DataError(f"{path}: row {i}: field 'id': {key!r} appears twice")
        by_id[key] = d
    missing = [it.id for it in items if it.id not in by_id]
    if missing:
        raise DataError(f"{path}: {len(missing)} of {len(items)} benchmark items have no decisions "
                        f"(e.g. {', '.join(missing[:3])})")
    extra = sorted(set(by_id) - {it.id for it in items})
    if extra:
        raise DataError(f"{path}: {len(extra)} decision rows match no benchmark item (e.g. {', '.join(extra[:3])})")
    return [by_id[it.id] for it in items]
