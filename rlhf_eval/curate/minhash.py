"""MinHash signatures of a batch of pairs, two ways: datasketch's (SHA-1 of every shingle, then
128 affine permutations modulo a Mersenne prime, one Python object per pair) and a vectorised one
over the 64-bit word hashes the batch already has (ngrams.Split): each shingle's hash is a
polynomial over its words' hashes (one prefix sum per batch), mixed once (splitmix64's
finaliser), then permuted by multiply-shift, h_i(x) = (a_i x + b_i) >> 32 modulo 2^64 with a_i
odd, and reduced per pair with np.minimum.reduceat. Both signatures are 32-bit values, both see
the same shingle sets (words of prompt | chosen | rejected, `shingle` words each, a pair shorter
than that one shingle of all its words), so the banding downstream is the same.

benchmarks/minhash.py measures the two against each other: speed, how often their near-dedup
decisions agree, recall of planted near-duplicates at several Jaccard levels, and the error of
the Jaccard estimate.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from rlhf_eval.curate.ngrams import Split, prefix_sums, range_hashes, word_hashes

KINDS = ("numpy", "datasketch")
_SEED = 1
# shingles hashed at a time (1 MiB of uint64)
_CHUNK = 1 << 17


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, num_perm, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, num_perm, dtype=np.uint64)
    return a, b


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: polynomial hashes of nearby word sequences differ in structured
    ways; after this every bit depends on every input bit."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


_SEPARATOR = int(word_hashes(["|"])[0])


def pair_sequences(split: Split, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's word hashes as one sequence, prompt | chosen | rejected (the separator is the
    word "|", as datasketch's path joins them), for a Split of 3n texts (prompts, then chosen,
    then rejected). Returns (the hashes of every pair's sequence, one after another; where each
    pair's sequence ends)."""
    lengths = np.diff(np.concatenate([[0], split.ends])).reshape(3, n)
    per_pair = lengths.sum(axis=0) + 2
    pair_ends = np.cumsum(per_pair)
    pair_starts = pair_ends - per_pair
    # where each text starts in its pair's sequence: prompt at 0, chosen after the prompt and one
    # separator, rejected after both and two
    offset = np.stack([pair_starts, pair_starts + lengths[0] + 1, pair_starts + lengths[0] + lengths[1] + 2])
    text_len = lengths.reshape(-1)
    within = np.arange(int(text_len.sum())) - np.repeat(np.cumsum(text_len) - text_len, text_len)
    out = np.full(int(pair_ends[-1]) if n else 0, np.uint64(_SEPARATOR), np.uint64)
    out[np.repeat(offset.reshape(-1), text_len) + within] = split.hashes[split.indices]
    return out, pair_ends


def shingle_hashes(sequence: np.ndarray, ends: np.ndarray, shingle: int) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every `shingle`-word window inside one pair (a pair shorter than that: its
    whole sequence once), mixed. Returns (hashes, where each pair's run of them starts)."""
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    count = np.maximum(ends - starts - shingle + 1, 1)
    first = np.repeat(starts, count)
    win_start = first + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
    win_end = np.minimum(win_start + shingle, np.repeat(ends, count))
    hashes = range_hashes(prefix_sums(sequence), win_start, win_end)
    return mix(hashes), np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)


def numpy_signatures(split: Split, n: int, num_perm: int, shingle: int, seed: int = _SEED) -> np.ndarray:
    """(n, num_perm) MinHash values of the pairs, vectorised (see the module's docstring)."""
    if not n:
        return np.zeros((0, num_perm), np.uint64)
    sequence, ends = pair_sequences(split, n)
    hashes, run_starts = shingle_hashes(sequence, ends, shingle)
    a, b = _permutations(num_perm, seed)
    out = np.empty((n, num_perm), np.uint32)
    bounds = np.append(run_starts, len(hashes))
    lo = 0
    with np.errstate(over="ignore"):
        while lo < n:
            # one permutation at a time over a chunk of pairs whose shingles fit in cache: a
            # (shingles x permutations) block and a reduceat across it run about 4x slower
            hi = max(lo + 1, int(np.searchsorted(bounds, bounds[lo] + _CHUNK, side="right")) - 1)
            hi = min(hi, n)
            x = hashes[bounds[lo]:bounds[hi]]
            local = run_starts[lo:hi] - bounds[lo]
            tmp = np.empty_like(x)
            for i in range(num_perm):
                np.multiply(x, a[i], out=tmp)
                tmp += b[i]
                tmp >>= np.uint64(32)
                out[lo:hi, i] = np.minimum.reduceat(tmp, local)
            lo = hi
    return out.astype(np.uint64)


def datasketch_signatures(tokens: pa.ListArray, n: int, num_perm: int, shingle: int, seed: int = _SEED) -> np.ndarray:
    """(n, num_perm) values of datasketch's MinHash (seed 1) over the same shingles, as strings."""
    from datasketch import MinHash
    lists = tokens.to_pylist()
    shingles = []
    for j in range(n):
        toks = lists[j] + ["|"] + lists[n + j] + ["|"] + lists[2 * n + j]
        grams = {" ".join(toks[i:i + shingle]) for i in range(max(1, len(toks) - shingle + 1))}
        shingles.append([g.encode() for g in grams])
    if not shingles:
        return np.zeros((0, num_perm), np.uint64)
    return np.stack([m.hashvalues for m in MinHash.bulk(shingles, num_perm=num_perm, seed=seed)]).astype(np.uint64)


def signatures(split: Split, n: int, num_perm: int, shingle: int, kind: str, seed: int = _SEED) -> np.ndarray:
    """(n, num_perm) MinHash values; another `seed` draws other permutations (benchmarks/minhash.py
    compares seeds to see how much two draws of one kind disagree)."""
    if kind == "numpy":
        return numpy_signatures(split, n, num_perm, shingle, seed)
    if kind == "datasketch":
        return datasketch_signatures(split.tokens, n, num_perm, shingle, seed)
    raise ValueError(f"unknown MinHash kind {kind!r} (one of {', '.join(KINDS)})")


def band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) that datasketch's MinHashLSH picks for this threshold (the same
    for both kinds: the banding is the LSH, not the hash)."""
    from datasketch import MinHashLSH
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def band_keys(values: np.ndarray, threshold: float) -> np.ndarray:
    """(n, bands) 64-bit keys of each pair's bands: two pairs are LSH candidates when they share
    a band (up to a 64-bit collision of keys), as in datasketch's MinHashLSH."""
    n, num_perm = values.shape
    b, r = band_params(threshold, num_perm)
    keys = np.zeros((n, b), np.uint64)
    with np.errstate(over="ignore"):
        for band in range(b):
            h = np.full(n, band + 1, np.uint64)
            for col in range(band * r, (band + 1) * r):
                h = h * np.uint64(1_000_003) + values[:, col]
            keys[:, band] = h
    return keys


def jaccard_estimate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The share of equal values per row of two signature matrices: MinHash's Jaccard estimate."""
    return (x == y).mean(axis=-1)
