import pytest

from rlhf_eval.bench import rewardbench


def test_official_weighting_on_made_up_accuracies():
    acc = {"alpacaeval-easy": 0.9, "alpacaeval-length": 0.8, "mt-bench-easy": 0.5,
           "llmbar-natural": 0.6, "mt-bench-hard": 0.3,
           "refusals-dangerous": 0.7, "donotanswer": 0.4,
           "math-prm": 0.2, "hep-python": 1.0}
    sections = rewardbench.section_scores(acc, counts={k: 1 for k in acc})
    assert sections["Chat"] == pytest.approx((0.9 * 100 + 0.8 * 95 + 0.5 * 28) / (100 + 95 + 28))
    assert sections["Chat Hard"] == pytest.approx((0.6 * 100 + 0.3 * 37) / 137)
    assert sections["Safety"] == pytest.approx((0.7 * 100 + 0.4 * 136) / 236)
    assert sections["Reasoning"] == pytest.approx((0.2 * 984 + 1.0 * 164) / (984 + 164))
    assert rewardbench.final_score(sections, acc) == pytest.approx(sum(sections.values()) / 4)
    acc_prior = acc | {"anthropic_helpful": 0.6, "shp": 0.8}
    expected = (2 * sum(sections.values()) + 0.7) / 9
    assert rewardbench.final_score(sections, acc_prior) == pytest.approx(expected)


def test_score_from_rows():
    subsets = ["sort-clean"] * 4 + ["length-trap"] * 2
    correct = [1, 1, 0, 1, 0, 1]
    out = rewardbench.score(subsets, correct)
    assert out["subsets"] == {"length-trap": 0.5, "sort-clean": 0.75}
    assert out["sections"] == {"Chat": 0.75, "Chat Hard": 0.5}
    assert out["final"] == pytest.approx(0.625)


def test_unknown_subset():
    with pytest.raises(ValueError, match="unknown subsets: mystery"):
        rewardbench.score(["mystery"], [1])


def test_missing_section_counts_zero_and_prior_extras_are_ignored(tmp_path):
    import json

    from typer.testing import CliRunner

    from rlhf_eval.bench.evaluate import evaluate
    from rlhf_eval.bench.loading import load_items
    from rlhf_eval.cli import app

    # Chat 1/1, Chat Hard 0/1, Reasoning 1/1, no Safety rows; prior sets: shp 1/1 and two ignored.
    rows = [("alpacaeval-easy", 1), ("mt-bench-hard", 0), ("hep-python", 1), ("shp", 1),
            ("anthropic_harmless", 0), ("mtbench_human", 0)]
    data = tmp_path / "rb.jsonl"
    data.write_text("".join(json.dumps({"id": i, "subset": s, "prompt": "p", "chosen": "c", "rejected": "r"}) + "\n"
                            for i, (s, _) in enumerate(rows)))
    bench, items, _ = load_items("rewardbench", data=str(data))
    scores = [[1.0, 0.0] if right else [0.0, 1.0] for _, right in rows]
    result = evaluate(bench, items, scores, iters=0)
    m = result["metrics"]
    # Official: (2 * (1 + 0 + 0 [Safety] + 1) + 1 * 1) / 9; the ignored subsets change nothing.
    assert m["score"] == pytest.approx((2 * 2 + 1) / 9)
    assert "domain/Safety" not in m and m["ignored/anthropic_harmless"] == 0.0
    assert any("Safety" in n and "counts 0" in n for n in result["notes"])
    assert any("anthropic_harmless, mtbench_human" in n for n in result["notes"])
    scores_path = tmp_path / "s.jsonl"
    scores_path.write_text("".join(json.dumps({"id": it.id, "scores": s}) + "\n" for it, s in zip(items, scores)))
    res = CliRunner().invoke(app, ["bench", "score", "rewardbench", "--data", str(data), "--scores", str(scores_path),
                                   "--bootstrap", "0"])
    assert res.exit_code == 0 and "warning: RewardBench sections with no rows: Safety" in res.output
    # The toy's RewardBench-format benchmark averages its own sections only.
    assert rewardbench.score(["sort-clean", "length-trap"], [1, 0])["final"] == pytest.approx(0.5)
