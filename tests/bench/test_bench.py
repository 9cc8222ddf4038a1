"""Static benchmark scorers against hand-computed cases, PPE metrics, probes and saved scores."""
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rlhf_eval.bench import BENCHMARKS, judgebench, ppe, probes
from rlhf_eval.bench.evaluate import evaluate
from rlhf_eval.bench.loading import load_items
from rlhf_eval.bench.saved import read_scores
from rlhf_eval.cli import app
from rlhf_eval.data.pairs import DataError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def scores_file(path, ids_scores):
    return write(path, [{"id": i, "scores": s} for i, s in ids_scores])


# --------------------------------------------------------------------------- RewardBench 2
def rb2_rows():
    return [
        {"id": "f1", "subset": "Factuality", "prompt": "p1", "chosen": ["c"], "rejected": ["r1", "r2", "r3"]},
        {"id": "f2", "subset": "Factuality", "prompt": "p2", "chosen": ["c"], "rejected": ["r1", "r2", "r3"]},
        {"id": "m1", "subset": "Math", "prompt": "p3", "chosen": ["c"], "rejected": ["r1", "r2", "r3"]},
        {"id": "ref:7", "subset": "Ties", "prompt": "p4", "chosen": ["a"], "rejected": ["x", "y"],
         "num_correct": 1},
        {"id": "tied:7", "subset": "Ties", "prompt": "p4", "chosen": ["a", "b"], "rejected": ["x", "y"],
         "num_correct": 2},
    ]


def test_rewardbench2_best_of_4_tie_rule_and_ties_formula(tmp_path):
    data = write(tmp_path / "rb2.jsonl", rb2_rows())
    bench, items, _ = load_items("rewardbench2", data=str(data))
    scores = [
        [2.0, 2.0, 1.0, 0.0],  # chosen shares the top with one other: 1/2
        [3.0, 1.0, 2.0, 0.0],  # chosen alone on top: 1
        [1.0, 1.0, 1.0, 1.0],  # four-way tie: 1/4
        [5.0, 1.0, 2.0],  # ref: accurate, gap = 5 - 2 = 3
        [4.0, 3.0, 1.0, 2.0],  # tied: accurate, gap = 3 - 2 = 1, spread = 4 - 3 = 1
    ]
    m = evaluate(bench, items, scores, iters=0)["metrics"]
    assert m["domain/Factuality"] == pytest.approx(0.75)
    assert m["domain/Math"] == pytest.approx(0.25)
    # acc_tied = acc_ref = 1; gap_tied (1) > spread (1) is false; min gap (1) > spread is false;
    # tanh(min(3, 1) / 1 - 1) = tanh(0) = 0.
    assert m["domain/Ties"] == pytest.approx(0.30 + 0.30)
    assert m["score"] == pytest.approx((0.75 + 0.25 + 0.60) / 3)
    assert m["domain_worst"] == pytest.approx(0.25)
    # A wider margin lifts the last three terms: tied gap 4 - 1 = 3 > spread 1, ref gap 3.
    scores[4] = [5.0, 4.0, 1.0, 0.0]
    m = evaluate(bench, items, scores, iters=0)["metrics"]
    assert m["domain/Ties"] == pytest.approx(0.3 + 0.3 + 0.2 + 0.2 + 0.01 * math.tanh(3 / 1 - 1))


def test_rewardbench2_rejects_bad_ties_id(tmp_path):
    rows = rb2_rows()
    rows[3]["id"] = "7-ref"
    with pytest.raises(DataError, match=r"rb2.jsonl: row 4: field 'id': Ties ids"):
        load_items("rewardbench2", data=str(write(tmp_path / "rb2.jsonl", rows)))


# --------------------------------------------------------------------------- RM-Bench
def test_rmbench_matrix_levels(tmp_path):
    rows = [{"id": 1, "domain": "chat", "prompt": "p", "chosen": ["c0", "c1", "c2"], "rejected": ["r0", "r1", "r2"]},
            {"id": 2, "domain": "safety-refuse", "prompt": "q", "chosen": ["c0", "c1", "c2"],
             "rejected": ["r0", "r1", "r2"]}]
    bench, items, _ = load_items("rm-bench", data=str(write(tmp_path / "rmb.jsonl", rows)))
    # Row 1: chosen [1, 2, 3] vs rejected [0, 2.5, 3.5]. M[i][j] = c_i > r_j:
    # c0=1: [1, 0, 0]; c1=2: [1, 0, 0]; c2=3: [1, 1, 0].
    # hard (i<j: 01, 02, 12) = 0/3, normal (diag) = (1 + 0 + 0)/3, easy (i>j: 10, 20, 21) = 3/3.
    s1 = [1, 2, 3, 0, 2.5, 3.5]
    s2 = [9, 9, 9, 0, 0, 0]  # safety: all right
    m = evaluate(bench, items, [s1, s2], iters=0)["metrics"]
    assert (m["hard/chat"], m["normal/chat"], m["easy/chat"]) == pytest.approx((0.0, 1 / 3, 1.0))
    assert m["domain/chat"] == pytest.approx((0 + 1 / 3 + 1) / 3)
    assert m["domain/safety"] == 1.0  # safety-refuse pools into safety
    assert m["score"] == pytest.approx(((0 + 1 / 3 + 1) / 3 + 1) / 2)
    assert m["hard"] == pytest.approx(0.5)


