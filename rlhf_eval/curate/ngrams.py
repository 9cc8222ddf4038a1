"""Words, 64-bit sequence hashes and the benchmark n-gram index for decontamination.

Exact dedup's tokens are lower-cased whitespace words, exactly `text.lower().split()`;
decontamination's are normalised first (norm_words: what a reader sees, below). A batch of texts is split
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
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

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


# ------------------------------------------------------------------ decontamination's words
# Exact dedup compares texts as written (case and whitespace folded). Decontamination compares
# what a reader sees: a leak disguised with a zero-width space, a soft hyphen, full-width letters,
# Cyrillic or Greek look-alikes, decomposed accents or punctuation between words is still a leak.
# So each whitespace word (as dedup splits it) becomes: NFKC, Unicode format characters
# (category Cf) dropped, characters that UTS #39 lists as confusable with one ASCII letter or
# digit folded to it, lower-cased, then its runs of letters and digits (punctuation and
# underscores separate words, never join or split them). A word is normalised on its own, so a
# batch normalises each distinct word once (Split.normalised), and a word of [a-z0-9] only is
# its own normal form.
_LETTERS_AND_DIGITS = re.compile(r"[^\W_]+")


@lru_cache(maxsize=1)
def _skeleton_table() -> dict[int, str]:
    """Non-ASCII characters that UTS #39 (confusable-homoglyphs' copy of confusables.txt) says
    look like exactly one ASCII letter or digit: Cyrillic 'а' -> 'a', Greek 'ο' -> 'o'. Words
    arrive lower-cased, so a capital's lower case maps where the capital does (Cyrillic 'Н'
    looks like 'H'; 'н', which it arrives as, maps to 'h' too)."""
    from confusable_homoglyphs.confusables import confusables_data
    table = {}
    for ch, glyphs in confusables_data.items():
        ascii_ = {g["c"].lower() for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalnum()}
        if len(ch) == 1 and not ch.isascii() and len(ascii_) == 1:
            table[ord(ch)] = next(iter(ascii_))
    for code, target in list(table.items()):
        low = chr(code).lower()
        if len(low) == 1 and not low.isascii():
            table.setdefault(ord(low), target)
    return table


def norm_word(word: str) -> list[str]:
    """One lower-cased whitespace word as decontamination's words (see above)."""
    text = unicodedata.normalize("NFKC", word)
    if not text.isascii():
        text = "".join(c for c in text if unicodedata.category(c) != "Cf").translate(_skeleton_table())
    return _LETTERS_AND_DIGITS.findall(text.lower())


# ASCII bytes as norm_word sees them: letters lower-cased, digits kept, anything else a separator
_ASCII_WORD_BYTES = np.full(256, ord(" "), np.uint8)
_ASCII_WORD_BYTES[np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", np.uint8)] = \
    np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", np.uint8)
