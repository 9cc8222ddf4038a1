"""RewardBench 2 (allenai/reward-bench-2): best-of-4 with the tie rule, and the Ties formula.

Non-Ties rows have one chosen and three rejected completions; a row scores 1/k when the chosen
is among the k completions sharing the top score, else 0. Ties rows come as `ref:<pid>` (one
correct answer) and `tied:<pid>` (several); the first `num_correct` completions are correct.
The final score is the plain mean of the six subsets.
"""
from __future__ import annotations

import re

import numpy as np

from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.fields import prompt_of, required_field
from rlhf_eval.bench.items import Item, Outcomes, group_means, outcomes, top_tie_share
from rlhf_eval.data.pairs import DataError

ID_FIELD = "id"
HUB = ("allenai/reward-bench-2", "test")
TIES = "Ties"
TIES_ID = re.compile(r"^(ref|tied):(.+)$")


def to_item(row: dict, i: int, where: str) -> Item:
    chosen = required_field(row, "chosen", where, i, list)
    rejected = required_field(row, "rejected", where, i, list)
    subset = required_field(row, "subset", where, i, str)
    item_id = str(required_field(row, "id", where, i))
    n_correct = int(row.get("num_correct") or len(chosen))
    if n_correct != len(chosen):
        raise DataError(f"{where}: row {i}: field 'num_correct': {n_correct} but {len(chosen)} chosen")
    meta = {}
    if subset == TIES:
        m = TIES_ID.match(item_id)
        if not m:
            raise DataError(f"{where}: row {i}: field 'id': Ties ids are 'ref:<pid>' or 'tied:<pid>', "
                            f"got {item_id!r}")
        meta = {"version": m.group(1), "pid": m.group(2)}
    elif len(chosen) != 1:
        raise DataError(f"{where}: row {i}: field 'chosen': {subset} rows have one chosen completion")
    return Item(item_id, prompt_of(row, "prompt", where, i), list(chosen) + list(rejected), subset, meta,
                correct=[1] * len(chosen) + [0] * len(rejected),
                pairs=[(c, len(chosen) + r) for c in range(len(chosen)) for r in range(len(rejected))])


def _ties_stats(s: np.ndarray, n_correct: int) -> tuple[float, float, float]:
    """(accurate, gap, spread) of one Ties completion set."""
    right, wrong = s[:n_correct], s[n_correct:]
    return float(right.min() > wrong.max()), float(right.min() - wrong.max()), float(right.max() - right.min())


def item_outcomes(items: list[Item], scores: list[list[float]]) -> Outcomes:
    rows, ties = [], {}
    for it, s in zip(items, scores):
        if it.group != TIES:
            rows.append((it.id, it.group, {"best_of_4": top_tie_share(s, 0)}))
        else:
            ties.setdefault(it.meta["pid"], {})[it.meta["version"]] = _ties_stats(np.asarray(s, float),
                                                                                 sum(it.correct))
    # One unit per Ties prompt, so a resample keeps a prompt's ref and tied versions together.
    for pid, v in sorted(ties.items()):
        d = {}
        if "ref" in v:
            d["ties_acc_ref"] = v["ref"][0]
        if "tied" in v:
            d["ties_acc_tied"] = v["tied"][0]
        if "ref" in v and "tied" in v:
            gap_tied, spread = v["tied"][1], v["tied"][2]
            gap = min(v["ref"][1], v["tied"][1])
            d["ties_gap_over_spread"] = float(gap_tied > spread)
            d["ties_min_gap_over_spread"] = float(gap > spread)
            with np.errstate(divide="ignore", invalid="ignore"):
                d["ties_tanh"] = float(np.tanh(gap / spread - 1)) if spread > 0 else float(np.sign(gap))
        rows.append((f"ties:{pid}", TIES, d))
    return outcomes(rows)


def ties_score(o: Outcomes) -> float:
    def mean(col):
        if col not in o.columns:
            return 0.0
        v = o.values[:, o.col(col)]
        v = v[~np.isnan(v)]
        return float(v.mean()) if len(v) else 0.0
    return (0.30 * mean("ties_acc_tied") + 0.30 * mean("ties_acc_ref") + 0.20 * mean("ties_gap_over_spread")
            + 0.20 * mean("ties_min_gap_over_spread") + 0.01 * mean("ties_tanh"))


def aggregate(o: Outcomes) -> dict[str, float]:
    subsets = {}
    if "best_of_4" in o.columns:
        subsets = group_means(o.values[:, o.col("best_of_4")], o.groups)
        subsets.pop(TIES, None)
    if (o.groups == TIES).any():
        subsets[TIES] = ties_score(o)
    return {"score": float(np.mean(list(subsets.values())))} | {f"domain/{k}": v for k, v in subsets.items()}


BENCHMARK = Benchmark("rewardbench2", ID_FIELD, HUB, to_item, item_outcomes, aggregate,
                      "chosen then rejected, in list order",
                      judge_refusal="the official script has generative models rate each completion on its own "
                                    "(Ties always, every subset with --score_w_ratings; its default four-way pick is "
                                    "not implemented here): give it a pointwise judge",
                      responses=1865 * 4)
