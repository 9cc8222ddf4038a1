"""The vectorised MinHash (curate/minhash.py) against values computed here by hand, one shingle
and one permutation at a time in Python integers, and its banding against hand-built cases."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from rlhf_eval.curate import features, minhash, steps
from rlhf_eval.curate.ngrams import Split, word_hashes

M64 = 2**64 - 1


def split_of(pairs):
    table = features.columns(pairs)
    return Split.of(pa.concat_arrays([table[c].combine_chunks() for c in ("prompt", "chosen", "rejected")]))


def pair(i, prompt, chosen, rejected):
    return {"id": str(i), "source": "s", "prompt": prompt, "chosen": chosen, "rejected": rejected, "meta": {}}


def mix(x):
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def by_hand(p, num_perm, shingle, seed=1):
    """The signature from its definition: the words of prompt | chosen | rejected, each
    `shingle`-word window hashed by Horner's rule over the words' 64-bit hashes (multiplier
    1,000,003, modulo 2^64), mixed, then min over the distinct windows of (a x + b) >> 32."""
    toks = " | ".join([p["prompt"], p["chosen"], p["rejected"]]).lower().split()
    h = dict(zip(toks, (int(v) for v in word_hashes(toks))))
    windows = {tuple(toks[i:i + shingle]) for i in range(max(1, len(toks) - shingle + 1))}
    values = set()
    for w in windows:
        acc = 0
        for t in w:
            acc = (acc * 1_000_003 + h[t]) & M64
        values.add(mix(acc))
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, num_perm, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, num_perm, dtype=np.uint64)
    return [min(((int(ai) * x + int(bi)) & M64) >> 32 for x in values) for ai, bi in zip(a, b)]


def test_signatures_equal_the_definition_computed_by_hand():
    pairs = [pair(0, "What is two plus two?", "It is four.", "Five."),
             pair(1, "a b", "c", "d"),                       # 5 words with the separators: 3 windows
             pair(2, "x", "", ""),                           # "x | |": exactly one window
             pair(3, "Same  words", "AGAIN again", "again"),  # case and whitespace folded, repeats
             pair(4, "w " * 40, "v " * 3 + "| |", "u")]      # a literal "|" is the separator word
    got = minhash.numpy_signatures(split_of(pairs), len(pairs), 16, 3)
    assert got.dtype == np.uint64 and got.shape == (5, 16)
    for i, p in enumerate(pairs):
        assert got[i].tolist() == by_hand(p, 16, 3), p
    # a pair shorter than the shingle is one window of all its words
    short = [pair(0, "a", "", "")]
    assert minhash.numpy_signatures(split_of(short), 1, 8, 5)[0].tolist() == by_hand(short[0], 8, 5)


def test_chunking_across_many_pairs_gives_the_same_signatures(monkeypatch):
    rng = np.random.default_rng(0)
    pairs = [pair(i, " ".join(f"w{j}" for j in rng.integers(0, 50, rng.integers(1, 30))), "ok",
                  " ".join(f"w{j}" for j in rng.integers(0, 50, 5))) for i in range(300)]
    whole = minhash.numpy_signatures(split_of(pairs), 300, 32, 3)
    monkeypatch.setattr(minhash, "_CHUNK", 7)  # a chunk smaller than one pair's shingles, too
    assert np.array_equal(minhash.numpy_signatures(split_of(pairs), 300, 32, 3), whole)
    for i in (0, 150, 299):
        assert whole[i].tolist() == by_hand(pairs[i], 32, 3)


def test_band_keys_share_exactly_the_bands_whose_rows_agree():
    assert minhash.band_params(0.9, 128) == (5, 25)
    b, r = minhash.band_params(0.5, 16)
    x = np.arange(16, dtype=np.uint64)[None].repeat(3, 0)
    x[1, r:] += np.uint64(100)          # agrees with row 0 in band 0 only
    x[2, r - 1] += np.uint64(1)         # one value off in band 0: agrees in every other band
    keys = minhash.band_keys(x, 0.5)
    assert keys.shape == (3, b)
    assert (keys[0] == keys[1]).tolist() == [True] + [False] * (b - 1)
    assert (keys[0] == keys[2]).tolist() == [False] + [True] * (b - 1)
    # band j's key is Horner's rule over its r values, started at j + 1
    acc = 1
    for v in x[0, :r].tolist():
        acc = (acc * 1_000_003 + v) & M64
    assert int(keys[0, 0]) == acc


@pytest.mark.parametrize("kind", minhash.KINDS)
def test_jaccard_estimate_within_its_sampling_error(kind):
    """Two pairs whose shingle sets (single words) overlap by about a third, counted below; with
    1,024 permutations the estimate is within 4 standard errors of the true Jaccard."""
    a = pair(0, " ".join(f"a{i}" for i in range(100)), "x", "y")
    b = pair(1, " ".join(f"a{i}" for i in range(50, 150)), "x", "y")
    sa = {t for t in " | ".join([a["prompt"], "x", "y"]).split()}
    sb = {t for t in " | ".join([b["prompt"], "x", "y"]).split()}
    truth = len(sa & sb) / len(sa | sb)
    sig = minhash.signatures(split_of([a, b]), 2, 1024, 1, kind)
    est = float(minhash.jaccard_estimate(sig[0], sig[1]))
    assert abs(est - truth) < 4 * math.sqrt(truth * (1 - truth) / 1024), (est, truth)


def test_near_dedup_drops_copies_and_keeps_unrelated_pairs_with_either_minhash():
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(5000)]
    pairs = [pair(i, " ".join(rng.choice(words, 30)), " ".join(rng.choice(words, 40)),
                  " ".join(rng.choice(words, 40))) for i in range(200)]
    pairs.append(dict(pairs[10], id="copy-of-10"))                  # Jaccard 1: always a candidate
    pairs.append(dict(pairs[20], id="case-of-20", chosen=pairs[20]["chosen"].upper()))
    for kind in minhash.KINDS:
        kept, dropped = steps.near_dedup(pairs, 0.9, 128, 3, kind)
        assert [(p["id"], p["near_duplicate_of"]) for p in dropped] == [("copy-of-10", "10"), ("case-of-20", "20")]
        assert len(kept) == 200


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown MinHash kind 'sha'"):
        minhash.signatures(split_of([pair(0, "a", "b", "c")]), 1, 4, 3, "sha")
