"""The three best-of-n stages' run() on the tiny toy world: generation samples the same
candidates again (block seeds), scoring and the estimate give the same numbers."""
import pytest

from rlhf_eval import store


def test_bon_generate_run_samples_the_same_candidates(rerun):
    new, before = rerun("bon_generate")
    out = new["outputs"]
    assert out == before["outputs"]
    candidates = store.read_jsonl(out["candidates"])
    assert len(candidates) == out["sampled_candidates"] == out["n_prompts"] * out["n_max"]
    assert len(store.read_jsonl(out["gold"])) == len(candidates)


def test_bon_score_run_scores_every_candidate_the_same(rerun):
    new, before = rerun("bon_score")
    scores, old = (store.read_jsonl(m["outputs"]["scores"]) for m in (new, before))
    assert len(scores) == new["outputs"]["n"] == len(old)
    assert [s["score"] for s in scores] == pytest.approx([s["score"] for s in old], abs=1e-5)


def test_bon_eval_run_gives_the_same_curve(rerun, reference_run, tmp_path):
    new, before = rerun("bon_eval")
    out = new["outputs"]
    # The recorded lm-eval command names the scores file in the folder the node ran in.
    old = before["outputs"] | {"lm_eval_command": before["outputs"]["lm_eval_command"].replace(
        str(reference_run[0]), str(tmp_path / reference_run[0].name))}
    assert out == old
    assert [p["n"] for p in out["curve"]][-1] == out["n_max"]
