"""The vectorised MinHash (`near_dedup.minhash: numpy`) against datasketch's on the same rows, in
one process: speed of the signatures, the share of identical near-dedup decisions, recall of
planted near-duplicates at several Jaccard levels (with the LSH curve's expected value), and the
error of each one's Jaccard estimate against the true Jaccard of the shingle sets.

Planted copies: a copy of an earlier pair with k words of its chosen response replaced by new
words, k = 1..8, at positions at least `shingle` apart (so the true Jaccard is computed, not
assumed). The rest are random pairs (30 + 40 + 40 words of 20,000).

Run: .venv/bin/python benchmarks/minhash.py [--pairs 20000] [--copies 1000] [--seeds 3]
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pyarrow as pa

from rlhf_eval.curate import decide, features, minhash
from rlhf_eval.curate.ngrams import Split

KS = range(1, 9)
KINDS = ("numpy", "datasketch")


def shingles(p: dict, size: int) -> set[str]:
    toks = " | ".join([p["prompt"], p["chosen"], p["rejected"]]).lower().split()
    return {" ".join(toks[i:i + size]) for i in range(max(1, len(toks) - size + 1))}


def planted(n_pairs: int, copies: int, shingle: int, seed: int = 0):
    """Random pairs, then `copies` near copies per k; returns (pairs, {row: (k, original row,
    true Jaccard)})."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20000)])
    words = vocab[rng.integers(0, 20000, (n_pairs, 110))]
    pairs = [{"id": str(i), "source": "s", "prompt": " ".join(w[:30]), "chosen": " ".join(w[30:70]),
              "rejected": " ".join(w[70:]), "meta": {}} for i, w in enumerate(words)]
    truth = {}
    for k in KS:
        for c in range(copies):
            origin = int(rng.integers(0, n_pairs))
            chosen = pairs[origin]["chosen"].split()
            spots = rng.choice(np.arange(0, len(chosen), shingle), k, replace=False)
            for j, spot in enumerate(spots):
                chosen[spot] = f"new{k}x{c}x{j}"
            row = len(pairs)
            pairs.append(dict(pairs[origin], id=f"{row}-near{k}", chosen=" ".join(chosen)))
            a, b = shingles(pairs[origin], shingle), shingles(pairs[row], shingle)
            truth[row] = (k, origin, len(a & b) / len(a | b))
    order = rng.permutation(len(pairs))  # copies among the originals, some before them
    where = np.empty_like(order)
    where[order] = np.arange(len(order))
    pairs = [pairs[i] for i in order]
    return pairs, {int(where[r]): (k, int(where[o]), j) for r, (k, o, j) in truth.items()}


def signatures(split, n, kind, num_perm, shingle, seed=1):
    t = time.perf_counter()
    values = minhash.signatures(split, n, num_perm, shingle, kind, seed)
    return values, time.perf_counter() - t


def decisions(values, threshold):
    """{dropped row: the row it duplicates}: the near_dedup step's decision on these signatures."""
    _, removed = decide.near_dedup(np.arange(len(values)), decide.band_groups(minhash.band_keys(values, threshold)))
    return {row: extra["near_duplicate_of"] for row, extra in removed.items()}


