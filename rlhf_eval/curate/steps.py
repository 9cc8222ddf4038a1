"""Curation steps. Each takes pairs and returns (kept, removed); a removed row carries its
`reason`, so the funnel counts every removal by step, reason and source. Steps that change rows
without removing them (recycling) record that in the row's meta and in `events`."""
from __future__ import annotations

import math
from collections import Counter, defaultdict

from rlhf_eval.curate.ngrams import NgramIndex, fold
from rlhf_eval.data.pairs import prompt_text
from rlhf_eval.errors import UserError

BATCH = 1024


def dedup_key(pair: dict) -> int:
    """(history, chosen, rejected), case- and whitespace-folded, as a 64-bit hash: a set of
    these holds a million pairs in tens of MB. Only compared within one process."""
    prompt = pair["prompt"]
    history = fold(prompt) if isinstance(prompt, str) else tuple(
        (m["role"], fold(m["content"])) for m in prompt)
    return hash((history, fold(pair["chosen"]), fold(pair["rejected"])))


def exact_dedup(pairs: list[dict]) -> tuple[list[dict], list[dict]]:
    """Keep the first of rows equal on (history, chosen, rejected)."""
    seen: set[int] = set()
    kept, dropped = [], []
    for p in pairs:
        key = dedup_key(p)
        if key in seen:
            dropped.append(p | {"reason": "duplicate"})
        else:
            seen.add(key)
            kept.append(p)
    return kept, dropped


def near_dedup(pairs: list[dict], threshold: float = 0.9, num_perm: int = 128,
               shingle: int = 3) -> tuple[list[dict], list[dict]]:
    """MinHash LSH over word shingles of the whole pair, within and across sources: a pair whose
    estimated Jaccard similarity to an earlier kept pair is above `threshold` is dropped."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept, dropped = [], []
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start:start + BATCH]
        shingles = []
        for p in batch:
            toks = fold(" | ".join([prompt_text(p["prompt"]), p["chosen"], p["rejected"]])).split()
            grams = {" ".join(toks[i:i + shingle]) for i in range(max(1, len(toks) - shingle + 1))}
            shingles.append([g.encode() for g in grams])
        for p, m in zip(batch, MinHash.bulk(shingles, num_perm=num_perm)):
            # LSH keys are positions in `kept`: ids need not be unique across sources
            close = lsh.query(m)
            if close:
                first = kept[min(int(k) for k in close)]
                dropped.append(p | {"reason": "near_duplicate", "near_duplicate_of": first["id"]})
            else:
                lsh.insert(str(len(kept)), m)
                kept.append(p)
    return kept, dropped


def decontaminate(pairs: list[dict], index: NgramIndex) -> tuple[list[dict], list[dict]]:
    """Drop pairs sharing an n-gram with a benchmark prompt (prompt, chosen or rejected), or
    whose prompt equals a benchmark prompt shorter than n; records the benchmark ids matched."""
    kept, dropped = [], []
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start:start + BATCH]
        texts = [t for p in batch for t in (prompt_text(p["prompt"]), p["chosen"], p["rejected"])]
        prompts = [t if i % 3 == 0 else "" for i, t in enumerate(texts)]
        hits = index.match_batch(texts, prompts)
        for j, p in enumerate(batch):
            matched = hits[3 * j] | hits[3 * j + 1] | hits[3 * j + 2]
            if matched:
                dropped.append(p | {"reason": "contaminated", "matched": sorted(matched)})
            else:
                kept.append(p)
    return kept, dropped


def length_and_ties(pairs: list[dict], min_tokens: int, max_tokens: int | None,
                    drop_ties: bool) -> tuple[list[dict], list[dict]]:
    kept, dropped = [], []
    for p in pairs:
        lengths = (len(p["chosen"].split()), len(p["rejected"].split()))
        if min(lengths) < min_tokens:
            dropped.append(p | {"reason": "too_short"})
        elif max_tokens is not None and max(lengths) > max_tokens:
            dropped.append(p | {"reason": "too_long"})
        elif drop_ties and p.get("margin") == 0:
            dropped.append(p | {"reason": "tie"})
        else:
            kept.append(p)
    return kept, dropped


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
