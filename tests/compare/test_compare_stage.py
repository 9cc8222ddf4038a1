"""compare's run() on the tiny toy world's results: the same answer again (seeded bootstrap)."""


def test_compare_run_is_reproducible(rerun):
    new, before = rerun("compare")
    out = new["outputs"]
    assert out == before["outputs"]
    assert out["rms"] == ["classifier-curated", "dpo-curated"] and out["n_rms"] == 2
