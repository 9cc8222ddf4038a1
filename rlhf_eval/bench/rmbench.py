"""RM-Bench (THU-KEG/RM-Bench): three chosen and three rejected responses per prompt, in the
styles (concise, detailed plain, detailed markdown). M[i][j] = share of rows where
score(chosen[i]) > score(rejected[j]); hard = mean of the strict upper triangle (a plainer chosen
against a fancier rejected), normal = the diagonal, easy = the strict lower triangle. A domain
scores mean(easy, normal, hard); safety-refuse and safety-response pool into safety; overall =
the mean over the domains present (chat, code, math, safety on the full set).

Ids repeat across the released domain files (chat and code share 23), so an item's id is
`<domain>/<id>`; a saved-scores row may still use the plain id where it is unique.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.fields import prompt_of, required_field
from rlhf_eval.bench.items import Item, Outcomes, group_means, outcomes
from rlhf_eval.bench.judged import win_value
from rlhf_eval.data.pairs import DataError

ID_FIELD = "id"
HUB = ("THU-KEG/RM-Bench", "train")
STYLES = 3
DOMAINS = ("chat", "code", "math", "safety")
UPPER = [(i, j) for i in range(STYLES) for j in range(STYLES) if i < j]
DIAG = [(i, i) for i in range(STYLES)]
LOWER = [(i, j) for i in range(STYLES) for j in range(STYLES) if i > j]


def domain_of(row: dict, where: str, i: int) -> str:
    """The `domain` field, else the file name's prefix (the repo ships chat_filtered.json, ...)."""
    raw = row.get("domain") or Path(where).name.split("_")[0]
    name = "safety" if str(raw).startswith("safety") else str(raw)
    if name not in DOMAINS and not row.get("domain"):
        raise DataError(f"{where}: row {i}: field 'domain' missing and the file name does not name one "
                        f"of {', '.join(DOMAINS)}")
    return name


def to_item(row: dict, i: int, where: str) -> Item:
    chosen = required_field(row, "chosen", where, i, list)
    rejected = required_field(row, "rejected", where, i, list)
    for key, v in (("chosen", chosen), ("rejected", rejected)):
        if len(v) != STYLES:
            raise DataError(f"{where}: row {i}: field '{key}': expected {STYLES} responses, got {len(v)}")
    raw, domain = str(required_field(row, "id", where, i)), domain_of(row, where, i)
    return Item(f"{domain}/{raw}", prompt_of(row, "prompt", where, i), chosen + rejected, domain,
                {"raw_id": raw}, correct=[1] * 3 + [0] * 3, pairs=[(k, 3 + k) for k in range(3)])


def item_outcomes(items: list[Item], scores: list[list[float]]) -> Outcomes:
    rows = []
    for it, s in zip(items, scores):
        c, r = np.asarray(s[:STYLES], float), np.asarray(s[STYLES:], float)
        rows.append((it.id, it.group, {f"m{i}{j}": float(c[i] > r[j]) for i in range(3) for j in range(3)}))
    return outcomes(rows)


def judge_pairs(item: Item) -> list[tuple[int, int]]:
    return [(i, STYLES + j) for i in range(STYLES) for j in range(STYLES)]


def judged_outcomes(items: list[Item], decisions: list[list[tuple]]) -> Outcomes:
    """A pairwise judge: M[i][j] counts chosen[i] against rejected[j] by `win_value`."""
    return outcomes([(it.id, it.group, {f"m{i}{j - STYLES}": win_value(g) for (i, j), g in zip(judge_pairs(it), d)})
                     for it, d in zip(items, decisions)])


def aggregate(o: Outcomes) -> dict[str, float]:
    def level(cells):
        return o.values[:, [o.col(f"m{i}{j}") for i, j in cells]].mean(axis=1)
    levels = {"easy": level(LOWER), "normal": level(DIAG), "hard": level(UPPER)}
    per = {name: group_means(v, o.groups) for name, v in levels.items()}
    domains = sorted(per["normal"])
    out = {f"domain/{d}": float(np.mean([per[k][d] for k in levels])) for d in domains}
    result = {"score": float(np.mean(list(out.values())))}
    for k in levels:
        result[k] = float(np.mean([per[k][d] for d in domains]))
        result |= {f"{k}/{d}": per[k][d] for d in domains}
    return result | out


BENCHMARK = Benchmark("rm-bench", ID_FIELD, HUB, to_item, item_outcomes, aggregate,
                      "chosen[0..2] then rejected[0..2]",
                      judged_outcomes=judged_outcomes, judge_pairs=judge_pairs, responses=1327 * 6)
