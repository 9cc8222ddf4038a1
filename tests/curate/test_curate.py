import json
import unicodedata
from pathlib import Path

import pytest

from rlhf_eval.config import CurateConfig, FilterConfig, ToyWorldConfig
from rlhf_eval.curate import steps
from rlhf_eval.curate.ngrams import NgramIndex
from rlhf_eval.curate.stage import EmptyAfterStep, benchmark_index, run_steps
from rlhf_eval.data.pairs import DataError, load_pairs, read_rows
from rlhf_eval.toy.world import build_data


def pair(i, prompt, chosen="a b", rejected="b a", source="s", **extra):
    return {"id": str(i), "source": source, "prompt": prompt, "chosen": chosen, "rejected": rejected,
            "meta": {}, **extra}


def test_exact_dedup_on_history_chosen_rejected():
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
               {"role": "user", "content": "p"}]
    rows = [pair(1, "p"), pair(2, "p", chosen=" a  b "), pair(3, "P"), pair(4, "q"),
            pair(5, history), pair(6, history)]
    kept, dropped = steps.exact_dedup(rows)
    assert [r["id"] for r in kept] == ["1", "4", "5"]
    assert [r["reason"] for r in dropped] == ["duplicate"] * 3


def test_near_dedup_within_and_across_sources():
    text = " ".join(f"word{i}" for i in range(60))
    rows = [pair(1, text, source="a"), pair(2, text + " again", source="b"),
            pair(3, "a completely different question about sorting letters", source="a")]
    kept, dropped = steps.near_dedup(rows, threshold=0.8)
    assert [r["id"] for r in kept] == ["1", "3"]
    assert dropped[0]["near_duplicate_of"] == "1" and dropped[0]["reason"] == "near_duplicate"


def test_decontamination_13_grams_and_short_prompts():
    bench = " ".join(f"w{i}" for i in range(20))
    index = NgramIndex(13)
    index.add(bench, "b1")
    index.add("Short prompt", "b2")
    inside = " ".join(f"w{i}" for i in range(3, 16))      # 13 consecutive benchmark tokens
    near = " ".join(f"w{i}" for i in range(3, 15))        # only 12
    rows = [pair(1, f"intro {inside} outro"), pair(2, near), pair(3, "a short prompt here"),
            pair(4, "short   PROMPT"), pair(5, "x", chosen=f"answer {inside}")]
    kept, dropped = steps.decontaminate(rows, index)
    assert [r["id"] for r in kept] == ["2", "3"]
    assert {r["id"]: r["matched"] for r in dropped} == {"1": ["b1"], "4": ["b2"], "5": ["b1"]}


def test_filter_lengths_and_ties():
    rows = [pair(1, "p", chosen="a", rejected="b c d e"), pair(2, "p", margin=0.0),
            pair(3, "p", margin=1.0), pair(4, "p", chosen="", rejected="x")]
    kept, dropped = steps.length_and_ties(rows, min_tokens=1, max_tokens=3, drop_ties=True)
    assert [r["id"] for r in kept] == ["3"]
    assert [(r["id"], r["reason"]) for r in dropped] == [("1", "too_long"), ("2", "tie"), ("4", "too_short")]


class LengthJudge:
    """A judge that prefers longer responses: enough to check the step's bookkeeping."""
    def score(self, prompts, responses):
        return [float(len(r)) for r in responses]


def test_consistency_keeps_agreeing_recycles_confident_contradictions():
    rows = [pair(1, "p", chosen="long answer", rejected="short"),        # agrees
            pair(2, "p", chosen="x", rejected="much longer answer"),     # contradicted, p ~ 0
            pair(3, "p", chosen="ab", rejected="abc")]                   # contradicted, p = 0.27
    kept, dropped, recycled = steps.consistency(rows, LengthJudge(), threshold=0.5, recycle_above=0.9)
    assert [r["id"] for r in kept] == ["1", "2"] and recycled == 1
    assert kept[1]["chosen"] == "much longer answer" and kept[1]["meta"]["recycled"]
    assert kept[0]["meta"]["judge_margin"] == 6.0
    assert dropped[0]["id"] == "3" and dropped[0]["judge_p"] == pytest.approx(1 / (1 + 2.718281828 ** 1))