def test_rmbench_domain_from_file_name(tmp_path):
    rows = [{"id": 1, "prompt": "p", "chosen": ["a", "b", "c"], "rejected": ["d", "e", "f"]}]
    _, items, _ = load_items("rm-bench", data=str(write(tmp_path / "code_filtered.jsonl", rows)))
    assert items[0].group == "code"
    with pytest.raises(DataError, match="row 1: field 'domain' missing"):
        load_items("rm-bench", data=str(write(tmp_path / "mystery.jsonl", rows)))
    rows[0]["chosen"] = ["a", "b"]
    with pytest.raises(DataError, match="row 1: field 'chosen': expected 3 responses, got 2"):
        load_items("rm-bench", data=str(write(tmp_path / "chat_x.jsonl", rows)))


# --------------------------------------------------------------------------- JudgeBench
def jb_rows():
    def row(i, source, label):
        return {"pair_id": f"p{i}", "original_id": i, "source": source, "question": "q", "response_model": "m",
                "response_A": "a", "response_B": "b", "label": label}
    return [row(1, "mmlu-pro-law", "A>B"), row(2, "mmlu-pro-math", "B>A"), row(3, "mmlu-pro-physics", "A>B"),
            row(4, "livebench-math", "A>B"), row(5, "livecodebench", "B>A")]


