"""The batched data steps against their plain definitions: words as str.lower().split(), dedup
as a Python set of folded keys, decontamination as a set of n-gram tuples, near-dedup as
datasketch's own MinHashLSH queried and filled one pair at a time."""
import random

import numpy as np
import pytest

from rlhf_eval.curate import steps
from rlhf_eval.curate.ngrams import NgramIndex, Split, prefix_sums, range_hashes, split_words, window_hashes

ODD = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u2003",
       "\u3000", "İ", "ß", "Σ", "é", "A", "b", "Z", "-", "|", "\x00"]


def random_text(rng, alphabet, k):
    return "".join(rng.choice(alphabet) for _ in range(k))


def test_split_words_is_str_lower_split_on_every_kind_of_text():
    rng = random.Random(0)
    texts = ["", "   ", "Plain ASCII words", " padded\tand\nlines ", "a\x1cb", "NO ascii: İstanbul ß"]
    texts += [random_text(rng, ODD + ["x"] * 10, rng.randint(0, 15)) for _ in range(3000)]
    assert split_words(texts).to_pylist() == [t.lower().split() for t in texts]
    ascii_only = [t for t in texts if t.isascii() and not any(c in t for c in "\x1c\x1d\x1e\x1f")]
    assert split_words(ascii_only).to_pylist() == [t.lower().split() for t in ascii_only]


def test_prefix_hashes_equal_horner():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2**63, 500, dtype=np.int64).astype(np.uint64)

    def horner(xs):
        h = 0
        for x in xs:
            h = (h * 1_000_003 + int(x)) % 2**64
        return h
    windows = window_hashes(prefix_sums(values), 13)
    assert [int(h) for h in windows] == [horner(values[i:i + 13]) for i in range(len(values) - 12)]
    starts, ends = np.array([0, 5, 7, 100]), np.array([5, 5, 60, 500])
    assert [int(h) for h in range_hashes(prefix_sums(values), starts, ends)] == [
        horner(values[a:b]) for a, b in zip(starts, ends)]
    split = Split.of(["a b", "", "A  b"])
    text = split.text_hashes()
    assert text[0] == text[2] and text[1] == 0 and text[0] != 0


def random_pairs(rng, n, vocab=60):
    words = [f"w{i}" for i in range(vocab)] + ["Ünï", "straße", "x\x1cy"]

    def text(k):
        return " ".join(rng.choice(words) for _ in range(k))
    out = []
    for i in range(n):
        prompt = text(rng.randint(1, 20))
        if i % 7 == 0:
            prompt = [{"role": "user", "content": text(3)}, {"role": "assistant", "content": text(2)},
                      {"role": "user", "content": prompt}]
        out.append({"id": str(i), "source": "s", "prompt": prompt, "chosen": text(rng.randint(1, 25)),
                    "rejected": text(rng.randint(1, 25)), "meta": {}})
        if i % 5 == 0:   # a copy with case and spacing changed, or with the history's roles changed
            copy = dict(out[-1], id=f"{i}-copy", chosen="  " + out[-1]["chosen"].upper().replace(" ", "\n "))
            out.append(copy)
    return out


def test_dedup_equals_a_set_of_folded_keys():
    pairs = random_pairs(random.Random(1), 3000, vocab=8)

    def key(p):
        fold = " ".join
        history = fold(p["prompt"].lower().split()) if isinstance(p["prompt"], str) else tuple(
            (m["role"], fold(m["content"].lower().split())) for m in p["prompt"])
        return history, fold(p["chosen"].lower().split()), fold(p["rejected"].lower().split())
    seen, expected = set(), []
    for p in pairs:
        if key(p) not in seen:
            seen.add(key(p))
            expected.append(p["id"])
    kept, dropped = steps.exact_dedup(pairs)
    assert [p["id"] for p in kept] == expected
    assert len(dropped) == len(pairs) - len(expected) > 200


def test_decontamination_equals_a_set_of_ngram_tuples():
    rng = random.Random(2)
    pairs = random_pairs(rng, 2000, vocab=12)
    bench = [" ".join(rng.choice(["w1", "w2", "w3", "w4", "Ünï"]) for _ in range(rng.randint(4, 9)))
             for _ in range(30)]
    n = 4
    index = NgramIndex(n)
    grams = {}
    for i, b in enumerate(bench):
        index.add(b, f"b{i}")
        t = b.lower().split()
        for j in range(len(t) - n + 1):
            grams.setdefault(tuple(t[j:j + n]), set()).add(f"b{i}")
    expected = {}
    for p in pairs:
        prompt = p["prompt"] if isinstance(p["prompt"], str) else "\n".join(m["content"] for m in p["prompt"])
        found = set()
        for text in (prompt, p["chosen"], p["rejected"]):
            t = text.lower().split()
            for j in range(len(t) - n + 1):
                found |= grams.get(tuple(t[j:j + n]), set())
        if found:
            expected[p["id"]] = sorted(found)
    kept, dropped = steps.decontaminate(pairs, index)
    assert {p["id"]: p["matched"] for p in dropped} == expected
    assert 0 < len(dropped) < len(pairs) and len(kept) + len(dropped) == len(pairs)


