"""A pairwise judge on static benchmarks: each benchmark's rule for two decisions per pair against
hand-computed values, position bias, and JudgeBench through the `--decisions` path: the decisions
file the static_bench stage writes, scored by `bench score judgebench --decisions`, gives the
stage's own score (on the shared JudgeBench sample when present)."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlhf_eval.bench import benchmark_for, judged
from rlhf_eval.bench.evaluate import evaluate_judged
from rlhf_eval.bench.items import Item
from rlhf_eval.bench.loading import load_items
from rlhf_eval.bench.saved import write_decisions
from rlhf_eval.cli import app
from rlhf_eval.config import JudgeConfig
from rlhf_eval.rm.judge import GenerativeJudge
from rlhf_eval.rm.judgments import JudgmentCache

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
TEMPLATE = "{{ prompt }}\n@A@{{ response_a }}\n@B@{{ response_b }}"


class ByLength:
    """A judge backend that prefers the longer response, except on prompts it is told to answer
    "[[A]]" (whatever is shown first: a position-biased judge) or nonsense (a parse failure)."""
    model_id = "by-length"

    def __init__(self, biased=(), unreadable=()):
        self.biased, self.unreadable = set(biased), set(unreadable)

    def answer(self, conversations, sampling, verdict_tokens=None):
        out = []
        for c in conversations:
            prompt, rest = c.split("\n@A@", 1)
            a, b = rest.split("\n@B@", 1)
            text = ("[[A]]" if prompt in self.biased else "I cannot tell" if prompt in self.unreadable
                    else "[[A>B]]" if len(a) > len(b) else "[[B>A]]" if len(b) > len(a) else "[[A=B]]")
            out.append({"text": text, "probs": None})
        return out


def make_judge(tmp_path, **kw):
    return GenerativeJudge("by-length", ByLength(**kw), JudgeConfig(mode="pairwise", template=TEMPLATE, chat=False),
                           JudgmentCache(tmp_path / "judgments.sqlite"))


def test_two_decisions_count_as_each_protocol_says():
    assert judged.win_value(("A>B", "A>B")) == 1 and judged.win_value(("B>A", "B>A")) == 0
    assert judged.win_value(("A>B", "B>A")) == 0.5  # a flip: the official coin's expectation
    assert judged.win_value(("A>B", None)) == 0.75 and judged.win_value(("A=B", "A>B")) == 0.75
    assert judged.beats(("A>B", "A=B")) and not judged.beats(("A>B", "B>A")) and not judged.beats((None, None))
    bias = judged.position_bias([[("A>B", "B>A"), ("A>B", "A>B")], [(None, "A>B"), ("A=B", "A=B")]])
    # readable pairs: 3; flips: the first only; games won by the first shown: A>B as game 1 (2),
    # B>A as game 2 (1), over 4 decided games.
    assert bias == {"pairs": 4, "readable_pairs": 3, "flip_rate": pytest.approx(1 / 3),
                    "first_shown_wins": pytest.approx(3 / 4)}


def item(i, candidates, group="g", **kw):
    return Item(f"i{i}", f"p{i}", candidates, group, **kw)


def test_rewardbench_rm_bench_and_rmb_rules_by_hand(tmp_path):
    # RewardBench: chosen longer (right both ways), chosen shorter (wrong), a biased prompt (a flip,
    # 1/2), an unreadable prompt (1/2 + 1/2: counted as ties, never as a win).
    rb = benchmark_for("rewardbench")
    items = [item(0, ["long answer", "short"], "alpacaeval-easy"), item(1, ["s", "longer"], "alpacaeval-easy"),
             item(2, ["aa", "b"], "alpacaeval-easy"), item(3, ["aa", "b"], "alpacaeval-easy")]
    for it in items:
        it.pairs = [(0, 1)]
    j = make_judge(tmp_path, biased={"p2"}, unreadable={"p3"})
    decisions = judged.decide(j, rb.judge_pairs, items)
    assert decisions == [[("A>B", "A>B")], [("B>A", "B>A")], [("A>B", "B>A")], [(None, None)]]
    res = evaluate_judged(rb, items, decisions, iters=0)
    assert res["metrics"]["subset/alpacaeval-easy"] == pytest.approx((1 + 0 + 0.5 + 0.5) / 4)
    assert res["position_bias"]["flip_rate"] == pytest.approx(1 / 3) and j.counts["parse_failures"] == 2
    assert res["ppe"] is None and j.counts["calls"] == 8  # 4 pairs x 2 orders

    # RM-Bench: all nine chosen x rejected pairs; chosen lengths 3, 5, 7 vs rejected 4, 4, 8.
    rmb = benchmark_for("rm-bench")
    it = item(0, ["ccc", "ccccc", "ccccccc", "rrrr", "rrrr", "rrrrrrrr"], "chat", correct=[1] * 3 + [0] * 3)
    d = judged.decide(j, rmb.judge_pairs, [it])
    assert len(d[0]) == 9
    m = evaluate_judged(rmb, [it], d, iters=0)["metrics"]
    # M[i][j] = chosen[i] longer than rejected[j]: row 0: 0 0 0; row 1: 1 1 0; row 2: 1 1 0.
    assert m["normal"] == pytest.approx((0 + 1 + 0) / 3)
    assert m["hard"] == pytest.approx((0 + 0 + 0) / 3)  # upper triangle: (0,1) (0,2) (1,2)
    assert m["easy"] == pytest.approx((1 + 1 + 1) / 3)  # lower: (1,0) (2,0) (2,1)

    # RMB best-of-N: the best must beat every loser; a tie with one loser is not a win.
    bon = benchmark_for("rmb-bon")
    its = [item(k, c, "helpfulness/x", meta={"scenario": "s"}, pairs=[(0, n) for n in range(1, len(c))])
           for k, c in enumerate([["best!", "no", "meh"], ["best!", "no", "equal"]], start=10)]
    out = evaluate_judged(bon, its, judged.decide(j, bon.judge_pairs, its), iters=0)["metrics"]
    assert out["score"] == pytest.approx(0.5)


def test_benchmarks_without_a_pairwise_protocol_say_why():
    assert "give it a pointwise judge" in benchmark_for("rewardbench2").judge_refusal
    assert benchmark_for("rewardbench2").judged_outcomes is None
    assert benchmark_for("ppe-preference").judged_outcomes is None


def judgebench_data(tmp_path) -> Path:
    shared = SHARED / "judgebench" / "judgebench_claude-3-5-sonnet-20240620.jsonl"
    if shared.is_file():
        return shared
    rows = [{"pair_id": f"p{i}", "original_id": i, "source": src, "question": f"q{i}", "response_model": "m",
             "response_A": a, "response_B": b, "label": label}
            for i, (src, a, b, label) in enumerate([("mmlu-pro-law", "long one", "x", "A>B"),
                                                     ("livebench-math", "x", "long one", "A>B"),
                                                     ("livecodebench", "same", "same", "B>A"),
                                                     ("mmlu-pro-math", "x", "longer", "B>A")])]
    path = tmp_path / "jb.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_judgebench_two_games_through_the_decisions_path(tmp_path):
    data = judgebench_data(tmp_path)
    bench, items, _ = load_items("judgebench", data=str(data))
    biased = {items[k].prompt for k in range(0, len(items), 5)}  # every fifth pair: a position-biased judge
    j = make_judge(tmp_path, biased=biased)
    decisions = judged.decide(j, bench.judge_pairs, items)
    res = evaluate_judged(bench, items, decisions, iters=0)

    def official(it):  # JudgeBench's two games by hand: +1 / -1 per game, correct when positive
        a, b = it.candidates
        if it.prompt in biased:
            games = ["A>B", "B>A"]  # game 2 (B shown first) says A>B, flipped back: B>A
        else:
            g = "A>B" if len(a) > len(b) else "B>A" if len(b) > len(a) else "A=B"
            games = [g, g]
        votes = sum(+1 if g == it.meta["label"] else -1 if g in ("A>B", "B>A") else 0 for g in games)
        return float(votes > 0)
    assert res["metrics"]["score"] == pytest.approx(sum(map(official, items)) / len(items))
    assert res["position_bias"]["flip_rate"] > 0

    path = tmp_path / "decisions.jsonl"
    write_decisions(path, items, bench.judge_pairs, decisions)
    row = json.loads(path.read_text().splitlines()[0])
    assert row["decisions"] == ["A>B", "A>B"]  # items[0] is biased: [[A]] in both games, as written
    out = tmp_path / "scored"
    res_cli = CliRunner().invoke(app, ["bench", "score", "judgebench", "--data", str(data), "--decisions", str(path),
                                       "--bootstrap", "0", "--out", str(out)])
    assert res_cli.exit_code == 0, res_cli.output
    assert json.loads((out / "metrics.json").read_text())["metrics"]["score"] == pytest.approx(res["metrics"]["score"])