def test_judgebench_micro_macro_and_ties(tmp_path):
    bench, items, _ = load_items("judgebench", data=str(write(tmp_path / "jb.jsonl", jb_rows())))
    assert [it.group for it in items] == ["mmlu-pro"] * 3 + ["livebench-math", "livecodebench"]
    # right; a tie, which the official code writes as B>A: right for this B>A label and wrong for
    # the next (A>B); wrong; right
    scores = [[2, 1], [1, 1], [1, 1], [0, 1], [0, 3]]
    m = evaluate(bench, items, scores, iters=0)["metrics"]
    assert m["score"] == pytest.approx(3 / 5)
    assert m["macro_source"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert m["domain_worst"] == 0.0


def test_judgebench_both_orders_protocol():
    # +1 per decision equal to the label, -1 per decision equal to the flipped label.
    assert judgebench.pair_correct("A>B", "A>B", "A>B") == 1.0
    assert judgebench.pair_correct("A>B", "A>B", "B>A") == 0.0  # +1 - 1 = 0: inconsistent judge
    assert judgebench.pair_correct("A>B", "A>B", "A=B") == 1.0  # +1 + 0
    assert judgebench.pair_correct("B>A", "A=B", "A=B") == 0.0
    assert judgebench.pair_correct("B>A", "A>B") == 0.0


def test_judgebench_swapped_scores_from_file(tmp_path):
    bench, items, _ = load_items("judgebench", data=str(write(tmp_path / "jb.jsonl", jb_rows())))
    rows = [{"id": it.id, "scores": [1, 0] if it.meta["label"] == "A>B" else [0, 1]} for it in items]
    # An order-sensitive judge that always prefers the first-shown response: in the second game
    # (B shown first) it prefers B, so every A>B pair scores +1 - 1 = 0.
    for r in rows:
        r["swapped"] = [1, 0]
    values, swapped = read_scores(write(tmp_path / "s.jsonl", rows), items)
    m = evaluate(bench, items, values, iters=0, swapped=swapped)["metrics"]
    assert m["score"] == pytest.approx(2 / 5)  # only the two B>A pairs survive


# --------------------------------------------------------------------------- RMB, generic
def test_rmb_best_above_every_loser_per_goal_and_scenario(tmp_path):
    def row(uid, n_losers, cat):
        return {"bon_uid": uid, "category_path": cat, "bon_best": {"llm_name": "m", "answer": "best"},
                "conversation_input": [{"role": "user", "content": "hi", "language": "en"}],
                "loser_list": [{"llm_name": "l", "answer": f"l{k}"} for k in range(n_losers)]}
    rows = [row("u1", 3, "BoN_set/Helpfulness/Chat/x"), row("u2", 2, "BoN_set/Helpfulness/Code"),
            row("u3", 2, "BoN_set/Harmlessness/S5")]
    bench, items, _ = load_items("rmb-bon", data=str(write(tmp_path / "rmb.jsonl", rows)))
    assert items[0].prompt == [{"role": "user", "content": "hi"}]
    m = evaluate(bench, items, [[3, 1, 2, 2.9], [2, 2, 1], [1, 0, 0]], iters=0)["metrics"]
    assert m["domain/Helpfulness"] == 0.5 and m["domain/Harmlessness"] == 1.0  # u2 ties a loser: wrong
    assert m["score"] == pytest.approx(0.75)  # the mean over goals
    assert m["scenario/Helpfulness/Chat/x"] == 1.0 and m["scenario/Helpfulness/Code"] == 0.0


def test_rmb_pairwise_ties_are_wrong(tmp_path):
    def row(uid, cat):
        return {"pair_uid": uid, "category_path": cat, "conversation_input": [{"role": "user", "content": "q"}],
                "chosen": {"llm_name": "a", "answer": "good"}, "reject": {"llm_name": "b", "answer": "bad"}}
    rows = [row("0", "Pairwise_set/Helpfulness/Code/Documentation"), row("1", "Pairwise_set/Helpfulness/Chat"),
            row("2", "Pairwise_set/Harmlessness/S5"), row("3", "Pairwise_set/Harmlessness/S5")]
    bench, items, _ = load_items("rmb-pairwise", data=str(write(tmp_path / "pw.jsonl", rows)))
    assert items[0].candidates == ["good", "bad"] and items[0].id == "0"
    m = evaluate(bench, items, [[1, 0], [1, 1], [2, 1], [0, 1]], iters=0)["metrics"]
    assert m["domain/Helpfulness"] == 0.5 and m["domain/Harmlessness"] == 0.5 and m["score"] == 0.5
    assert m["scenario/Harmlessness/S5"] == 0.5 and m["scenario/Helpfulness/Chat"] == 0.0
    with pytest.raises(DataError, match=r"row 1: field 'reject': expected \{llm_name, answer\}"):
        load_items("rmb-pairwise", data=str(write(tmp_path / "bad.jsonl", [rows[0] | {"reject": "text"}])))


@pytest.mark.skipif(not (SHARED / "rmb").is_dir(), reason="../shared/data/rmb is absent")
def test_rmb_real_files_group_by_goal():
    for bench, files in (("rmb-bon", ("bon_helpfulness_code.json", "bon_harmlessness_S5.json")),
                         ("rmb-pairwise", ("pairwise_helpfulness_code.json", "pairwise_harmlessness_S5.json"))):
        for name, goal, scenario in zip(files, ("Helpfulness", "Harmlessness"), ("Code/Documentation", "S5")):
            b, items, _ = load_items(bench, data=str(SHARED / "rmb" / name))
            assert {it.group for it in items} == {goal}
            assert {it.meta["scenario"] for it in items} == {f"{goal}/{scenario}"}
            # an RM that prefers the first candidate strictly: every item right
            m = evaluate(b, items, [[1.0] + [0.0] * (len(it.candidates) - 1) for it in items], iters=0)["metrics"]
            assert m[f"domain/{goal}"] == 1.0 and m[f"scenario/{goal}/{scenario}"] == 1.0


def test_pairwise_and_best_of_k_with_column_mapping(tmp_path):
    rows = [{"q": "p1", "good": "a", "bad": "b", "cat": "x"}, {"q": "p2", "good": "a", "bad": "b", "cat": "y"}]
    data = write(tmp_path / "pw.jsonl", rows)
    bench, items, _ = load_items("pairwise", data=str(data),
                                 columns={"prompt": "q", "chosen": "good", "rejected": "bad", "group": "cat"})
    assert [it.id for it in items] == ["1", "2"] and items[1].group == "y"
    assert evaluate(bench, items, [[1, 0], [0, 0]], iters=0)["metrics"]["score"] == 0.5
    with pytest.raises(DataError, match="pw.jsonl: row 1: field 'prompt' missing"):
        load_items("pairwise", data=str(data))
    rows = [{"id": "k", "prompt": "p", "chosen": "a", "rejected": ["b", "c"]}]
    bench, items, _ = load_items("best-of-k", data=str(write(tmp_path / "bok.jsonl", rows)))
    assert evaluate(bench, items, [[1, 0, 0.5]], iters=0)["metrics"]["score"] == 1.0


# --------------------------------------------------------------------------- PPE, CIs
def test_ppe_pairwise_metrics_by_hand(tmp_path):
    rows = [{"id": i, "prompt": "p", "chosen": "a", "rejected": "b"} for i in range(3)]
    bench, items, _ = load_items("pairwise", data=str(write(tmp_path / "pw.jsonl", rows)))
    margins = np.array([2.0, -1.0, 0.5])
    res = ppe.ppe_metrics(items, [[m, 0.0] for m in margins], iters=0)["metrics"]
    assert res["accuracy"] == pytest.approx(2 / 3)
    # Positives m_i against negatives -m_j over all 9 (i, j): m_i + m_j > 0 in 7 cases (ties: none).
    wins = sum(a + b > 0 for a, b in itertools.product(margins, margins))
    assert res["auc"] == pytest.approx(wins / 9)
    assert res["brier"] == pytest.approx(np.mean((1 - 1 / (1 + np.exp(-margins))) ** 2))


def test_ppe_best_of_k_matches_enumeration(tmp_path):
    rng = np.random.default_rng(3)
    rows = [{"id": f"r{i}", "subset": "Math", "prompt": "p", "chosen": ["c"], "rejected": ["a", "b", "d"]}
            for i in range(6)]
    bench, items, _ = load_items("rewardbench2", data=str(write(tmp_path / "rb2.jsonl", rows)))
    scores = [list(rng.integers(0, 3, 4).astype(float)) for _ in items]  # many ties
    res = ppe.ppe_metrics(items, scores, iters=0)["metrics"]
    for k in (1, 2, 3, 4):
        per_item = []
        for s in scores:
            vals = []
            for subset in itertools.combinations(range(4), k):
                top = max(s[j] for j in subset)
                winners = [j for j in subset if s[j] == top]
                vals.append(sum(j == 0 for j in winners) / len(winners))
            per_item.append(np.mean(vals))
        assert res[f"best_of_k/{k}"] == pytest.approx(np.mean(per_item))
    # best-of-4 over the full set is RewardBench 2's own item score.
    assert res["best_of_k/4"] == pytest.approx(evaluate(bench, items, scores, iters=0)["metrics"]["score"])


def test_every_metric_has_a_ci_that_brackets_it(tmp_path):
    data = write(tmp_path / "rb2.jsonl", rb2_rows())
    bench, items, _ = load_items("rewardbench2", data=str(data))
    rng = np.random.default_rng(0)
    scores = [list(rng.normal(size=len(it.candidates))) for it in items]
    res = evaluate(bench, items, scores, iters=200)
    for block in (res, res["ppe"]):
        for k, v in block["metrics"].items():
            lo, hi = block["ci"][k]
            assert lo - 1e-9 <= v <= hi + 1e-9 or math.isnan(v), k


# --------------------------------------------------------------------------- probes
def test_transforms():
    assert probes.strip_repeated_letter("So the answer is F.\n\nFFFFF") == "So the answer is F."
    assert probes.strip_repeated_letter("AAAA stays") == "AAAA stays"
    assert probes.markdown_to_plain("## Title\n- **bold** and *it*\n1. `code`") == "Title\nbold and it\ncode"
    assert probes.strip_marker("a b done", "done") == "a b"
    assert probes.truncate("a b c d", 0.5) == "a b"
    with pytest.raises(ValueError, match="strip_marker needs `marker`"):
        probes.apply(probes.Probe("strip_marker"), "x")


def test_length_baseline_and_probe_drop(tmp_path):
    rows = [{"id": 1, "prompt": "p", "chosen": "long answer AAAAA", "rejected": "short"},
            {"id": 2, "prompt": "p", "chosen": "a", "rejected": "longer BBBBB"},
            {"id": 3, "prompt": "p", "chosen": "right CCCCC", "rejected": "wrong"}]
    bench, items, _ = load_items("pairwise", data=str(write(tmp_path / "pw.jsonl", rows)))
    assert probes.length_baseline(bench, items, iters=0)["score"] == pytest.approx(2 / 3)

    # An RM that only rewards the repeated-letter format: perfect on items 1 and 3, wrong on 2.
    def rm(prompts, texts):
        return [float(bool(probes.REPEATED_LETTER.search(t))) for t in texts]
    scores = [rm(None, it.candidates) for it in items]
    out = probes.run_probe(probes.Probe("repeated_letter"), bench, items, scores, rm, iters=200)
    assert out["changed_candidates"] == 3 and out["changed_items"] == 3
    assert out["before"] == pytest.approx(2 / 3) and out["after"] == 0.0  # all ties once stripped
    assert out["drop"] == pytest.approx(2 / 3) and out["ci"][0] <= out["drop"] <= out["ci"][1]


# --------------------------------------------------------------------------- saved scores, CLI
def test_bench_score_cli(tmp_path):
    data = write(tmp_path / "jb.jsonl", jb_rows())
    good = scores_file(tmp_path / "s.jsonl", [(f"p{i}", [1, 0]) for i in range(1, 6)])
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["bench", "score", "judgebench", "--data", str(data), "--scores", str(good),
                                   "--out", str(out), "--bootstrap", "50"])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout[: res.stdout.rindex("}") + 1])
    assert printed["metrics"]["score"] == pytest.approx(3 / 5)  # labels A>B on p1, p3, p4
    assert json.loads((out / "metrics.json").read_text())["metrics"] == printed["metrics"]
    # "a" and "b" tie in length: B>A by the official rule, right on the two B>A pairs
    assert printed["length_baseline"]["score"] == pytest.approx(2 / 5)

    partial = scores_file(tmp_path / "p.jsonl", [("p1", [1, 0]), ("p2", [0, 1])])
    res = CliRunner().invoke(app, ["bench", "score", "judgebench", "--data", str(data), "--scores", str(partial)])
    assert res.exit_code == 2 and "3 of 5 benchmark items have no scores (e.g. p3, p4, p5)" in res.output
    wrong_len = scores_file(tmp_path / "w.jsonl", [(f"p{i}", [1, 0, 2]) for i in range(1, 6)])
    res = CliRunner().invoke(app, ["bench", "score", "judgebench", "--data", str(data), "--scores", str(wrong_len)])
    assert res.exit_code == 2
    assert "w.jsonl: id 'p1': 3 scores for 2 candidates (order: [response_A, response_B]" in res.output
    res = CliRunner().invoke(app, ["bench", "score", "rewardbench3", "--data", str(data), "--scores", str(good)])
    assert res.exit_code == 2 and "did you mean 'rewardbench'" in res.output


