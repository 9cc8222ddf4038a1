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


def test_the_ray_engine_writes_what_the_local_engine_wrote_and_the_next_stages_read_it(reference_run, toy_cache,
                                                                                        tmp_path, monkeypatch):
    """The smoke run's curate node run again with its data steps only (the smoke recipe's judge
    step keeps the rows in the stage's process), locally and with curate.engine: ray: the ray
    run's shards hold the local run's rows, its funnel is the same, and what train_rm and
    rl_train read from it (data.pairs.read_rows, rl.stage.rl_prompts) is the same."""
    import shutil
    from pathlib import Path

    from rlhf_eval.data.pairs import read_rows
    from rlhf_eval.launch.node import node_dir, run_node
    from rlhf_eval.pipeline import load_plan
    from rlhf_eval.rl.stage import rl_prompts

    monkeypatch.setenv("RLHF_EVAL_CACHE", str(toy_cache))
    copy = tmp_path / "smoke"
    shutil.copytree(reference_run[0], copy, symlinks=True)
    nodes = load_plan(copy)
    node = next(n for n in nodes if n.stage == "curate")
    node.params["curate"]["steps"] = ["dedup", "near_dedup", "decontaminate", "filter"]
    shutil.rmtree(node_dir(copy, node))
    before = run_node(copy, node, {n.id: n for n in nodes})["outputs"]
    shutil.copytree(node_dir(copy, node), tmp_path / "local")
    before["path"] = str(tmp_path / "local" / "curated.jsonl")
    shutil.rmtree(node_dir(copy, node))
    node.params["curate"]["engine"] = "ray"
    out = run_node(copy, node, {n.id: n for n in nodes})["outputs"]
    assert Path(out["path"]).is_dir() and Path(out["dataset"]).is_dir()
    assert read_rows(Path(out["path"])) == store.read_jsonl(before["path"])
    assert {k: out[k] for k in ("counts", "dropped", "events", "bad_rows", "n_pairs", "dataset_columns")} == \
        {k: before[k] for k in ("counts", "dropped", "events", "bad_rows", "n_pairs", "dataset_columns")}
    assert rl_prompts(out["path"], 50, 0) == rl_prompts(before["path"], 50, 0)
