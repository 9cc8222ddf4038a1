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

from rlhf_eval.curate import minhash
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


def minhash_bands(split: Split, n: int, threshold: float, num_perm: int, shingle: int,
                  kind: str = "numpy") -> np.ndarray:
    """(n, bands) 64-bit keys of each pair's MinHash bands over word shingles of
    prompt | chosen | rejected (minhash.py: `kind` is the vectorised MinHash or datasketch's).
    Two pairs are LSH candidates when they share a band, as in datasketch's MinHashLSH."""
    return minhash.band_keys(minhash.signatures(split, n, num_perm, shingle, kind), threshold)


def batch_features(table: pa.Table, wanted: set[str], index: NgramIndex | None = None,
                   near: tuple | None = None) -> dict[str, np.ndarray | list]:
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
        out["near_dedup"] = minhash_bands(split, n, *near)
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
                   near: tuple | None = None, threads: int = 1) -> dict[str, np.ndarray | dict]:
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
