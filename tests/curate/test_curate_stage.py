"""curate's run() on the tiny toy world: the same pairs again, and files that agree with the
funnel (rows written = pairs counted, the saved Dataset loads with the columns it reports)."""
from rlhf_eval import store


def test_curate_run_writes_what_its_funnel_counts(rerun):
    from datasets import load_from_disk

    new, before = rerun("curate")
    out = new["outputs"]
    assert out == before["outputs"]
    pairs = store.read_jsonl(out["path"])
    assert len(pairs) == out["n_pairs"] == out["counts"][-1]["count"] > 0
    ds = load_from_disk(out["dataset"])
    assert len(ds) == out["n_pairs"] and ds.column_names == out["dataset_columns"]
    removed = len(store.read_jsonl(new["outputs"]["path"].replace("curated.jsonl", "dropped.jsonl")))
    assert out["counts"][0]["count"] - out["n_pairs"] == removed == sum(d["dropped"] for d in out["dropped"])