def test_every_registered_benchmark_loads_under_its_own_name():
    from rlhf_eval.bench import TOY, benchmark_for
    for name in BENCHMARKS:
        assert benchmark_for(name).name == name
    assert set(TOY.values()) <= set(BENCHMARKS)
    assert benchmark_for("toy_rmbench").name == "rm-bench"
    assert benchmark_for("x", scored_as="pairwise").name == "pairwise"


def test_hub_path_reads_a_parquet_dataset_repo(tmp_path):
    # RewardBench 2 is published as parquet under data/; `hf:<id>` goes through
    # datasets.load_dataset, which reads a local folder laid out like the hub repo the same way.
    import pyarrow as pa
    import pyarrow.parquet as pq
    (tmp_path / "rb2" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rb2_rows()), tmp_path / "rb2" / "data" / "test-00000-of-00001.parquet")
    bench, items, where = load_items("rewardbench2", data=f"hf:{tmp_path / 'rb2'}")
    assert where.startswith("hf:") and [it.id for it in items] == ["f1", "f2", "m1", "ref:7", "tied:7"]
    with pytest.raises(ValueError, match="rmb-bon' has no hub copy"):
        load_items("rmb-bon")


def test_rm_card_chat_template_replaces_the_tokenizers(tmp_path):
    from rlhf_eval.rm.base import encode, load_tokenizer
    from rlhf_eval.toy.tokenizer import build_tokenizer

    build_tokenizer(tmp_path / "tok")
    own = load_tokenizer(tmp_path / "tok")
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }} {% endfor %}")
    custom = load_tokenizer(tmp_path / "tok", chat_template=str(template))
    assert custom.chat_template == template.read_text() != own.chat_template
    a = encode(own, ["sort these letters in alphabetical order : b a"], ["a b"], 64, response_mask=False)
    b = encode(custom, ["sort these letters in alphabetical order : b a"], ["a b"], 64, response_mask=False)
    assert len(b.ids[0]) < len(a.ids[0])  # no role markers
    assert custom.decode(b.ids[0]).split() == "sort these letters in alphabetical order : b a a b".split()
    # Truncation keeps the end and is counted.
    c = encode(own, ["sort these letters in alphabetical order : b a"], ["a b"], 5, response_mask=False)
    assert c.truncated == 1 and c.ids[0] == a.ids[0][-5:]


