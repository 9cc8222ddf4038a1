"""`curate.engine: ray` reading, deciding and writing on Ray Data (curate/ray_engine.py) gives what
the local engine gives: the same kept rows in the same order, the same removed rows with the same
reasons, the same funnel and bad rows, the same TRL dataset; and the same errors, word for word.
The sources are the toy world's plus made files of every kind (JSON lines cut into many chunks,
Parquet with several row groups, a JSON list) with rows that hit every step and every row check."""
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_data_steps import random_pairs

from rlhf_eval.config import CurateConfig, FilterConfig, NearDedupConfig, SourceConfig, ToyWorldConfig
from rlhf_eval.curate import ray_engine
from rlhf_eval.curate.stage import data_settings, load_all, run_steps, save_dataset
from rlhf_eval.data.pairs import DataError, read_rows
from rlhf_eval.toy.world import build_data

STEPS = ["filter", "dedup", "near_dedup", "decontaminate"]
CFG = CurateConfig(steps=STEPS, near_dedup=NearDedupConfig(threshold=0.7, num_perm=64),
                   filter=FilterConfig(min_tokens=2, max_tokens=20), on_bad_row="drop")
BAD = [{"chosen": "a b"},                                                     # rejected missing
       {"prompt": "p", "chosen": " ", "rejected": "x y"},                     # empty response
       {"prompt": "p", "chosen": "same  words", "rejected": "same words"},    # identical
       {"prompt": "p", "chosen": "a b", "rejected": "c d", "margin": "big"},  # margin not a number
       {"prompt": 3, "chosen": "a b", "rejected": "c d"},                     # prompt of the wrong type
       {"prompt": [{"role": "assistant", "content": "x"}], "chosen": "a b", "rejected": "c d"},
       ["not", "an", "object"]]


@pytest.fixture(scope="module")
def ray_session():
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def made_rows(seed: int, n: int) -> list:
    rng = random.Random(seed)
    rows = [dict(p) for p in random_pairs(rng, n, vocab=120)]
    for i, r in enumerate(rows):
        if i % 3 == 0:
            del r["id"]                                   # ids from the row number
        if i % 11 == 0:
            r["margin"] = 0 if i % 2 else 1.5            # ties
        if i % 13 == 0 and i:
            rows[i] = dict(rows[i - 5], id=f"copy-{i}")   # exact copies
        if i % 17 == 0 and i:
            near = dict(rows[i - 3], id=f"near-{i}")
            near["chosen"] = near["chosen"] + " one more"
            rows[i] = near
    for j, bad in enumerate(BAD):
        rows.insert(7 + 9 * j, bad)
    return rows


def write_sources(tmp_path: Path, toy: dict) -> list[SourceConfig]:
    rows = made_rows(1, 400)
    jsonl = tmp_path / "made.jsonl"
    with open(jsonl, "w") as fh:
        for k, r in enumerate(rows):
            fh.write(json.dumps(r) + "\n" + ("\n" if k % 50 == 0 else ""))  # blank lines count as rows' numbers
    leak = next(iter(toy["sources"].values()))
    parquet_rows = [{"id": f"pq-{i}", "prompt": f"question {i} " + " ".join(f"w{k}" for k in range(i % 7)),
                     "chosen": f"answer number {i}", "rejected": f"wrong {i} " * (1 + i % 30), "label": str(i)}
                    for i in range(300)]
    pq.write_table(pa.Table.from_pylist(parquet_rows), tmp_path / "made.parquet", row_group_size=64)
    (tmp_path / "made.json").write_text(json.dumps(made_rows(2, 60)))
    return ([SourceConfig(name=name, path=path) for name, path in toy["sources"].items()]
            + [SourceConfig(name="made", path=str(jsonl)), SourceConfig(name="pq", path=str(tmp_path / "made.parquet")),
               SourceConfig(name="js", path=str(tmp_path / "made.json")), SourceConfig(name="leak", path=leak)])


def both(sources, toy, tmp_path, cfg=CFG):
    bad_rows: list = []
    pairs = load_all(sources, toy, cfg.on_bad_row, bad_rows)
    local = run_steps(pairs, cfg, toy)
    out = ray_engine.curate([(s.name, s.path, s.columns, s.split) for s in sources], cfg.steps,
                            data_settings(cfg, cfg.steps, toy), cfg.on_bad_row, tmp_path / "ray",
                            chunk_bytes=4096)
    return local, bad_rows, out


