"""Curation steps. Each takes pairs and returns (kept, removed); a removed row carries its
`reason`, so the funnel counts every removal by step, reason and source. Steps that change rows
without removing them (recycling) record that in the row's meta and in `events`."""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from rlhf_eval.curate import decide, features
from rlhf_eval.curate.ngrams import NgramIndex
from rlhf_eval.errors import UserError


def evidence(pairs: list[dict], wanted: set[str], index: NgramIndex | None = None,
             near: tuple | None = None, threads: int = 1) -> dict:
    """What decide.py needs for the `wanted` data steps, computed in this process: duplicate
    groups, MinHash band groups, the benchmark ids each row matches, word counts."""
    feats = features.local_features(pairs, wanted, index, near, threads)
    out = {}
    if "dedup" in feats:
        out["dedup"] = decide.groups_of(feats["dedup"])
    if "near_dedup" in feats:
        out["near_dedup"] = decide.band_groups(feats["near_dedup"])
    if "decontaminate" in feats:
        out["decontaminate"] = feats["decontaminate"]
    if "filter" in feats:
        out["filter"] = feats["filter"]
    return out


@dataclass(frozen=True)
class DataSettings:
    """The data steps' settings: near_dedup (threshold, num_perm, shingle, MinHash kind), the
    decontamination index, filter (min_tokens, max_tokens, drop_ties)."""
    near: tuple[float, int, int, str] = (0.9, 128, 3, "numpy")
    index: NgramIndex | None = None
    filter: tuple[int, int | None, bool] = (1, None, False)


def data_steps(pairs: list[dict], names: list[str], settings: DataSettings, compute=evidence):
    """Run consecutive data steps, yielding (step, kept pairs, removed rows with their reason).
    Features are computed once for every input row by `compute` (this process, or Ray Data)."""
    ev = compute(pairs, set(names), settings.index, settings.near)
    alive = np.ones(len(pairs), bool)
    for name in names:
        if name == "dedup":
            gone = decide.dedup(alive, ev["dedup"])
            extra = [{"reason": "duplicate"} for _ in gone]
        elif name == "near_dedup":
            gone, of = decide.near_dedup(alive, ev["near_dedup"])
            order = np.argsort(gone)
            gone, of = gone[order], of[order]
            extra = [{"reason": "near_duplicate", "near_duplicate_of": pairs[j]["id"]} for j in of.tolist()]
        elif name == "decontaminate":
            gone = decide.decontaminate(alive, np.fromiter(ev["decontaminate"], np.int64, len(ev["decontaminate"])))
            extra = [{"reason": "contaminated", "matched": ev["decontaminate"][row]} for row in gone.tolist()]
        elif name == "filter":
            lo, hi, ties = settings.filter
            margins = np.array([np.nan if p.get("margin") is None else p["margin"] for p in pairs], float)
            codes = decide.filter_codes(ev["filter"], margins, lo, hi, ties)
            gone = decide.length_and_ties(alive, codes)
            extra = [{"reason": decide.FILTER_REASONS[c - 1]} for c in codes[gone].tolist()]
        else:
            raise ValueError(name)
        alive[gone] = False
        yield name, [pairs[i] for i in np.flatnonzero(alive).tolist()], \
            [pairs[i] | x for i, x in zip(gone.tolist(), extra)]


def _one(pairs, name, settings):
    (_, kept, removed), = data_steps(pairs, [name], settings)
    return kept, removed


def exact_dedup(pairs: list[dict]) -> tuple[list[dict], list[dict]]:
    """Keep the first of rows equal on (history, chosen, rejected), case and whitespace folded."""
    return _one(pairs, "dedup", DataSettings())


def near_dedup(pairs: list[dict], threshold: float = 0.9, num_perm: int = 128,
               shingle: int = 3, minhash: str = "numpy") -> tuple[list[dict], list[dict]]:
    """MinHash LSH over word shingles of the whole pair, within and across sources: a pair sharing
    an LSH band with an earlier kept pair (estimated Jaccard similarity about `threshold` or
    more) is dropped. `minhash`: "numpy" (vectorised) or "datasketch" (curate/minhash.py)."""
    return _one(pairs, "near_dedup", DataSettings(near=(threshold, num_perm, shingle, minhash)))


