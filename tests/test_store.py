import json
from pathlib import Path

from rlhf_eval import store
from rlhf_eval.config import load_recipe
from rlhf_eval.pipeline import expand

QUICK = Path(__file__).resolve().parent.parent / "recipes" / "quickstart.yaml"


def test_manifest_marks_done_only_with_matching_key(tmp_path):
    node = tmp_path / "stage" / "abc"
    store.fresh_dir(node, tmp_path)
    (node / "partial.bin").write_text("x")
    assert not store.is_done(node, "abc")
    store.atomic_write_json(node / store.MANIFEST, {"key": "abc"})
    assert store.is_done(node, "abc") and not store.is_done(node, "other")
    assert sorted(p.name for p in node.iterdir()) == ["manifest.json", "partial.bin"]
    store.fresh_dir(node, tmp_path)
    assert list(node.iterdir()) == []


def test_atomic_write_leaves_no_temp_files(tmp_path):
    store.atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_keys_are_deterministic_and_track_config():
    a = {n.label: n.key for n in expand(load_recipe(QUICK))}
    b = {n.label: n.key for n in expand(load_recipe(QUICK))}
    assert a == b
    c = {n.label: n.key for n in expand(load_recipe(QUICK, ["bon.n_grid=[1,4,16]"]))}
    changed = {label for label in a if a[label] != c[label]}
    assert changed and all(label.startswith(("rm=", "compare", "report")) for label in changed)
    assert a["rm=dpo-curated"] == c["rm=dpo-curated"]
    assert all(not label.startswith("rm=") or "task=" in label for label in changed)


def test_thread_count_is_in_every_key_but_the_default_keeps_the_old_keys():
    from rlhf_eval.pipeline import node_key
    nodes = expand(load_recipe(QUICK))
    assert all(n.key == node_key(n.stage, n.params, n.deps) for n in nodes)   # the keys from before threads
    two = {n.label: n.key for n in expand(load_recipe(QUICK, ["torch_threads=2"]))}
    auto = {n.label: n.key for n in expand(load_recipe(QUICK, ["torch_threads=null"]))}
    assert all(len({n.key, two[n.label], auto[n.label]}) == 3 for n in nodes)


def test_graph_has_every_stage():
    stages = {n.stage for n in expand(load_recipe(QUICK))}
    assert stages == {"toy_world", "curate", "train_rm", "static_bench", "bon_generate", "bon_score",
                      "bon_eval", "bon_signal", "rl_train", "policy_eval", "compare", "report"}
