"""Judge answers read as verdicts: Arena-Hard and MT-Bench labels as real judges write them, the
decisions stored in the shared JudgeBench samples, ratings, and verdict-token probabilities.
Unreadable or contradictory answers give None (a counted parse failure), never a score."""
import json
from pathlib import Path

import pytest

from rlhf_eval.rm.judge_answers import DECISIONS, parse_decision, parse_rating, unswap, verdict_probability

JUDGEBENCH = Path(__file__).resolve().parents[3] / "shared" / "data" / "judgebench"


@pytest.mark.parametrize("answer, decision", [
    # The endings of claude-3-haiku's Arena-Hard judgments in JudgeBench's released outputs.
    ("Therefore, my final verdict is that Assistant B is significantly better: [[B>>A]]", "B>A"),
    ("Since they both arrive at the same primary correct answer, I would consider this a tie.\n\n"
     "My final verdict is: [[A=B]]", "A=B"),
    ("My final verdict is that Assistant A is slightly better: [[A>B]]", "A>B"),
    ("[[A>>B]] ... so once more: [[A>B]]", "A>B"),  # one label, stated twice
    ("[[A>B]] at first, but on reflection [[B>A]]", None),  # two labels: unreadable
    ("Both answers are fine.", None),
    ("[[B]]", "B>A"), ("[[C]]", "A=B"), ("A", "A>B"), (" B. ", "B>A"), ("B<A", "A>B"),
    ("[[D]]", None), ("[[A>B]] [[X]]", "A>B"),
])
def test_pairwise_decisions(answer, decision):
    assert parse_decision(answer) == decision


@pytest.mark.skipif(not JUDGEBENCH.is_dir(), reason="../shared/data/judgebench is absent")
def test_the_decisions_judgebench_stores_read_as_themselves():
    rows = [json.loads(line) for f in JUDGEBENCH.glob("*.jsonl") for line in f.open()]
    labels = [r["label"] for r in rows]
    assert len(labels) == 270 and set(labels) == {"A>B", "B>A"}
    assert all(parse_decision(lab) == lab for lab in labels)
    assert all(parse_decision(f"My final verdict is: [[{lab.replace('>', '>>')}]]") == lab for lab in labels)
    assert all(unswap(unswap(lab)) == lab and unswap(lab) != lab for lab in labels)
    assert unswap("A=B") == "A=B" and unswap(None) is None and set(DECISIONS) == {"A>B", "B>A", "A=B"}


def test_ratings():
    pattern = r"\[\[(\d+(?:\.\d+)?)\]\]"
    assert parse_rating("The response is accurate. Rating: [[7]]", pattern) == 7.0
    assert parse_rating("[[7.5]] and again [[7.5]]", pattern) == 7.5
    assert parse_rating("[[7]] or maybe [[8]]", pattern) is None
    assert parse_rating("I cannot rate this.", pattern) is None
    assert parse_rating("score: 4/5", r"score: (\d+)/5") == 4.0


def test_verdict_probability():
    assert verdict_probability({"yes": 0.6, "no": 0.2, "maybe": 0.2}, "yes", "no") == pytest.approx(0.75)
    assert verdict_probability({"maybe": 1.0}, "yes", "no") is None
