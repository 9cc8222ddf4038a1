import json
import random

import pytest

from rlhf_eval.curate import steps
from rlhf_eval.data.pairs import DataError, load_pairs


def pair(i, prompt, chosen="a b", rejected="b a", source="s"):
    return {"id": str(i), "source": source, "prompt": prompt, "chosen": chosen, "rejected": rejected, "meta": {}}


def test_exact_dedup_counts_whitespace_and_case_copies():
    rows = [pair(1, "p"), pair(2, "p", chosen=" a  b "), pair(3, "P"), pair(4, "q")]
    kept, dropped = steps.exact_dedup(rows)
    assert [r["id"] for r in kept] == ["1", "4"]
    assert [r["reason"] for r in dropped] == ["duplicate", "duplicate"]


def test_decontamination_13_grams():
    bench = " ".join(f"w{i}" for i in range(20))
    index = steps.NgramIndex(13)
    index.add(bench, "b1")
    index.add("short prompt", "b2")
    inside = " ".join(f"w{i}" for i in range(3, 16))      # 13 consecutive benchmark tokens
    near = " ".join(f"w{i}" for i in range(3, 15))        # only 12
    rows = [pair(1, f"intro {inside} outro"), pair(2, near), pair(3, "a short prompt here")]
    kept, dropped = steps.decontaminate(rows, index)
    assert [r["id"] for r in kept] == ["2"]
    assert {r["id"]: r["matched"] for r in dropped} == {"1": ["b1"], "3": ["b2"]}


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
    dropped = {}
    assert len(load_pairs(path, "src", on_bad_row="drop", dropped=dropped)) == 1
    assert sum(dropped.values()) == 1


def test_chat_message_rows_are_normalized(tmp_path):
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"prompt": [{"role": "user", "content": "q"}],
                                 "chosen": [{"role": "assistant", "content": "good"}],
                                 "rejected": [{"role": "assistant", "content": "bad"}], "margin": 2}]))
    (row,) = load_pairs(path, "src")
    assert (row["prompt"], row["chosen"], row["rejected"], row["margin"]) == ("q", "good", "bad", 2.0)


def test_toy_sources_leak_and_duplicate_as_planted():
    from rlhf_eval.config import ToyWorldConfig
    from rlhf_eval.toy.world import build_data
    import tempfile
    from pathlib import Path
    from rlhf_eval.data.pairs import read_rows
    cfg = ToyWorldConfig(clean_pairs=200, noisy_pairs=50, length_pairs=50, artifact_pairs=50,
                         duplicate_pairs=30, leaked_pairs=20, bench_pairs_per_subset=10, task_prompts=20)
    with tempfile.TemporaryDirectory() as d:
        info = build_data(cfg, Path(d))
        rows = [r for name, p in info["sources"].items() for r in read_rows(Path(p))]
        bench = read_rows(Path(info["benchmarks"]["toy_rewardbench"]))
    kept, dups = steps.exact_dedup(rows)
    assert len(dups) == 30
    index = steps.NgramIndex(13)
    for b in bench:
        index.add(b["prompt"], b["id"])
    kept, leaked = steps.decontaminate(kept, index)
    assert {r["source"] for r in leaked} == {"leaked"} and len(leaked) == 20
    random.seed(0)
