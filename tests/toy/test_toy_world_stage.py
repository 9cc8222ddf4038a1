"""toy_world's run() on a tiny world: on a warm cache it rebuilds nothing and hands on the same
world, whose files say what its outputs count."""
from pathlib import Path


def test_toy_world_run_hands_on_the_cached_world(rerun):
    new, before = rerun("toy_world")
    out = new["outputs"]
    assert out == before["outputs"]
    assert (Path(out["policy"]) / "model.safetensors").is_file()
    for name, path in {**out["sources"], **out["benchmarks"]}.items():
        assert sum(1 for _ in open(path)) == out["counts"][name], name
    assert set(new["watched"]) == {str(Path(out["policy"]).parent.resolve())}
