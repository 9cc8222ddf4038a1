"""rl_train's run() on the tiny toy world (TRL's GRPO): a rerun from scratch saves the same
checkpoints, logs a step of history each, and gets the same gold rewards."""
import pytest


def test_rl_train_run_is_reproducible(rerun):
    new, before = rerun("rl_train")
    out, old = new["outputs"], before["outputs"]
    assert [c["step"] for c in out["checkpoints"]] == [c["step"] for c in old["checkpoints"]]
    assert out["path"] == out["checkpoints"][-1]["path"]
    assert len(out["history"]) == out["checkpoints"][-1]["step"]
    assert [h["gold"] for h in out["history"]] == pytest.approx([h["gold"] for h in old["history"]])
    assert {k: out[k] for k in ("rm", "policy", "algorithm", "engine", "seed")} == \
        {k: old[k] for k in ("rm", "policy", "algorithm", "engine", "seed")}
