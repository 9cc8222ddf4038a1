"""policy_eval's run() on the tiny toy world: lm-eval gives the same per-document scores, and the
value is their mean."""
import pytest

from rlhf_eval import store


def test_policy_eval_run_is_reproducible(rerun, reference_run, tmp_path):
    new, before = rerun("policy_eval")
    out = new["outputs"]
    # the command names the node's own folder (its sampled task YAML), which the rerun's copy moved
    moved = before["outputs"]["lm_eval_command"].replace(str(reference_run[0]), str(tmp_path / reference_run[0].name))
    assert out == before["outputs"] | {"lm_eval_command": moved}
    docs = store.read_jsonl(out["samples"])
    assert len(docs) == out["n"] and out["value"] == pytest.approx(sum(d[out["metric"]] for d in docs) / len(docs))
    assert out["pass_at"]["4"] == pytest.approx(sum(d["pass@4"] for d in docs) / len(docs))
