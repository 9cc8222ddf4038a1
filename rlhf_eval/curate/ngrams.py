"""Words, 64-bit sequence hashes and the benchmark n-gram index for decontamination.

Tokens are lower-cased whitespace words, exactly `text.lower().split()`. A batch of texts is split
once into an arrow list array; ASCII texts go through arrow's kernels, the rest through Python, so
the words are the same either way. Sequences (n-gram windows, whole texts) are hashed as
polynomials modulo 2^64 with prefix sums, a few numpy passes per batch whatever n is.

Each distinct word gets a 64-bit hash that does not depend on the batch (pandas' fixed-key
SipHash), so one prefix sum per batch gives every text's hash (exact dedup) and every window's
(decontamination). Benchmark n-grams are kept as window hashes; training text is matched batch by
batch, so memory holds the benchmark's n-grams and one batch, never every n-gram of the training
data. A matched window is checked to hold only benchmark words and to lie inside one text.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MULT = 1_000_003
_MASK = np.uint64((1 << 24) - 1)
WORDS = pa.list_(pa.string())


def words(text: str) -> list[str]:
    return text.lower().split()


def fold(text: str) -> str:
    """Case- and whitespace-folded text: the form every curation comparison uses."""
    return " ".join(words(text))


def split_words(texts: list[str] | pa.Array) -> pa.ListArray:
    """[words(t) for t in texts] as one arrow array (list<string>), about 7x faster than Python
    on ASCII text."""
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    trimmed = pc.ascii_trim_whitespace(arr)
    # arrow's ASCII whitespace lacks \x1c-\x1f (str.split has them), and it splits an empty
    # string into one empty word: those rows, and every non-ASCII one, take the Python path
    fast = pc.and_(pc.string_is_ascii(arr), pc.greater(pc.binary_length(trimmed), 0))
    data = arr.buffers()[2]
    if data is not None and (np.frombuffer(data, np.uint8) - np.uint8(0x1c) < 4).any():
        fast = pc.and_(fast, pc.invert(pc.match_substring_regex(arr, "[\x1c-\x1f]")))
    slow = np.flatnonzero(~fast.to_numpy(zero_copy_only=False))
    if not len(slow):
        return pc.ascii_split_whitespace(pc.ascii_lower(trimmed))
    if len(slow) == len(arr):
        return pa.array([words(t) for t in arr.to_pylist()], WORDS)
    quick = pc.ascii_split_whitespace(pc.ascii_lower(trimmed.filter(fast)))
    rest = pa.array([words(t) for t in arr.take(pa.array(slow)).to_pylist()], WORDS)
    order = np.empty(len(arr), np.int64)
    order[np.flatnonzero(fast.to_numpy(zero_copy_only=False))] = np.arange(len(quick))
    order[slow] = len(quick) + np.arange(len(slow))
    return pa.concat_arrays([quick, rest]).take(pa.array(order))


def _cumulative_powers(base: int, size: int) -> np.ndarray:
    steps = np.full(size, base, np.uint64)
    steps[0] = 1
    return np.cumprod(steps)  # wraps modulo 2^64


_POW = _IPOW = np.ones(1, np.uint64)


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """(M^k, M^-k) modulo 2^64 for k < length; M is odd, so it has an inverse modulo 2^64."""
    global _POW, _IPOW
    if len(_POW) < length:
        size = max(length, 2 * len(_POW))
        _POW, _IPOW = _cumulative_powers(_MULT, size), _cumulative_powers(pow(_MULT, -1, 2**64), size)
    return _POW, _IPOW


def prefix_sums(values: np.ndarray) -> np.ndarray:
    """prefix[k] = sum of values[j] * M^-j for j < k, modulo 2^64: what range_hashes and
    window_hashes read every hash from."""
    _, inverse = _powers(len(values) + 1)
    prefix = np.zeros(len(values) + 1, np.uint64)
    with np.errstate(over="ignore"):
        np.multiply(values.astype(np.uint64, copy=False), inverse[:len(values)], out=prefix[1:])
    np.cumsum(prefix, out=prefix)
    return prefix


def range_hashes(prefix: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Hash of each values[start:end] (prefix = prefix_sums(values)): sum of values[j] * M^(end-1-j)
    modulo 2^64, the same as Horner's `h = h * M + v` over the range; an empty range hashes to 0."""
    with np.errstate(over="ignore"):
        out = (prefix[ends] - prefix[starts]) * _POW[np.maximum(ends - 1, 0)]
    return np.where(ends > starts, out, np.uint64(0))


def window_hashes(prefix: np.ndarray, n: int) -> np.ndarray:
    """Hash of every length-n window of values (prefix = prefix_sums(values)), as range_hashes."""
    count = max(len(prefix) - n, 0)
    with np.errstate(over="ignore"):
        out = prefix[n:n + count] - prefix[:count]
        out *= _POW[n - 1:n - 1 + count]
    return out


