"""JudgeBench (ScalerLab/JudgeBench): pairs of responses to hard questions, labelled `A>B` or `B>A`.

RMs are scored in one order (the official `--single_game`): the decision is A>B when
score(A) > score(B), else B>A, exactly as the official code writes RM judgments (`'A>B' if s1 > s2
else 'B>A'`), so a tie counts as B>A; accuracy is the share of decisions equal to the label.
Order-sensitive judges (an RM's `swapped` scores, or an LLM judge's written decisions, `bench
score judgebench --decisions`) are scored in both orders: the second game (B shown first) is flipped
back, each decision adds +1 when it equals the label and -1 when it equals the flipped label,
and a pair is correct when the sum is positive. The official overall is the micro average over
pairs (`score`); Skywork-Reward-V2 reports the macro average over the four source groups
(`macro_source`).
"""
from __future__ import annotations

import numpy as np

from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.fields import prompt_of, required_field
from rlhf_eval.bench.items import Item, Outcomes, group_means, outcomes
from rlhf_eval.data.pairs import DataError
from rlhf_eval.rm.judge_answers import unswap

ID_FIELD = "pair_id"
HUB = ("ScalerLab/JudgeBench", "claude")
GROUPS = ("mmlu-pro", "livebench-reasoning", "livebench-math", "livecodebench")
LABELS = ("A>B", "B>A")


def source_group(source: str) -> str:
    return next((g for g in GROUPS if source.startswith(g)), source)


def to_item(row: dict, i: int, where: str) -> Item:
    label = required_field(row, "label", where, i, str)
    if label not in LABELS:
        raise DataError(f"{where}: row {i}: field 'label': expected A>B or B>A, got {label!r}")
    better = 0 if label == "A>B" else 1
    return Item(str(required_field(row, ID_FIELD, where, i)), prompt_of(row, "question", where, i),
                [required_field(row, "response_A", where, i, str), required_field(row, "response_B", where, i, str)],
                source_group(required_field(row, "source", where, i, str)), {"label": label},
                correct=[int(better == 0), int(better == 1)], pairs=[(better, 1 - better)])


def decision(score_a: float, score_b: float) -> str:
    """The official RM judgment: a tie is B>A (right when the label is B>A)."""
    return "A>B" if score_a > score_b else "B>A"


def pair_correct(label: str, game1: str, game2_flipped: str | None = None) -> float:
    """One order: decision == label. Both orders: +1 per decision equal to the label, -1 per
    decision equal to the flipped label (a tie or abstention adds 0), correct when positive."""
    if game2_flipped is None:
        return float(game1 == label)
    flipped = "B>A" if label == "A>B" else "A>B"
    total = sum(+1 if d == label else -1 if d == flipped else 0 for d in (game1, game2_flipped))
    return float(total > 0)


def item_outcomes(items: list[Item], scores: list[list[float]], swapped: list | None = None) -> Outcomes:
    """`swapped[k]`, when given, holds the second game's scores [B, A] (B shown first)."""
    rows = []
    for k, (it, s) in enumerate(zip(items, scores)):
        second = None
        if swapped is not None and swapped[k] is not None:
            b_first, a_second = swapped[k]
            second = decision(a_second, b_first)
        rows.append((it.id, it.group, {"correct": pair_correct(it.meta["label"], decision(s[0], s[1]), second)}))
    return outcomes(rows)


def decision_outcomes(items: list[Item], decisions: list[list]) -> Outcomes:
    """An LLM judge's decisions as it wrote them, one list per item: [game 1] or [game 1, game 2],
    game 2 with the responses swapped (so its decision is flipped back before counting); null or
    any other string (A=B, unparsed) counts 0, as in the official metric."""
    flip = {"A>B": "B>A", "B>A": "A>B"}
    rows = []
    for it, d in zip(items, decisions):
        second = flip.get(d[1], "none") if len(d) > 1 else None
        rows.append((it.id, it.group, {"correct": pair_correct(it.meta["label"], d[0] or "none", second)}))
    return outcomes(rows)


def judge_pairs(item: Item) -> list[tuple[int, int]]:
    return [(0, 1)]  # game 1 shows A first, as the official one does


def as_written(decisions: list[list[tuple]]) -> list[list]:
    """A pairwise judge's two games on (A, B) in the `--decisions` format: game 2 (B shown first)
    as the judge wrote it."""
    return [[first, unswap(second)] for (first, second), in decisions]


def judged_outcomes(items: list[Item], decisions: list[list[tuple]]) -> Outcomes:
    """Through the `--decisions` path: the official two games."""
    return decision_outcomes(items, as_written(decisions))


def aggregate(o: Outcomes) -> dict[str, float]:
    correct = o.values[:, o.col("correct")]
    groups = group_means(correct, o.groups)
    return ({"score": float(correct.mean()), "macro_source": float(np.mean(list(groups.values())))}
            | {f"domain/{g}": v for g, v in groups.items()})


BENCHMARK = Benchmark("judgebench", ID_FIELD, HUB, to_item, item_outcomes, aggregate,
                      "[response_A, response_B]; id = pair_id", judged_outcomes=judged_outcomes,
                      judge_pairs=judge_pairs, responses=350 * 2)
