"""static_bench's run() on the tiny toy world: the same metrics and CIs again, one score per
unit written, and every unit counted."""
from rlhf_eval import store


def test_static_bench_run_is_reproducible(rerun):
    new, before = rerun("static_bench")
    out = new["outputs"]
    assert out == before["outputs"]
    units = store.read_jsonl(out["units"])
    assert len(units) == out["n"] > 0
    assert 0 <= min(out["metrics"].values()) and max(out["metrics"].values()) <= 1