def test_select_top_fraction_per_category_with_offsets():
    rows = [pair(i, "p", source=src, score=s, meta={"cat": c})
            for i, (src, s, c) in enumerate([("a", 1.0, "x"), ("a", 0.5, "x"), ("b", 0.9, "x"),
                                             ("b", 0.2, "x"), ("a", 3.0, "y"), ("b", 1.0, "y")])]
    kept, _ = steps.select_top(rows, "score", 0.5, {}, {"b": 0.2}, "cat")
    assert sorted(r["id"] for r in kept) == ["0", "2", "4"]   # x: a 1.0, b 0.9+0.2; y: a 3.0
    kept, _ = steps.select_top(rows, "score", 0.5, {"b": 0.0}, {}, "cat")
    assert sorted(r["id"] for r in kept) == ["0", "1", "4"]


def test_zero_rows_names_the_step():
    cfg = CurateConfig(steps=["dedup", "filter"], filter=FilterConfig(min_tokens=5))
    gone = r"step 'filter' removed every remaining pair \(1 -> 0; too_short from s: 1\)"
    with pytest.raises(EmptyAfterStep, match=gone):
        run_steps([pair(1, "p"), pair(2, "p")], cfg, None)


@pytest.mark.parametrize("row,field,reason", [
    ({"prompt": "p", "rejected": "x"}, "chosen", "missing"),
    ({"prompt": "p", "chosen": "  ", "rejected": "x"}, "chosen", "empty response"),
    ({"prompt": "p", "chosen": "a b", "rejected": "a  b"}, "chosen", "identical to rejected"),
    ({"prompt": 3, "chosen": "a", "rejected": "b"}, "prompt", "expected a string"),
])
def test_malformed_row_error_names_file_row_field(tmp_path, row, field, reason):
    path = tmp_path / "pairs.jsonl"
    good = {"prompt": "p", "chosen": "a", "rejected": "b"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=rf"pairs.jsonl: row 2: field '{field}': {reason}"):
        load_pairs(path, "src")
    dropped = []
    assert len(load_pairs(path, "src", on_bad_row="drop", dropped=dropped)) == 1
    assert dropped == [{"source": "src", "file": str(path), "row": 2, "field": field,
                        "reason": dropped[0]["reason"]}]
    assert dropped[0]["reason"].startswith(reason)


def test_shapes_normalize_to_the_contract(tmp_path):
    user = {"role": "user", "content": "q"}
    rows = [
        {"prompt": [user], "chosen": [{"role": "assistant", "content": "good"}],
         "rejected": [{"role": "assistant", "content": "bad"}], "margin": 2},
        # TRL implicit prompt: whole conversations sharing a prefix
        {"chosen": [user, {"role": "assistant", "content": "good"}],
         "rejected": [user, {"role": "assistant", "content": "bad"}]},
        # multi-turn history, OpenRLHF-style keys mapped by `columns`
        {"input": [user, {"role": "assistant", "content": "a"}, {"role": "user", "content": "more"}],
         "pos": "good", "neg": "bad"},
    ]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(rows))
    out = load_pairs(path, "src", columns={"prompt": "input", "chosen": "pos", "rejected": "neg"})
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in out[:2]] == [("q", "good", "bad")] * 2
    assert out[0]["margin"] == 2.0
    assert out[2]["prompt"][-1] == {"role": "user", "content": "more"} and len(out[2]["prompt"]) == 3


def test_parquet_source(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"prompt": ["p"], "chosen": ["a"], "rejected": ["b"]}), tmp_path / "x.parquet")
    assert load_pairs(str(tmp_path / "x.parquet"), "pq")[0]["chosen"] == "a"


def test_decontamination_removes_exactly_the_planted_leaks(tmp_path):
    info = build_data(ToyWorldConfig(), tmp_path)
    rows = [r for p in info["sources"].values() for r in read_rows(Path(p))]
    index = benchmark_index(["toy_rewardbench"], 13, info)
    kept, dropped = steps.decontaminate(rows, index)
    leaked = {r["id"] for r in rows if r["source"] == "leaked"}
    assert {r["id"] for r in dropped} == leaked and len(leaked) == 200
    for r in dropped:
        assert r["matched"] == [f"toy_rewardbench:{r['meta']['bench_id']}"]