_ASCII_WORD_BYTES[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", np.uint8)] = \
    np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)


def _not_own_normal_form(words: pa.Array) -> np.ndarray:
    """Per word (lower-cased): whether it holds any byte other than [a-z0-9] (punctuation, or any
    non-ASCII byte), through the byte table instead of a regex over the strings."""
    if words.type != pa.string():
        words = words.cast(pa.string())
    _, offsets, data = words.buffers()
    if data is None or not len(words):
        return np.zeros(len(words), bool)
    raw = np.frombuffer(data, np.uint8)
    offs = np.frombuffer(offsets, np.int32)[words.offset:words.offset + len(words) + 1]
    changed = np.concatenate([[0], np.cumsum(_ASCII_WORD_BYTES[raw] != raw)])
    return changed[offs[1:]] > changed[offs[:-1]]


def norm_word_lists(distinct: pa.Array) -> pa.ListArray:
    """[norm_word(w) for w in distinct]: ASCII words through a byte table and arrow's split, the
    rest (few) through Python."""
    fast = pc.string_is_ascii(distinct).to_numpy(zero_copy_only=False)
    slow = np.flatnonzero(~fast)
    quick = rest = None
    if fast.any():
        quick = distinct.filter(pa.array(fast))
        validity, offsets, data = quick.buffers()
        mapped = pa.Array.from_buffers(pa.string(), len(quick), [validity, offsets, pa.py_buffer(
            _ASCII_WORD_BYTES[np.frombuffer(data, np.uint8)] if data is not None else b"")], offset=quick.offset)
        split = pc.ascii_split_whitespace(pc.ascii_trim_whitespace(mapped))
        flat = split.flatten()  # a word that was all punctuation splits into [""]: dropped below
        keep = pc.greater(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
        kept = np.concatenate([[0], np.cumsum(keep)]).astype(np.int32)
        offs = split.offsets.to_numpy() - split.offsets[0].as_py()
        quick = pa.ListArray.from_arrays(pa.array(kept[offs]), flat.filter(pa.array(keep)))
    if len(slow):
        rest = pa.array([norm_word(w) for w in distinct.take(pa.array(slow)).to_pylist()], WORDS)
    return _in_order(fast, quick, rest)


def _in_order(fast: np.ndarray, quick: pa.Array | None, rest: pa.Array | None) -> pa.Array:
    """Rows computed in two groups (`quick` for the rows where `fast`, `rest` for the others) put
    back in their original order."""
    if quick is None or rest is None:
        return quick if quick is not None else rest if rest is not None else pa.array([], WORDS)
    order = np.empty(len(fast), np.int64)
    order[np.flatnonzero(fast)] = np.arange(len(quick))
    order[np.flatnonzero(~fast)] = len(quick) + np.arange(len(rest))
    return pa.concat_arrays([quick, rest]).take(pa.array(order))


def norm_words(text: str) -> list[str]:
    return [t for w in words(text) for t in norm_word(w)]


def words_key(tokens: list[str]) -> bytes:
    """Normalised words joined, hashed: how a benchmark prompt shorter than n is matched."""
    return hashlib.blake2b(" ".join(tokens).encode(), digest_size=8).digest()


def norm_key(text: str) -> bytes:
    return words_key(norm_words(text))


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
    return _in_order(fast.to_numpy(zero_copy_only=False), quick, rest)


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
    `words`, those words' `hashes`, and prefix_sums of the sequence's hashes."""
    tokens: pa.ListArray | None
    ends: np.ndarray
    indices: np.ndarray
    words: pa.Array
    prefix: np.ndarray
    hashes: np.ndarray

    @classmethod
    def of(cls, texts: list[str] | pa.Array) -> "Split":
        tokens = split_words(texts)
        ends = np.cumsum(pc.list_value_length(tokens).to_numpy(zero_copy_only=False)).astype(np.int64)
        encoded = pc.dictionary_encode(pc.list_flatten(tokens))
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        hashes = word_hashes(encoded.dictionary)
        return cls(tokens, ends, indices, encoded.dictionary, prefix_sums(hashes[indices]), hashes)

    def normalised(self) -> "Split":
        """The same texts in decontamination's words (norm_words), from this split's distinct
        words: each is normalised once (a word of [a-z0-9] only is its own normal form, hash
        and all), then every text's sequence is rebuilt with numpy. `tokens` is None (near-dedup
        reads the words as written)."""
        vocab = len(self.words)
        impure = np.flatnonzero(_not_own_normal_form(self.words))
        if not len(impure):
            return self if self.tokens is None else Split(None, self.ends, self.indices, self.words, self.prefix,
                                                          self.hashes)
        extra = norm_word_lists(self.words.take(pa.array(impure, pa.int64())))
        flat = extra.flatten()
        # a normalised word this batch already has ("c," -> "c") keeps that word's id and hash
        ids = pc.fill_null(pc.index_in(flat, value_set=self.words), -1).to_numpy(zero_copy_only=False).astype(np.int64)
        new = ids < 0
        added = pc.dictionary_encode(flat.filter(pa.array(new)))
        ids[new] = vocab + added.indices.to_numpy(zero_copy_only=False)
        words = pa.concat_arrays([self.words, added.dictionary])
        hashes = np.concatenate([self.hashes, word_hashes(added.dictionary)])
        counts = np.ones(vocab, np.int64)  # normalised words per distinct word
        counts[impure] = pc.list_value_length(extra).to_numpy(zero_copy_only=False)
        if (counts == 1).all():  # punctuation stripped, no word split or emptied: same positions
            mapping = np.arange(vocab, dtype=np.int64)
            mapping[impure] = ids
            indices, text_ends = mapping[self.indices], self.ends
        else:
            first = np.arange(vocab, dtype=np.int64)  # where a distinct word's normalised words start in `every`
            first[impure] = vocab + np.concatenate([[0], np.cumsum(counts[impure])[:-1]]).astype(np.int64)
            every = np.concatenate([np.arange(vocab, dtype=np.int64), ids])
            per = counts[self.indices]
            ends = np.cumsum(per)
            within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - per, per)
            indices = every[np.repeat(first[self.indices], per) + within]
            text_ends = np.concatenate([[0], ends])[self.ends]
        return Split(None, text_ends, indices, words, prefix_sums(hashes[indices]), hashes)

    def text_hashes(self) -> np.ndarray:
        """A 64-bit hash of each text's folded word sequence."""
        starts = np.concatenate([[0], self.ends[:-1]])[:len(self.ends)]
        return range_hashes(self.prefix, starts, self.ends)


class NgramIndex:
    """n-grams of benchmark prompts, in decontamination's words (norm_words). A benchmark prompt
    shorter than n matches a training prompt whose normalised full text is the same."""

    def __init__(self, n: int = 13):
        self.n = n
        self.vocab: set[str] = set()
        self.owners: dict[int, set[str]] = {}
        self.short: dict[bytes, set[str]] = {}
        self._sorted: np.ndarray | None = None

    def add(self, text: str, item_id: str) -> None:
        self.add_all([(text, item_id)])

    def add_all(self, items) -> None:
        """Add (text, item id) pairs, normalised as one batch (Split.normalised)."""
        items = list(items)
        if not items:
            return
        split = Split.of([t for t, _ in items]).normalised()
        starts = np.concatenate([[0], split.ends[:-1]]).astype(np.int64)
        hashes = window_hashes(split.prefix, self.n)
        long_words = []
        for (_, item_id), a, b in zip(items, starts.tolist(), split.ends.tolist()):
            if b - a < self.n:
                if b > a:  # (a prompt of punctuation alone has nothing to match)
                    tokens = split.words.take(pa.array(split.indices[a:b])).to_pylist()
                    self.short.setdefault(words_key(tokens), set()).add(item_id)
                continue
            long_words.append(split.indices[a:b])
            for value in hashes[a:b - self.n + 1].tolist():
                self.owners.setdefault(value, set()).add(item_id)
        if long_words:
            self.vocab.update(split.words.take(pa.array(np.unique(np.concatenate(long_words)))).to_pylist())
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
        hits = self.match(Split.of(texts).normalised(), prompts)
        return [hits.get(i, set()) for i in range(len(texts))]

    def match(self, split: Split, prompts: list[str] | None = None) -> dict[int, set[str]]:
        """{text index: benchmark ids} for the texts of `split` (Split.of(texts).normalised())
        that match."""
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
                if p and (owners := self.short.get(norm_key(p))):
                    hits.setdefault(i, set()).update(owners)
        return hits
