"""bon_score scores each distinct candidate once: copies take their original's score (so they tie
exactly), the RM sees each distinct input once, and truncation is still counted per candidate."""
import copy
import json

import numpy as np
import pytest

from conftest import rm_manifest
from rlhf_eval.bon.score_stage import distinct, score_distinct
from rlhf_eval.pipeline import node_manifests
from rlhf_eval.rm.base import load_scorer


def test_distinct_maps_every_candidate_to_its_first_copy():
    first, inverse = distinct(["p", "p", "q", "p", "q"], ["a", "b", "a", "a", "a"])
    assert first == [0, 1, 2]  # (p, a), (p, b), (q, a): the same text under another prompt is another input
    assert inverse.tolist() == [0, 1, 2, 0, 2]


@pytest.mark.parametrize("rm", ["classifier-curated", "dpo-curated"])
def test_distinct_scores_equal_scoring_every_candidate(reference_run, rm, monkeypatch):
    run_dir, _ = reference_run
    monkeypatch.setenv("RLHF_EVAL_REFERENCE_CACHE", "0")  # both ways compute, not one reads the other's
    [gen] = [m["outputs"] for m in node_manifests(run_dir, "bon_generate")][:1]
    cands = [json.loads(line) for line in open(gen["candidates"])]
    prompts, texts = [c["prompt"] for c in cands], [c["text"] for c in cands]
    n_distinct = len(set(zip(prompts, texts)))
    assert n_distinct < len(cands)  # the pool repeats answers: the check can fail

    every = load_scorer(rm_manifest(run_dir, rm)).score(prompts, texts)
    scorer = load_scorer(rm_manifest(run_dir, rm))
    scores, scored, truncated = score_distinct(scorer, prompts, texts)
    assert scored == n_distinct and len(scorer.cut) == n_distinct  # the RM saw each distinct input once
    assert np.abs(np.array(scores) - np.array(every)).max() < 1e-4  # batches differ: float tolerance
    by_input: dict = {}
    for key, s in zip(zip(prompts, texts), scores):
        by_input.setdefault(key, set()).add(s)
    assert all(len(v) == 1 for v in by_input.values())  # copies tie exactly
    assert truncated == 0

    # Every input cut (max_length 4 tokens): counted once per candidate, copies included.
    short = copy.deepcopy(rm_manifest(run_dir, rm))
    short["outputs"]["max_length"] = 4
    _, scored, truncated = score_distinct(load_scorer(short), prompts, texts)
    assert (scored, truncated) == (n_distinct, len(cands))