def test_audit_contamination_cli(tmp_path):
    import subprocess
    import sys
    info = build_data(ToyWorldConfig(clean_pairs=50, noisy_pairs=10, length_pairs=10, artifact_pairs=10,
                                     duplicate_pairs=5, leaked_pairs=7, bench_pairs_per_subset=5,
                                     task_prompts=5), tmp_path / "w")
    out = tmp_path / "audit.json"
    bench = info["benchmarks"]["toy_rewardbench"]
    proc = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "audit-contamination",
                           info["sources"]["leaked"], info["sources"]["clean"], "--against", bench,
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{bench}: 7 overlapping rows, hitting 7 benchmark items" in proc.stdout
    report = json.loads(out.read_text())
    rows = report["benchmarks"][bench]["rows"]
    assert report["rows"] == 57 and {r["source"] for r in rows} == {"leaked"}
    proc = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "audit-contamination",
                           info["sources"]["clean"], "--against", bench, "--prompt-column", "question",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "row 1: field 'question' missing" in proc.stderr


def test_retrieval_k_follows_skywork_v2():
    from rlhf_eval.curate.retrieve import retrieval_k
    assert [retrieval_k(p) for p in (0.1, 0.5, 0.51, 0.8, 0.99, 1.0)] == [8, 8, 4, 2, 1, 0]


def test_error_driven_retrieves_neighbours_of_uncertain_seeds():
    from rlhf_eval.curate.retrieve import error_driven
    sure = pair("s1", "alpha beta gamma delta", chosen="a long detailed answer", rejected="no")
    unsure = pair("s2", "zeta eta theta", chosen="x", rejected="a much longer reply")
    pool = [pair("near", "alpha beta gamma delta epsilon", chosen="a long detailed answer", rejected="nah"),
            pair("far1", "completely unrelated words here", chosen="foo", rejected="bar"),
            pair("far2", "zeta eta theta iota", chosen="y", rejected="a much longer reply")]
    got, rest, records = error_driven([sure], pool, LengthJudge(), "tfidf")
    assert [p["id"] for p in got] == ["near"] and records[0]["k"] == 1
    assert sorted(p["id"] for p in rest) == ["far1", "far2"] and rest[0]["reason"] == "not_retrieved"
    got, _, records = error_driven([unsure], pool, LengthJudge(), "tfidf")
    assert records[0]["k"] == 3 and records[0]["retrieved"][0] == "far2"


def test_hub_loader_path_reads_a_dataset_repo_layout(tmp_path):
    # `hf:<id>` goes through datasets.load_dataset; a local folder laid out like a hub dataset
    # repo exercises the same call offline.
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "train.jsonl").write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    rows = load_pairs(f"hf:{repo}", "hub", split="train")
    assert [(r["prompt"], r["chosen"], r["rejected"], r["source"]) for r in rows] == [("p", "a", "b", "hub")]
    with pytest.raises(DataError, match=r"hf:.*cannot load split 'test'"):
        load_pairs(f"hf:{repo}", "hub", split="test")


def test_labels_travel_from_source_rows_to_rl_prompts(tmp_path):
    from rlhf_eval.curate.stage import save_dataset
    from rlhf_eval.data.pairs import parse_row
    from rlhf_eval.rl.stage import rl_prompts

    rows = [{"q": "sort these letters in alphabetical order : b a", "c": "a b", "r": "b a", "answer": "a b"},
            {"q": "sort these letters in alphabetical order : d c", "c": "c d", "r": "d c", "answer": 7}]
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = load_pairs(str(src), "s", columns={"prompt": "q", "chosen": "c", "rejected": "r", "label": "answer"})
    assert [p["label"] for p in pairs] == ["a b", "7"]
    with pytest.raises(DataError, match=r"row 1: field 'label': expected a string, got list"):
        src.write_text(json.dumps(rows[0] | {"answer": ["a"]}) + "\n")
        load_pairs(str(src), "s", columns={"prompt": "q", "chosen": "c", "rejected": "r", "label": "answer"})
    # Saved for TRL: label is a column only when every row has one; margin likewise.
    assert "label" in save_dataset(pairs, tmp_path / "ds") and "margin" not in save_dataset(pairs, tmp_path / "ds2")
    unlabelled = [parse_row({"prompt": "sort these letters in alphabetical order : f e", "chosen": "e f",
                             "rejected": "f e"})]
    assert "label" not in save_dataset(pairs + [p | {"id": "u", "source": "s", "meta": {}} for p in unlabelled],
                                       tmp_path / "ds3")
    data = tmp_path / "curated.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in pairs + unlabelled))
    got = {r["prompt"]: r["label"] for r in rl_prompts(str(data), 10, 0, gold=lambda p: "GOLD:" + p[-3:])}
    assert got == {rows[0]["q"]: "a b", rows[1]["q"]: "7", "sort these letters in alphabetical order : f e": "GOLD:f e"}
    assert {r["label"] for r in rl_prompts(str(data), 10, 0)} == {"a b", "7", ""}