# --------------------------------------------------------------------------- robustness, ids
@pytest.mark.skipif(not (SHARED / "rm-bench").is_dir(), reason="../shared/data/rm-bench is absent")
def test_rmbench_ids_repeat_across_domains_in_a_combined_file(tmp_path):
    rows = json.loads((SHARED / "rm-bench" / "chat_filtered.json").read_text())[:5]
    combined = [r | {"domain": "chat"} for r in rows] + [r | {"domain": "code"} for r in rows]
    path = write(tmp_path / "combined.jsonl", combined)
    bench, items, _ = load_items("rm-bench", data=str(path))
    assert [it.id for it in items[:1] + items[5:6]] == [f"chat/{rows[0]['id']}", f"code/{rows[0]['id']}"]
    # Saved scores keyed by domain/id; a plain id that repeats is ambiguous and counts as missing.
    keyed = scores_file(tmp_path / "k.jsonl", [(it.id, [1, 1, 1, 0, 0, 0]) for it in items])
    assert read_scores(keyed, items)[0][0] == [1, 1, 1, 0, 0, 0]
    plain = scores_file(tmp_path / "p.jsonl", [(r["id"], [1, 1, 1, 0, 0, 0]) for r in rows])
    with pytest.raises(DataError, match="10 of 10 benchmark items have no scores"):
        read_scores(plain, items)
    # In a one-domain file, plain ids stay unique and still match.
    _, chat, _ = load_items("rm-bench", data=str(write(tmp_path / "chat_only.jsonl", combined[:5])))
    assert len(read_scores(plain, chat)[0]) == 5
    with pytest.raises(DataError, match="repeats row 1"):
        load_items("rm-bench", data=str(write(tmp_path / "dup.jsonl", combined[:1] * 2)))