def decontaminate(pairs: list[dict], index: NgramIndex) -> tuple[list[dict], list[dict]]:
    """Drop pairs sharing an n-gram with a benchmark prompt (prompt, chosen or rejected), or
    whose prompt equals a benchmark prompt shorter than n; records the benchmark ids matched."""
    return _one(pairs, "decontaminate", DataSettings(index=index))


def length_and_ties(pairs: list[dict], min_tokens: int, max_tokens: int | None,
                    drop_ties: bool) -> tuple[list[dict], list[dict]]:
    return _one(pairs, "filter", DataSettings(filter=(min_tokens, max_tokens, drop_ties)))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def judge_margins(scorer, pairs: list[dict]) -> list[float]:
    """r_chosen - r_rejected under the judge, one per pair."""
    prompts = [p["prompt"] for p in pairs]
    rc = scorer.score(prompts, [p["chosen"] for p in pairs])
    rr = scorer.score(prompts, [p["rejected"] for p in pairs])
    return [a - b for a, b in zip(rc, rr)]


def consistency(pairs: list[dict], scorer, threshold: float,
                recycle_above: float | None) -> tuple[list[dict], list[dict], int]:
    """Keep pairs the judge agrees with (p = sigmoid(r_chosen - r_rejected) >= threshold);
    with recycle_above, swap pairs the judge contradicts with p <= 1 - recycle_above.
    Returns (kept, dropped, number recycled); each kept row's meta holds judge_margin."""
    kept, dropped, recycled = [], [], 0
    for p, margin in zip(pairs, judge_margins(scorer, pairs)):
        prob = sigmoid(margin)
        if prob >= threshold:
            kept.append(p | {"meta": p["meta"] | {"judge_margin": margin}})
        elif recycle_above is not None and prob <= 1 - recycle_above:
            recycled += 1
            kept.append(p | {"chosen": p["rejected"], "rejected": p["chosen"],
                             "meta": p["meta"] | {"judge_margin": -margin, "recycled": True}})
        else:
            dropped.append(p | {"reason": "judge_disagrees", "judge_p": prob})
    return kept, dropped, recycled


def select_top(pairs: list[dict], by: str, fraction: float, per_source: dict, offsets: dict,
               category_column: str | None) -> tuple[list[dict], list[dict]]:
    """Skywork-Reward v1 style: per category, keep the top fraction by score + per-source
    offset; a source named in `per_source` keeps at most that fraction of its rows per category."""
    def score(p):
        value = p.get(by, p["meta"].get(by))
        if value is None:
            raise UserError(f"select: pair {p['id']} has no '{by}' (run the consistency step first, "
                             "or name a numeric column)")
        return float(value) + float(offsets.get(p["source"], 0.0))

    groups = defaultdict(list)
    for p in pairs:
        groups[p["meta"].get(category_column) if category_column else None].append(p)
    keep_ids = set()
    for rows in groups.values():
        by_src = defaultdict(list)
        for r in rows:
            by_src[r["source"]].append(r)
        capped = []
        for src, src_rows in sorted(by_src.items()):
            ranked = sorted(src_rows, key=score, reverse=True)
            cap = per_source.get(src)
            capped += ranked if cap is None else ranked[: math.ceil(cap * len(ranked))]
        ranked = sorted(capped, key=score, reverse=True)
        keep_ids.update(id(r) for r in ranked[: math.ceil(fraction * len(rows))])
    kept = [p for p in pairs if id(p) in keep_ids]
    dropped = [p | {"reason": "not_selected"} for p in pairs if id(p) not in keep_ids]
    return kept, dropped


def by_source(rows: list[dict]) -> dict[str, int]:
    return dict(Counter(r["source"] for r in rows))