@pytest.mark.parametrize("threshold,slice_rows", [(0.5, 65536), (0.8, 65536), (0.8, 7)])
def test_near_dedup_equals_datasketch_lsh_one_pair_at_a_time(threshold, slice_rows, monkeypatch):
    from datasketch import MinHash, MinHashLSH

    from rlhf_eval.curate import decide
    monkeypatch.setattr(decide, "SLICE", slice_rows)  # 7: the decision loop runs over many slices
    rng = random.Random(3)
    base = random_pairs(rng, 400, vocab=400)
    pairs = []
    for i, p in enumerate(base):
        if i % 4 == 3:     # a near copy of an earlier pair: a few words changed
            source = pairs[rng.randrange(len(pairs))]
            words = source["chosen"].split()
            for _ in range(rng.randint(0, 3)):
                words[rng.randrange(len(words))] = "edited"
            p = dict(source, id=f"{i}-near", chosen=" ".join(words))
        pairs.append(p)
    lsh = MinHashLSH(threshold=threshold, num_perm=64)
    kept, dropped = [], []
    for p in pairs:
        prompt = p["prompt"] if isinstance(p["prompt"], str) else "\n".join(m["content"] for m in p["prompt"])
        toks = " | ".join([prompt, p["chosen"], p["rejected"]]).lower().split()
        m = MinHash(num_perm=64)
        m.update_batch([" ".join(toks[i:i + 3]).encode() for i in range(max(1, len(toks) - 2))])
        close = lsh.query(m)
        if close:
            dropped.append((p["id"], kept[min(int(k) for k in close)]))
        else:
            lsh.insert(str(len(kept)), m)
            kept.append(p["id"])
    ours_kept, ours_dropped = steps.near_dedup(pairs, threshold=threshold, num_perm=64, minhash="datasketch")
    assert [p["id"] for p in ours_kept] == kept
    assert [(p["id"], p["near_duplicate_of"]) for p in ours_dropped] == dropped
    assert len(dropped) > 80


def test_threads_give_the_same_features():
    pairs = random_pairs(random.Random(4), 5000, vocab=30)
    index = NgramIndex(3)
    index.add("w1 w2 w3 w4", "b")
    one = steps.evidence(pairs, set(steps.features.DATA_STEPS), index, (0.8, 32, 3, "numpy"), threads=1)
    two = steps.evidence(pairs, set(steps.features.DATA_STEPS), index, (0.8, 32, 3, "numpy"), threads=2)
    assert one["decontaminate"] == two["decontaminate"] and np.array_equal(one["filter"], two["filter"])
    for key in ("dedup", "near_dedup"):
        assert [g.tolist() for g in one[key].as_list()] == [g.tolist() for g in two[key].as_list()]


def test_removed_rows_decide_as_a_boolean_alive_does():
    """The Ray engine's stage process holds the removed rows (decide.Removed), not a byte per
    row: every step decides the same with either."""
    from rlhf_eval.curate import decide
    rng = np.random.default_rng(5)
    n = 5000
    groups = decide.Groups.of([np.unique(rng.integers(0, n, rng.integers(2, 6))) for _ in range(600)])
    groups = decide.Groups.of([g for g in groups.as_list() if len(g) > 1])
    gone = np.unique(rng.integers(0, n, 700))
    alive = np.ones(n, bool)
    alive[gone] = False
    removed = decide.Removed()
    removed.add(gone[::2], np.full(len(gone[::2]), 3, np.int8))
    removed.add(gone[1::2], np.full(len(gone[1::2]), 1, np.int8))
    assert np.array_equal(removed.rows, gone) and set(removed.codes[::2].tolist()) <= {1, 3}
    rows = rng.integers(0, n, 2000)
    assert np.array_equal(removed[rows], alive[rows])
    assert np.array_equal(decide.dedup(removed, groups), decide.dedup(alive, groups))
    ours, theirs = decide.near_dedup(removed, groups), decide.near_dedup(alive, groups)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs)) and len(ours[0]) > 100
    assert np.array_equal(decide.decontaminate(removed, rows), decide.decontaminate(alive, rows))
    inside, codes = removed.between(1000, 2000)
    assert np.array_equal(inside, gone[(gone >= 1000) & (gone < 2000)]) and len(codes) == len(inside)
    assert decide.Removed()[np.array([0, 7])].all()  # nothing removed yet: every row alive
