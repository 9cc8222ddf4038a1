"""What the data steps (dedup, near_dedup, decontaminate, filter) need to know about each row,
computed batch by batch from that row alone: in this process (`curate.engine: local`) or on Ray
Data workers (`ray`). Which rows a step removes depends on order and on what earlier steps
removed, so that is decided afterwards, in one place (decide.py), whichever engine computed this.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa

from rlhf_eval.curate.ngrams import NgramIndex, Split, fold
from rlhf_eval.data.pairs import prompt_text

DATA_STEPS = ("dedup", "near_dedup", "decontaminate", "filter")
BATCH = 8192


def columns(pairs: list[dict]) -> pa.Table:
    """The text a feature needs, one row per pair: `history` is the JSON of a multi-turn prompt's
    (role, content) turns (null for a one-turn prompt), `prompt` all its turns as one text."""
    multi = [not isinstance(p["prompt"], str) for p in pairs]
    return pa.table({
        "prompt": pa.array([prompt_text(p["prompt"]) for p in pairs], pa.string()),
        "history": pa.array([json.dumps([[t["role"], t["content"]] for t in p["prompt"]]) if m else None
                             for p, m in zip(pairs, multi)], pa.string()),
        "chosen": pa.array([p["chosen"] for p in pairs], pa.string()),
        "rejected": pa.array([p["rejected"] for p in pairs], pa.string()),
    })


def _history_hash(history: str) -> int:
    turns = [[role, fold(content)] for role, content in json.loads(history)]
    return int.from_bytes(hashlib.blake2b(json.dumps(turns).encode(), digest_size=8).digest(), "little")


def band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) that datasketch's MinHashLSH picks for this threshold."""
    from datasketch import MinHashLSH
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def minhash_bands(tokens: pa.ListArray, n: int, threshold: float, num_perm: int, shingle: int) -> np.ndarray:
    """(n, bands) 64-bit keys of each pair's MinHash bands, with datasketch's MinHash (seed 1) over
    word shingles of prompt | chosen | rejected. Two pairs are LSH candidates when datasketch's
    MinHashLSH would bucket them together (they share a band), up to a 64-bit collision of keys."""
    from datasketch import MinHash
    b, r = band_params(threshold, num_perm)
    lists = tokens.to_pylist()
    shingles = []
    for j in range(n):
        toks = lists[j] + ["|"] + lists[n + j] + ["|"] + lists[2 * n + j]
        grams = {" ".join(toks[i:i + shingle]) for i in range(max(1, len(toks) - shingle + 1))}
        shingles.append([g.encode() for g in grams])
    if not shingles:
        return np.zeros((0, b), np.uint64)
    values = np.stack([m.hashvalues for m in MinHash.bulk(shingles, num_perm=num_perm)]).astype(np.uint64)
    keys = np.zeros((n, b), np.uint64)
    with np.errstate(over="ignore"):
        for band in range(b):
            h = np.full(n, band + 1, np.uint64)
            for col in range(band * r, (band + 1) * r):
                h = h * np.uint64(1_000_003) + values[:, col]
            keys[:, band] = h
    return keys


def batch_features(table: pa.Table, wanted: set[str], index: NgramIndex | None = None,
                   near: tuple[float, int, int] | None = None) -> dict[str, np.ndarray | list]:
    """Features of one batch of `columns` rows for the `wanted` steps:
    dedup: (n, 4) uint64 keys (multi-turn flag, prompt, chosen, rejected hashes of the folded text);
    near_dedup: (n, bands) band keys; decontaminate: {row: the benchmark ids it matches, sorted}
    for the rows that match any; filter: (n, 2) word counts of chosen and rejected."""
    n = table.num_rows
    split = Split.of(pa.concat_arrays([table[c].combine_chunks() for c in ("prompt", "chosen", "rejected")]))
    out: dict = {}
    if "dedup" in wanted:
        h = split.text_hashes().reshape(3, n)
        history = table["history"].to_pylist()
        multi = np.array([x is not None for x in history], np.uint64)
        for j in np.flatnonzero(multi).tolist():
            h[0, j] = _history_hash(history[j])
        out["dedup"] = np.stack([multi, h[0], h[1], h[2]], axis=1)
    if "near_dedup" in wanted:
        out["near_dedup"] = minhash_bands(split.tokens, n, *near)
    if "decontaminate" in wanted:
        matched: dict[int, set] = {}
        for i, ids in index.match(split.normalised(), table["prompt"].to_pylist() + [""] * (2 * n)).items():
            matched.setdefault(i % n, set()).update(ids)
        out["decontaminate"] = {j: sorted(ids) for j, ids in matched.items()}
    if "filter" in wanted:
        lengths = np.diff(np.concatenate([[0], split.ends]))
        out["filter"] = np.stack([lengths[n:2 * n], lengths[2 * n:]], axis=1)
    return out


def local_features(pairs: list[dict], wanted: set[str], index: NgramIndex | None = None,
                   near: tuple[float, int, int] | None = None, threads: int = 1) -> dict[str, np.ndarray | dict]:
    """batch_features over every pair, batch by batch, in this process; `threads` batches at a
    time (arrow and numpy release the GIL for most of the work)."""
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import nullcontext

    def one(start):
        return start, batch_features(columns(pairs[start:start + BATCH]), wanted, index, near)

    starts = range(0, max(len(pairs), 1), BATCH)
    out: dict = {}
    with ThreadPoolExecutor(threads) if threads > 1 else nullcontext() as pool:
        for start, feats in (pool.map(one, starts) if pool else map(one, starts)):
            for key, value in feats.items():
                if key == "decontaminate":
                    out.setdefault(key, {}).update({start + j: ids for j, ids in value.items()})
                else:
                    out.setdefault(key, []).append(value)
    return {k: v if k == "decontaminate" else np.concatenate(v) for k, v in out.items()}