# issue 30, item 16: the audit sees through Unicode tricks
LEAK = ("Sort these letters in alphabetical order and explain every step you take along the way "
        "carefully please")
SHORT = "What is the capital of France"
PERTURBED = {
    "zero-width spaces": lambda t: " ".join(w[:1] + "\u200b" + w[1:] for w in t.split()),
    "soft hyphens": lambda t: " ".join(w[:2] + "\u00ad" + w[2:] for w in t.split()),
    "full-width letters": lambda t: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in t),
    "Cyrillic look-alikes": lambda t: t.translate(str.maketrans("aeopcxyiTHM", "аеорсхуіТНМ")),
    "Greek look-alikes": lambda t: t.translate(str.maketrans("aoiv", "αοιν")),
    "NFD": lambda t: unicodedata.normalize("NFD", t.replace("e", "é")),
    "a comma after every word": lambda t: ", ".join(t.split()),
    "identical": lambda t: t,
}


@pytest.mark.parametrize("how", list(PERTURBED))
def test_decontamination_sees_through_unicode_tricks(how):
    from rlhf_eval.curate.ngrams import NgramIndex
    index = NgramIndex(13)
    index.add(LEAK, "long")
    index.add(LEAK.replace("e", "é"), "accented")
    index.add(SHORT, "short")
    index.add(SHORT.replace("e", "é"), "short-accented")
    perturb = PERTURBED[how]
    rows = [{"id": "p", "source": "s", "prompt": perturb(LEAK), "chosen": "ok", "rejected": "no", "meta": {}},
            {"id": "c", "source": "s", "prompt": "hi", "chosen": "Sure. " + perturb(LEAK), "rejected": "no",
             "meta": {}},
            {"id": "s", "source": "s", "prompt": perturb(SHORT), "chosen": "ok", "rejected": "no", "meta": {}},
            {"id": "clean", "source": "s", "prompt": "Sort these letters: c a b", "chosen": "a b c", "rejected": "c",
             "meta": {}}]
    kept, hits = steps.decontaminate(rows, index)
    assert {h["id"] for h in hits} == {"p", "c", "s"}, how
    assert [k["id"] for k in kept] == ["clean"]


def test_normalised_words_match_one_by_one_and_batched():
    import pyarrow as pa

    from rlhf_eval.curate.ngrams import Split, norm_words
    texts = ["Sort: c, a, b!", "\ufb01ne \uff26ull", "z\u200bero soft\u00adhyphen",
             "\u0405\u043e\u0440t \u041d\u041e\u0422", "caf\u00e9", "cafe\u0301", "", "!!!", "a_b", "x\x1cy",
             " lead", "trail. ", "A-B-C", "w1 w2"]
    assert norm_words("Sort: c, a, b!") == ["sort", "c", "a", "b"]
    assert norm_words("z\u200bero soft\u00adhyphen") == ["zero", "softhyphen"]
    assert norm_words("cafe\u0301") == norm_words("caf\u00e9") == ["caf\u00e9"]
    split = Split.of(texts).normalised()
    got = [split.words.take(pa.array(split.indices[a:b])).to_pylist()
           for a, b in zip([0, *split.ends[:-1]], split.ends)]
    assert got == [norm_words(t) for t in texts]


def test_an_index_built_in_one_batch_equals_one_built_prompt_by_prompt():
    from rlhf_eval.curate.ngrams import norm_key, norm_words, prefix_sums, window_hashes, word_hashes
    texts = [LEAK, SHORT + "?", "!!!", "A \u0455hort \u043ene", " ".join(f"w{i}" for i in range(14)), LEAK.upper()]
    index = NgramIndex(13)
    index.add_all((t, str(i)) for i, t in enumerate(texts))
    owners, short, vocab = {}, {}, set()
    for i, t in enumerate(texts):
        w = norm_words(t)
        if len(w) < 13:
            if w:
                short.setdefault(norm_key(t), set()).add(str(i))
            continue
        vocab.update(w)
        for v in window_hashes(prefix_sums(word_hashes(w)), 13).tolist():
            owners.setdefault(v, set()).add(str(i))
    assert (index.owners, index.short, index.vocab) == (owners, short, vocab)
    assert index.owners and index.short and len(index.short) == 2  # "!!!" has nothing to match