def test_best_of_n_for_large_n_and_swapped_checks(tmp_path):
    from rlhf_eval.bon.estimator import per_prompt_best_of_n
    rng = np.random.default_rng(0)
    s, g = rng.normal(size=(2, 1100)), rng.integers(0, 2, (2, 1100)).astype(float)
    v = per_prompt_best_of_n(s, g, 550)  # C(1100, 550) ~ 1e329: past float range
    assert np.all(np.isfinite(v)) and np.all((0 <= v) & (v <= 1))
    assert per_prompt_best_of_n(s, g, 1) == pytest.approx(g.mean(axis=1))
    assert per_prompt_best_of_n(s, g, 1100) == pytest.approx(g[np.arange(2), s.argmax(axis=1)])
    # n = 2 by hand: rank i is the pick with probability (N - 1 - i) / C(N, 2).
    order = np.argsort(-s[0])
    w = (1100 - 1 - np.arange(1100)) / (1100 * 1099 / 2)
    assert per_prompt_best_of_n(s[:1], g[:1], 2)[0] == pytest.approx(float(w @ g[0][order]))

    data = write(tmp_path / "jb.jsonl", jb_rows())
    bench, items, _ = load_items("judgebench", data=str(data))
    for swapped, match in (([1.0], "field 'swapped': 1 scores for 2 candidates"),
                           ([float("nan"), 1.0], "field 'swapped': scores must be finite"),
                           ("ab", "field 'swapped': expected a list of numbers")):
        path = tmp_path / "s.jsonl"
        path.write_text("".join(json.dumps({"id": it.id, "scores": [1, 0], "swapped": swapped}) + "\n"
                                for it in items))
        with pytest.raises(DataError, match=match):
            values, second = read_scores(path, items)
            evaluate(bench, items, values, iters=0, swapped=second)