def word_hashes(distinct) -> np.ndarray:
    """The 64-bit hash of each word (a list or an arrow array of strings)."""
    import pandas as pd
    values = distinct.to_numpy(zero_copy_only=False) if isinstance(distinct, pa.Array) else np.array(distinct, object)
    return pd.util.hash_array(values, categorize=False) if len(values) else np.zeros(0, np.uint64)


@dataclass
class Split:
    """A batch of texts split into words: `tokens` (list<string>, one list per text), where each
    text's words end in the flat sequence (`ends`), each word's index into the batch's distinct
    `words`, and prefix_sums of the words' hashes."""
    tokens: pa.ListArray
    ends: np.ndarray
    indices: np.ndarray
    words: pa.Array
    prefix: np.ndarray

    @classmethod
    def of(cls, texts: list[str] | pa.Array) -> "Split":
        tokens = split_words(texts)
        ends = np.cumsum(pc.list_value_length(tokens).to_numpy(zero_copy_only=False)).astype(np.int64)
        encoded = pc.dictionary_encode(pc.list_flatten(tokens))
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        return cls(tokens, ends, indices, encoded.dictionary, prefix_sums(word_hashes(encoded.dictionary)[indices]))

    def text_hashes(self) -> np.ndarray:
        """A 64-bit hash of each text's folded word sequence."""
        starts = np.concatenate([[0], self.ends[:-1]])[:len(self.ends)]
        return range_hashes(self.prefix, starts, self.ends)


def prompt_key(text: str) -> bytes:
    return hashlib.blake2b(fold(text).encode(), digest_size=8).digest()


class NgramIndex:
    """n-grams of benchmark prompts. A benchmark prompt shorter than n matches only a training
    prompt identical to it (after case and whitespace folding)."""

    def __init__(self, n: int = 13):
        self.n = n
        self.vocab: set[str] = set()
        self.owners: dict[int, set[str]] = {}
        self.short: dict[bytes, set[str]] = {}
        self._sorted: np.ndarray | None = None

    def add(self, text: str, item_id: str) -> None:
        tokens = words(text)
        if len(tokens) < self.n:
            self.short.setdefault(prompt_key(text), set()).add(item_id)
            return
        self.vocab.update(tokens)
        for value in window_hashes(prefix_sums(word_hashes(tokens)), self.n).tolist():
            self.owners.setdefault(value, set()).add(item_id)
        self._sorted = None

    def _prepare(self) -> None:
        if self._sorted is None:
            # _sorted last: threads matching batches start once it is set
            ordered = np.array(sorted(self.owners), np.uint64)
            self._bitmap = np.zeros(int(_MASK) + 1, bool)
            self._bitmap[ordered & _MASK] = True
            self._value_set = pa.array(sorted(self.vocab), pa.string())
            self._sorted = ordered

    def __getstate__(self):
        # shipped to Ray workers: the derived arrays are rebuilt there instead of pickled
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")} | {"_sorted": None}

    def match_batch(self, texts: list[str], prompts: list[str] | None = None) -> list[set[str]]:
        """Benchmark ids each text shares an n-gram with (and, for `prompts`, equals)."""
        hits = self.match(Split.of(texts), prompts)
        return [hits.get(i, set()) for i in range(len(texts))]

    def match(self, split: Split, prompts: list[str] | None = None) -> dict[int, set[str]]:
        """{text index: benchmark ids} for the texts of `split` that match."""
        self._prepare()
        hits: dict[int, set[str]] = {}
        if self.owners and len(split.indices):
            h = window_hashes(split.prefix, self.n)
            # a bitmap over the hashes' low bits rules out almost every window at once; only the
            # few candidates are looked up in the sorted benchmark hashes, then checked to hold
            # only benchmark words and to lie inside one text
            cand = np.flatnonzero(self._bitmap[h & _MASK])
            pos = np.minimum(np.searchsorted(self._sorted, h[cand]), len(self._sorted) - 1)
            found = cand[self._sorted[pos] == h[cand]]
            text_of = np.searchsorted(split.ends, found, side="right")
            inside = text_of == np.searchsorted(split.ends, found + self.n - 1, side="right")
            known = pc.is_in(split.words, value_set=self._value_set).to_numpy(zero_copy_only=False)
            inside &= known[split.indices[found[:, None] + np.arange(self.n)]].all(axis=1)
            for w, i in zip(found[inside].tolist(), text_of[inside].tolist()):
                hits.setdefault(i, set()).update(self.owners[int(h[w])])
        if self.short and prompts is not None:
            for i, p in enumerate(prompts):
                if p and (owners := self.short.get(prompt_key(p))):
                    hits.setdefault(i, set()).update(owners)
        return hits
