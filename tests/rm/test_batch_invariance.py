"""Scores do not depend on how inputs are batched or which side the tokenizer pads: one at a time
and 64 at a time agree to float tolerance, for a classifier, an implicit RM and a judge (a known
complaint about other RM tools, whose scores move with batch size through padding)."""
import copy
import math

import pytest

from conftest import rm_manifest
from rlhf_eval.bench.loading import load_items
from rlhf_eval.pipeline import node_manifests
from rlhf_eval.rm.base import load_scorer


def items_of(run_dir):
    [node] = [m for m in node_manifests(run_dir, "static_bench") if m["outputs"]["benchmark"] == "toy_rmbench"][:1]
    _, items, _ = load_items("toy_rmbench", data=node["outputs"]["data"])
    prompts = [it.prompt for it in items[:16] for _ in it.candidates]
    texts = [c for it in items[:16] for c in it.candidates]
    return prompts, texts


def scorer_at(manifest: dict, batch_size: int, padding_side: str = "right"):
    m = copy.deepcopy(manifest)
    m["outputs"]["batch_size"] = batch_size
    scorer = load_scorer(m)
    tok = getattr(scorer, "tok", None) or scorer.backend.tok
    tok.padding_side = padding_side  # our own padding decides, not the tokenizer's setting
    return scorer


@pytest.mark.parametrize("rm", ["classifier-curated", "dpo-curated"])
def test_an_rm_scores_the_same_one_at_a_time_and_64_at_a_time(reference_run, rm, monkeypatch):
    run_dir, _ = reference_run
    monkeypatch.setenv("RLHF_EVAL_REFERENCE_CACHE", "0")  # both compute the reference, not one reads it
    prompts, texts = items_of(run_dir)
    lengths = {len(t.split()) for t in texts}
    assert len(texts) == 16 * 6 and len(lengths) > 5  # rows of many lengths: batches pad
    manifest = rm_manifest(run_dir, rm)
    one = scorer_at(manifest, 1).score(prompts, texts)
    many = scorer_at(manifest, 64, "left").score(prompts, texts)
    assert max(abs(a - b) for a, b in zip(one, many)) < 1e-4
    assert max(one) - min(one) > 0.1  # the scores themselves differ: the check can fail


def test_a_judge_scores_the_same_one_at_a_time_and_64_at_a_time(tiny_lm, tmp_path):
    from rlhf_eval.config import JudgeConfig
    from rlhf_eval.rm.judge import GenerativeJudge
    from rlhf_eval.rm.judge_transformers import TransformersJudge
    from rlhf_eval.rm.judgments import JudgmentCache

    prompts = [f"sort these letters in alphabetical order : {' '.join('zyxwvutsrq'[:k])}" for k in range(1, 11)]
    texts = [" ".join(sorted("zyxwvutsrq"[:k])) + (" done" if k % 2 else "") for k in range(1, 11)]
    cfg = JudgeConfig(template="{{ prompt }} = {{ response }}", yes_token="done", no_token="the", chat=False)
    scores = []
    for batch in (1, 64):
        backend = TransformersJudge(tiny_lm, batch_size=batch)
        backend.tok.padding_side = "right"
        judge = GenerativeJudge("j", backend, cfg, JudgmentCache(tmp_path / f"{batch}.sqlite"))
        scores.append(judge.score(prompts, texts))
    assert not any(math.isnan(s) for s in scores[0])
    assert max(abs(a - b) for a, b in zip(*scores)) < 1e-4
    assert max(scores[0]) - min(scores[0]) > 1e-3