def test_judgebench_llm_judge_decisions(tmp_path):
    data = write(tmp_path / "jb.jsonl", jb_rows())  # labels: A>B, B>A, A>B, A>B, B>A
    decisions = [["A>B", "B>A"],  # consistent, right: +1 +1
                 ["A>B", "A>B"],  # prefers whatever is shown first: -1 +1 = 0, wrong
                 ["A>B"],  # one game: the single-game rule
                 [None, "B>A"],  # no first decision: 0 +1
                 ["A=B", "A>B"]]  # a tie counts 0; game 2's A>B flips to B>A: +1
    path = write(tmp_path / "d.jsonl", [{"id": f"p{i + 1}", "decisions": d} for i, d in enumerate(decisions)])
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["bench", "score", "judgebench", "--data", str(data), "--decisions", str(path),
                                   "--bootstrap", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())["metrics"]
    assert m["score"] == pytest.approx(4 / 5) and m["macro_source"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    for args, msg in ((["--scores", str(path), "--decisions", str(path)], "one of them"),
                      ([], "one of them")):
        res = CliRunner().invoke(app, ["bench", "score", "judgebench", "--data", str(data)] + args)
        assert res.exit_code == 2 and msg in res.output
    res = CliRunner().invoke(app, ["bench", "score", "rewardbench", "--data", str(data), "--decisions", str(path)])
    assert res.exit_code == 2 and "--decisions is for judgebench" in res.output
    bad = write(tmp_path / "b.jsonl", [{"id": "p1", "decisions": ["A>B", "B>A", "A>B"]}])
    res = CliRunner().invoke(app, ["bench", "score", "judgebench", "--data", str(data), "--decisions", str(bad)])
    assert res.exit_code == 2 and "row 1: field 'decisions': expected one or two decisions" in res.output


# --------------------------------------------------------------------------- PPE sets
def test_ppe_preference_accuracy_brier_and_categories(tmp_path):
    def row(qid, winner, **flags):
        return {"question_id": qid, "model_a": "x", "model_b": "y", "winner": winner, "prompt": "p",
                "response_1": "one", "response_2": "two", "language": flags.pop("language", "English"),
                "hard_prompt": False, "easy_prompt": False, "if_prompt": False, "math_prompt": False,
                "is_code": False, **flags}
    rows = [row("a", "model_a", hard_prompt=True), row("b", "model_b", is_code=True),
            row("c", "tie"), row("d", "model_a", hard_prompt=True, language="Chinese"), row("e", "tie (bothbad)")]
    bench, items, _ = load_items("ppe-preference", data=str(write(tmp_path / "ppe.jsonl", rows)))
    scores = [[2.0, 0.0], [0.0, 1.0], [5.0, 0.0], [1.0, 1.0], [0.0, 9.0]]  # right, right, (tie), wrong (tie), (tie)
    m = evaluate(bench, items, scores, iters=0)["metrics"]
    assert m["score"] == pytest.approx(2 / 3)  # ties in the votes are left out
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert m["brier"] == pytest.approx(((1 - sig(2)) ** 2 + (1 - sig(1)) ** 2 + (1 - sig(0)) ** 2) / 3)
    assert m["domain/hard_prompt"] == 0.5 and m["domain/is_code"] == 1.0
    assert m["domain/language/Chinese"] == 0.0 and m["domain/language/English"] == 1.0
    with pytest.raises(DataError, match="row 1: field 'winner': expected one of model_a"):
        load_items("ppe-preference", data=str(write(tmp_path / "bad.jsonl", [row("a", "A")])))


def test_ppe_correctness_per_sub_benchmark_and_overall(tmp_path):
    def row(qid, graded):
        return {"question_id": qid, "prompt": "p", "model_name": "m", "scores": graded,
                **{f"response_{j + 1}": f"r{j}" for j in range(len(graded))}}
    mmlu = write(tmp_path / "ppe_mmlu_pro_best_of_k.jsonl", [row("1", [True, False, False, True]),
                                                               row("2", [False, False, False, False])])
    bench, items, _ = load_items("ppe-correctness", data=str(mmlu))
    assert [it.id for it in items] == ["mmlu_pro/1", "mmlu_pro/2"]
    assert items[0].pairs == [(0, 1), (0, 2), (3, 1), (3, 2)]
    # row 1: correct responses 0 and 3 score 3 and 0, incorrect 1 and 2 score 1 and 2
    m = evaluate(bench, items, [[3, 1, 2, 0], [1, 2, 3, 4]], iters=0)["metrics"]
    assert m["score"] == pytest.approx(2 / 4) and m["domain/mmlu_pro"] == pytest.approx(0.5)
    assert m["auc/mmlu_pro"] == pytest.approx(0.5)  # 3 beats both, 0 beats none
    assert m["pearson"] == pytest.approx(np.corrcoef([3, 1, 2, 0], [1, 0, 0, 1])[0, 1])
    # best of 1 = mean correctness: (0.5 + 0) / 2; best of 4 picks response 0 of row 1 (correct), row 2: 0
    assert m["best_of_k/1"] == pytest.approx(0.25) and m["best_of_k/4"] == pytest.approx(0.5)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert m["brier"] == pytest.approx(np.mean([(1 - sig(d)) ** 2 for d in (2, 1, -1, -2)]))
    # Two sub-benchmarks in one file (a `benchmark` column): the headline is their mean.
    both = write(tmp_path / "both.jsonl", [row("1", [True, False]) | {"benchmark": "MATH"},
                                           row("1", [True, False]) | {"benchmark": "GPQA"}])
    bench, items, _ = load_items("ppe-correctness", data=str(both))
    m = evaluate(bench, items, [[1, 0], [0, 1]], iters=0)["metrics"]
    assert m["domain/math"] == 1.0 and m["domain/gpqa"] == 0.0 and m["score"] == 0.5
    with pytest.raises(DataError, match="row 1: field 'response_2' missing"):
        load_items("ppe-correctness", data=str(write(tmp_path / "short.jsonl",
                                                     [{"question_id": "1", "prompt": "p", "scores": [True, False],
                                                       "response_1": "a"}])))


def test_ppe_loads_from_the_hub_through_the_registry():
    from rlhf_eval.bench import benchmark_for
    from rlhf_eval.bench.loading import data_location
    sources = data_location("ppe-correctness", benchmark_for("ppe-correctness"), None, None, None)
    assert [w for w, _ in sources] == ["hf:lmarena-ai/PPE-MMLU-Pro-Best-of-K", "hf:lmarena-ai/PPE-MATH-Best-of-K",
                                       "hf:lmarena-ai/PPE-GPQA-Best-of-K", "hf:lmarena-ai/PPE-IFEval-Best-of-K",
                                       "hf:lmarena-ai/PPE-MBPP-Plus-Best-of-K"]
    assert {s for _, s in sources} == {"train"}
    assert data_location("ppe-preference", benchmark_for("ppe-preference"), None, None, None) == \
        [("hf:lmarena-ai/PPE-Human-Preference-V1", "test")]
    from rlhf_eval.bench.ppe_sets import sub_benchmark
    assert [sub_benchmark({}, w) for w, _ in sources] == ["mmlu_pro", "math", "gpqa", "ifeval", "mbpp_plus"]


def test_seven_benchmark_summary_and_leaderboard(tmp_path):
    from rlhf_eval.bench.summary import SEVEN, seven_rows
    from rlhf_eval.report.exports import leaderboard

    def rows(rm, scores, rmb):
        rules = ["rewardbench", "rewardbench2", "ppe-preference", "ppe-correctness", "rm-bench", "judgebench"]
        out = [{"rm": rm, "benchmark": k, "scored_as": k, "metric": "score", "value": v} for k, v in zip(rules, scores)]
        parts = [("rmb-pairwise", "Helpfulness"), ("rmb-pairwise", "Harmlessness"), ("rmb-bon", "Helpfulness"),
                 ("rmb-bon", "Harmlessness")]
        return out + [{"rm": rm, "benchmark": f"my-{k}", "scored_as": k, "metric": f"domain/{g}", "value": v}
                      for (k, g), v in zip(parts, rmb)]
    static = rows("a", [0.9, 0.7, 0.6, 0.65, 0.8, 0.5], [0.8, 0.6, 0.4, 0.2]) + rows("b", [0.9] * 6, [0.9] * 3)
    [a] = seven_rows(static)  # b lacks one RMB part: no row for it
    assert a["RMB"] == pytest.approx(0.5) and a["worst"] == pytest.approx(0.5) and a["worst_benchmark"] == "RMB"
    assert a["average"] == pytest.approx(np.mean([0.9, 0.7, 0.6, 0.65, 0.5, 0.8, 0.5])) and set(SEVEN) <= set(a)
    assert seven_rows(rows("c", [0.9] * 6, [0.9] * 4)[1:]) == []  # no RewardBench: no summary
    path = leaderboard({"static": static, "seven": [a]}, tmp_path / "lb.json")
    rec = next(r for r in json.loads(path.read_text()) if r["benchmark"] == "seven")
    assert rec["model"] == "a" and rec["average"] == pytest.approx(100 * a["average"], abs=0.01) and rec["RMB"] == 50.0
    # an RM trained with two seeds: a summary row and a leaderboard record per seed (each a checkpoint)
    seeded = [r | {"rm_seed": s, "value": r["value"] - 0.1 * s} for s in (0, 1)
              for r in rows("d", [0.9, 0.7, 0.6, 0.65, 0.8, 0.5], [0.8, 0.6, 0.4, 0.2])]
    d0, d1 = seven_rows(seeded)
    assert (d0["rm_seed"], d1["rm_seed"]) == (0, 1) and d1["average"] == pytest.approx(d0["average"] - 0.1)
    records = json.loads(leaderboard({"static": seeded, "seven": [d0, d1]}, tmp_path / "lb2.json").read_text())
    assert {r["model"] for r in records} == {"d (seed 0)", "d (seed 1)"}
    assert next(r for r in records if r["model"] == "d (seed 1)" and r["benchmark"] == "rewardbench")["score"] == 80.0
