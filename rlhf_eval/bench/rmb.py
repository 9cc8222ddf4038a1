"""RMB (Zhou-Zoey/RMB-Reward-Model-Benchmark), its two sets:
- best-of-N (`rmb-bon`): an item is correct only when the RM scores `bon_best` above every
  response in `loser_list`;
- pairwise (`rmb-pairwise`): correct when score(chosen) > score(reject); a tie is wrong, as in
  RMB's own script (`1 if chosen > rejected else 0`).

`category_path` is `<set>/<goal>/<scenario...>`, e.g. `BoN_set/Helpfulness/Code/Documentation` or
`Pairwise_set/Harmlessness/S5`. Accuracy is reported per goal (`domain/<goal>`, pooled over the
goal's items, as RMB's script scores a goal's files together) and per scenario
(`scenario/<goal>/<scenario>`). A set's `score` is the mean over its goals; RMB's overall number is
the mean of its four goal x set accuracies (bench/summary.py, when both sets are scored).
"""
from __future__ import annotations

import numpy as np

from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.fields import required_field
from rlhf_eval.bench.items import Item, Outcomes, column_means, group_means, outcomes, strictly_best
from rlhf_eval.bench.judged import beats, win_value
from rlhf_eval.data.pairs import DataError

ID_FIELD = "bon_uid"
PAIR_ID_FIELD = "pair_uid"
HUB = None  # published as JSON files in the GitHub repository, not on the hub
SETS = ("BoN_set", "Pairwise_set")


def _answer(entry, where: str, i: int, key: str) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("answer"), str):
        raise DataError(f"{where}: row {i}: field '{key}': expected {{llm_name, answer}}")
    return entry["answer"]


def goal_and_scenario(path: str) -> tuple[str, str]:
    """`BoN_set/Helpfulness/Code/Documentation` -> (Helpfulness, Code/Documentation)."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in SETS:
        parts = parts[1:]
    if not parts:
        return "unknown", "unknown"
    return parts[0], "/".join(parts[1:]) or "unknown"


def _conversation(row: dict, where: str, i: int) -> list[dict]:
    conv = required_field(row, "conversation_input", where, i)
    if not (isinstance(conv, list) and conv and all(isinstance(m, dict) and "role" in m and "content" in m
                                                    for m in conv)):
        raise DataError(f"{where}: row {i}: field 'conversation_input': expected chat messages")
    return [{"role": m["role"], "content": m["content"]} for m in conv]


def _item(uid: str, row: dict, i: int, where: str, candidates: list[str]) -> Item:
    path = str(row.get("category_path") or "unknown")
    goal, scenario = goal_and_scenario(path)
    return Item(uid, _conversation(row, where, i), candidates, goal,
                {"category_path": path, "scenario": f"{goal}/{scenario}"}, correct=[1] + [0] * (len(candidates) - 1),
                pairs=[(0, k) for k in range(1, len(candidates))])


def to_item(row: dict, i: int, where: str) -> Item:
    """A best-of-N row: candidates [bon_best, losers in order]."""
    losers = required_field(row, "loser_list", where, i)
    if not isinstance(losers, list) or not losers:
        raise DataError(f"{where}: row {i}: field 'loser_list': expected a non-empty list")
    best = _answer(required_field(row, "bon_best", where, i), where, i, "bon_best")
    return _item(str(required_field(row, ID_FIELD, where, i)), row, i, where,
                 [best] + [_answer(x, where, i, "loser_list") for x in losers])


def pairwise_item(row: dict, i: int, where: str) -> Item:
    """A pairwise row: candidates [chosen, reject]."""
    chosen = _answer(required_field(row, "chosen", where, i), where, i, "chosen")
    reject = _answer(required_field(row, "reject", where, i), where, i, "reject")
    return _item(str(required_field(row, PAIR_ID_FIELD, where, i)), row, i, where, [chosen, reject])


def item_outcomes(items: list[Item], scores: list[list[float]]) -> Outcomes:
    """One column for every item, and one per scenario (NaN outside it)."""
    rows = []
    for it, s in zip(items, scores):
        right = strictly_best(s, 0)
        rows.append((it.id, it.group, {"correct": right, f"scenario/{it.meta['scenario']}": right}))
    return outcomes(rows)


def judged_best_of_n(items: list[Item], decisions: list[list[tuple]]) -> Outcomes:
    """A pairwise judge: correct when the best beats every loser (`beats`, both orders)."""
    return _judged(items, [float(all(beats(g) for g in d)) for d in decisions])


def judged_pairwise(items: list[Item], decisions: list[list[tuple]]) -> Outcomes:
    return _judged(items, [win_value(d[0]) for d in decisions])


def _judged(items: list[Item], right: list[float]) -> Outcomes:
    return outcomes([(it.id, it.group, {"correct": r, f"scenario/{it.meta['scenario']}": r})
                     for it, r in zip(items, right)])


def aggregate(o: Outcomes) -> dict[str, float]:
    goals = group_means(o.values[:, o.col("correct")], o.groups)
    return ({"score": float(np.mean(list(goals.values())))} | {f"domain/{g}": v for g, v in goals.items()}
            | column_means(o, "scenario/"))


BEST_OF_N = Benchmark("rmb-bon", ID_FIELD, HUB, to_item, item_outcomes, aggregate,
                      "[bon_best, losers in order]; id = bon_uid", judged_outcomes=judged_best_of_n, responses=3786 * 4)
PAIRWISE = Benchmark("rmb-pairwise", PAIR_ID_FIELD, HUB, pairwise_item, item_outcomes, aggregate,
                     "[chosen, reject]; id = pair_uid", judged_outcomes=judged_pairwise)
