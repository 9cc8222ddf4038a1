"""`curate.engine: ray` gives what the local engine gives: the same rows kept, the same rows
removed with the same reasons, the same funnel, on the toy world's sources plus rows made to hit
every step (copies, near copies, multi-turn prompts, non-ASCII text, benchmark leaks)."""
import random
from pathlib import Path

from test_data_steps import random_pairs

from rlhf_eval.config import CurateConfig, FilterConfig, NearDedupConfig, ToyWorldConfig
from rlhf_eval.curate.stage import run_steps
from rlhf_eval.data.pairs import read_rows
from rlhf_eval.toy.world import build_data


def test_ray_engine_equals_local_engine(tmp_path):
    info = build_data(ToyWorldConfig(), tmp_path)
    pairs = [r for p in info["sources"].values() for r in read_rows(Path(p))]
    pairs += random_pairs(random.Random(6), 1500, vocab=300)
    steps = ["filter", "dedup", "near_dedup", "decontaminate"]
    common = dict(steps=steps, near_dedup=NearDedupConfig(threshold=0.7, num_perm=64),
                  filter=FilterConfig(min_tokens=2, max_tokens=20))
    local = run_steps(pairs, CurateConfig(**common), info)
    ray = run_steps(pairs, CurateConfig(**common, engine="ray", ray_blocks=3), info)
    assert [p["id"] for p in ray.pairs] == [p["id"] for p in local.pairs]
    assert ray.removed == local.removed
    assert ray.counts == local.counts and ray.dropped == local.dropped
    reasons = {d["reason"] for d in local.dropped}
    assert reasons == {"too_short", "too_long", "duplicate", "near_duplicate", "contaminated"}, reasons
