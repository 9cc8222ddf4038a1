"""Throughput of exact dedup + 13-gram decontamination on a synthetic 200k-pair set, against
the naive way (a Python set of every n-gram of each pair, checked one by one), in one process.

Run: .venv/bin/python benchmarks/curate_throughput.py [--pairs 200000]
"""
from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc

from rlhf_eval.curate import steps
from rlhf_eval.curate.ngrams import NgramIndex


def synthetic(n_pairs: int, n_bench: int, seed: int = 0):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(20000)]

    def text(k):
        return " ".join(rng.choices(vocab, k=k))

    bench = [text(30) for _ in range(n_bench)]
    pairs = []
    for i in range(n_pairs):
        prompt = rng.choice(bench) if i % 100 == 0 else text(30)   # 1% leaked prompts
        pairs.append({"id": str(i), "source": "s", "prompt": prompt, "chosen": text(40),
                      "rejected": text(40), "meta": {}})
        if i % 50 == 0 and pairs:
            pairs.append(dict(pairs[-1], id=f"{i}-dup"))                # 2% exact duplicates
    return pairs, bench


def ours(pairs, bench, n):
    index = NgramIndex(n)
    for i, b in enumerate(bench):
        index.add(b, str(i))
    kept, dup = steps.exact_dedup(pairs)
    kept, hit = steps.decontaminate(kept, index)
    return len(kept), len(dup), len(hit)


def naive(pairs, bench, n):
    grams = set()
    for b in bench:
        t = b.lower().split()
        grams |= {tuple(t[i:i + n]) for i in range(len(t) - n + 1)}
    seen, kept, dup, hit = set(), 0, 0, 0
    for p in pairs:
        key = (" ".join(p["prompt"].lower().split()), " ".join(p["chosen"].lower().split()),
               " ".join(p["rejected"].lower().split()))
        if key in seen:
            dup += 1
            continue
        seen.add(key)
        own = set()
        for field in ("prompt", "chosen", "rejected"):
            t = p[field].lower().split()
            own |= {tuple(t[i:i + n]) for i in range(len(t) - n + 1)}
        if any(g in grams for g in own):
            hit += 1
        else:
            kept += 1
    return kept, dup, hit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=200_000)
    ap.add_argument("--bench", type=int, default=3000)
    ap.add_argument("--ngram", type=int, default=13)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs per way; the best counts")
    args = ap.parse_args()
    pairs, bench = synthetic(args.pairs, args.bench)
    results = {}
    for _ in range(args.repeats):
        for name, fn in (("ours", ours), ("naive", naive)):
            gc.collect()
            t = time.perf_counter()
            out = fn(pairs, bench, args.ngram)
            dt = time.perf_counter() - t
            if name not in results or dt < results[name][1]:
                results[name] = (out, dt)
    for name, (out, dt) in results.items():
        print(f"{name:5s}: kept {out[0]}, duplicates {out[1]}, contaminated {out[2]}; "
              f"best of {args.repeats}: {dt:.1f} s, {len(pairs) / dt:,.0f} pairs/s")
    assert results["ours"][0] == results["naive"][0], "the two ways disagree"
    print(f"speed-up (naive time / ours): {results['naive'][1] / results['ours'][1]:.2f}x "
          f"on {len(pairs):,} pairs")
    # memory beyond the input pairs, traced on a slice (tracing slows both ways alike)
    peaks = {}
    for name, fn in (("ours", ours), ("naive", naive)):
        tracemalloc.start()
        fn(pairs[:50_000], bench, args.ngram)
        peaks[name] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    print(f"peak extra memory on 50,000 pairs: ours {peaks['ours']:.0f} MiB, naive {peaks['naive']:.0f} MiB "
          f"(ratio {peaks['naive'] / peaks['ours']:.2f}x)")


if __name__ == "__main__":
    main()