def test_ray_engine_reads_decides_and_writes_what_the_local_engine_does(tmp_path, ray_session):
    toy = build_data(ToyWorldConfig(), tmp_path / "toy")
    sources = write_sources(tmp_path, toy)
    local, bad_rows, out = both(sources, toy, tmp_path)
    assert read_rows(Path(out["path"])) == local.pairs
    def canonical(rows):
        return sorted(json.dumps(r, sort_keys=True) for r in rows)
    assert canonical(read_rows(Path(out["dropped_rows"]))) == canonical(local.removed)
    assert out["counts"] == local.counts
    assert out["dropped"] == ray_engine_schema(bad_rows) + local.dropped
    assert out["bad_rows"] == bad_rows[:1000] and len(bad_rows) == 2 * len(BAD)
    reasons = {d["reason"] for d in local.dropped}
    assert reasons == {"too_short", "too_long", "tie", "duplicate", "near_duplicate", "contaminated"}, reasons
    assert len(list(Path(out["path"]).glob("*.jsonl"))) > 10  # the JSON lines were read in many chunks
    # the TRL dataset: the local engine's saved Dataset, row for row, from the workers' Parquet shards
    import datasets
    columns = save_dataset(local.pairs, tmp_path / "local-dataset")
    want = datasets.load_from_disk(str(tmp_path / "local-dataset")).to_list()
    got = datasets.load_dataset("parquet", data_files=sorted(str(p) for p in Path(out["dataset"]).glob("*.parquet")),
                                split="train").to_list()
    assert out["dataset_columns"] == columns and got == want


def ray_engine_schema(bad_rows):
    from rlhf_eval.curate.stage import _count
    return _count("schema", bad_rows)


def test_ray_engine_raises_the_local_engines_errors(tmp_path, ray_session):
    rows = made_rows(3, 200)
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    strict = CurateConfig(steps=STEPS[:3], on_bad_row="error")  # no toy world: no benchmark to decontaminate against
    lenient = CurateConfig(steps=STEPS[:3], on_bad_row="drop")
    sources = [SourceConfig(name="s", path=str(path))]

    def errors(cfg):
        found = []
        for way in ("local", "ray"):
            with pytest.raises(DataError) as info:
                if way == "local":
                    run_steps(load_all(sources, None, cfg.on_bad_row, []), cfg, None)
                else:
                    ray_engine.curate([(s.name, s.path, None, "train") for s in sources], cfg.steps,
                                      data_settings(cfg, cfg.steps, None), cfg.on_bad_row, tmp_path / "o",
                                      chunk_bytes=1024)
            found.append(str(info.value))
        return found

    local, ray = errors(strict)
    assert local == ray and "row 8: field 'rejected': missing" in ray, ray  # the first bad row

    lines = path.read_text().splitlines(keepends=True)
    lines[150] = '{"prompt": "broken\n'
    path.write_text("".join(lines))
    local, ray = errors(lenient)
    assert local == ray and f"{path}: row 151: not valid JSON" in ray, ray  # in a later chunk than the first

    path.write_text("\n\n")
    local, ray = errors(lenient)
    assert local == ray == f"{path}: the file is empty (no rows)", ray


def test_ray_engine_with_nothing_to_remove_keeps_every_row(tmp_path, ray_session):
    """No group, no hit, no filter code: the sparse decisions and the writers' lookups have
    nothing to look up."""
    rows = [{"id": f"r{i}", "prompt": f"question {i}", "chosen": f"answer {i} " + "a " * (i % 5),
             "rejected": f"wrong {i} " + "b " * (i % 3)} for i in range(200)]
    path = tmp_path / "distinct.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = CurateConfig(steps=["dedup", "near_dedup", "filter"], filter=FilterConfig(min_tokens=1))
    local, _, out = both([SourceConfig(name="d", path=str(path))], None, tmp_path, cfg)
    assert read_rows(Path(out["path"])) == local.pairs and len(local.pairs) == 200
    assert out["counts"] == local.counts and out["dropped"] == [] and not list(Path(out["dropped_rows"]).glob("*"))


def test_ray_engine_says_which_step_removed_every_pair_as_the_local_engine_does(tmp_path, ray_session):
    """The decisions run in a Ray task; a step that leaves nothing is still the local engine's
    error, word for word, and nothing is written."""
    from rlhf_eval.curate.decide import EmptyAfterStep
    rows = [{"id": f"r{i}", "prompt": f"question {i}", "chosen": f"answer {i}", "rejected": f"wrong {i}"}
            for i in range(50)]
    path = tmp_path / "short.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = CurateConfig(steps=["dedup", "filter"], filter=FilterConfig(min_tokens=5))
    sources = [SourceConfig(name="short", path=str(path))]
    with pytest.raises(EmptyAfterStep) as local:
        run_steps(load_all(sources, None, cfg.on_bad_row, []), cfg, None)
    with pytest.raises(EmptyAfterStep) as ray:
        ray_engine.curate([("short", str(path), None, "train")], cfg.steps, data_settings(cfg, cfg.steps, None),
                          cfg.on_bad_row, tmp_path / "o")
    assert str(ray.value) == str(local.value)
    assert "step 'filter' removed every remaining pair (50 -> 0; too_short from short: 50)" in str(ray.value)
    assert not (tmp_path / "o").exists()
