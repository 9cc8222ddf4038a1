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