def agree(x: dict, y: dict, n: int) -> float:
    return sum((i in x) == (i in y) for i in range(n)) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=20_000)
    ap.add_argument("--copies", type=int, default=1000, help="planted near copies per k (words changed)")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--shingle", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=3, help="permutation draws per kind")
    args = ap.parse_args()
    pairs, truth = planted(args.pairs, args.copies, args.shingle)
    n = len(pairs)
    b, r = minhash.band_params(args.threshold, args.num_perm)
    print(f"{n:,} pairs, {len(truth):,} planted near copies; threshold {args.threshold}, "
          f"{args.num_perm} permutations in {b} bands of {r}; {args.seeds} seeds per kind")
    table = features.columns(pairs)
    split = Split.of(pa.concat_arrays([table[c].combine_chunks() for c in ("prompt", "chosen", "rejected")]))
    sig, secs, dec = {}, {}, {}
    for seed in range(1, args.seeds + 1):  # interleaved; the best time counts
        for kind in KINDS:
            sig[kind, seed], dt = signatures(split, n, kind, args.num_perm, args.shingle, seed)
            secs[kind] = min(secs.get(kind, math.inf), dt)
            dec[kind, seed] = decisions(sig[kind, seed], args.threshold)
    for kind in KINDS:
        print(f"{kind:10s}: signatures {secs[kind] / n * 1e6:6.1f} us per pair (best of {args.seeds}); "
              f"dropped {', '.join(str(len(dec[kind, s])) for s in range(1, args.seeds + 1))} (by seed)")
    print(f"speed-up on the signatures: {secs['datasketch'] / secs['numpy']:.1f}x")

    print("\nidentical decisions (kept / dropped), share of all pairs:")
    print(f"  numpy seed 1 vs datasketch seed 1 (the default's): {agree(dec['numpy', 1], dec['datasketch', 1], n):.2%}")
    if args.seeds > 1:
        print(f"  datasketch seed 2 vs datasketch seed 1 (two draws of the same MinHash): "
              f"{agree(dec['datasketch', 2], dec['datasketch', 1], n):.2%}")
        print(f"  numpy seed 2 vs numpy seed 1: {agree(dec['numpy', 2], dec['numpy', 1], n):.2%}")
    settled = [i for i in range(n) if i not in truth and not any(o == i for _, o, _ in truth.values())]
    for kind in KINDS:
        false = sum(i in dec[kind, s] for i in settled for s in range(1, args.seeds + 1))
        print(f"  {kind}: random pairs (neither copy nor original) dropped: {false} over "
              f"{args.seeds} x {len(settled):,}")

    print("\nrecall of planted near copies (the later of copy and original dropped), mean over seeds, and "
          "the Jaccard estimate's error")
    print(f"{'k':>2} {'true J':>7} {'LSH curve':>9} | {'recall numpy':>12} {'datasketch':>10} | "
          f"{'RMSE numpy':>10} {'datasketch':>10} {'ideal':>6} | {'bias numpy':>10} {'datasketch':>10}")
    totals = dict.fromkeys(KINDS, 0)
    for k in KS:
        rows = [(max(row, o), min(row, o), j) for row, (kk, o, j) in truth.items() if kk == k]
        jac = np.array([j for _, _, j in rows])
        late, early = np.array([x for x, _, _ in rows]), np.array([y for _, y, _ in rows])
        line = f"{k:>2} {jac.mean():7.3f} {np.mean(1 - (1 - jac ** r) ** b):9.3f} |"
        rec, rmse, bias = {}, {}, {}
        for kind in KINDS:
            hits = [sum(int(x) in dec[kind, s] for x in late) for s in range(1, args.seeds + 1)]
            rec[kind] = sum(hits) / (len(rows) * args.seeds)
            totals[kind] += sum(hits)
            est = np.concatenate([minhash.jaccard_estimate(sig[kind, s][late], sig[kind, s][early])
                                  for s in range(1, args.seeds + 1)])
            err = est - np.tile(jac, args.seeds)
            rmse[kind], bias[kind] = float(np.sqrt(np.mean(err ** 2))), float(np.mean(err))
        ideal = float(np.sqrt(np.mean(jac * (1 - jac) / args.num_perm)))
        print(line + f" {rec['numpy']:12.3f} {rec['datasketch']:10.3f} | {rmse['numpy']:10.4f} "
              f"{rmse['datasketch']:10.4f} {ideal:6.4f} | {bias['numpy']:+10.4f} {bias['datasketch']:+10.4f}")
    m = len(truth) * args.seeds
    share = {k: v / m for k, v in totals.items()}
    se = math.sqrt(share["numpy"] * (1 - share["numpy"]) / m + share["datasketch"] * (1 - share["datasketch"]) / m)
    print(f"all planted: recall numpy {share['numpy']:.4f}, datasketch {share['datasketch']:.4f}; difference "
          f"{share['numpy'] - share['datasketch']:+.4f} (95% interval +/- {1.96 * se:.4f}, copies and seeds "
          "treated as independent)")


if __name__ == "__main__":
    main()
