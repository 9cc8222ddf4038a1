"""policy_eval's run() on the tiny toy world: lm-eval gives the same per-document scores, and the
value is their mean."""
import pytest

from rlhf_eval import store


def test_policy_eval_run_is_reproducible(rerun):
    new, before = rerun("policy_eval")
    out = new["outputs"]
    assert out == before["outputs"]
    docs = store.read_jsonl(out["samples"])
    assert len(docs) == out["n"] and out["value"] == pytest.approx(sum(d[out["metric"]] for d in docs) / len(docs))
