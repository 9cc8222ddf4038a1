"""The distribution-shift axis of the study world (rlhf_eval/toy/shift.py), built for real with a
small SFT policy: each source holds its planted share of off-policy pairs and of flipped labels,
off-policy errors are of kinds the policy does not make, on-policy pairs are the policy's own
right and wrong samples, and the benchmarks' prompts are held out of everything else."""
import collections
import json

from rlhf_eval.config import StudyWorldConfig, ToyWorldConfig
from rlhf_eval.toy import shift, task
from rlhf_eval.toy.wiring import toy_world_params
from rlhf_eval.toy.world import build_data, build_world

SHARES, NOISE, PAIRS = (0.0, 0.5, 1.0), (0.0, 0.3), 300


def read(path):
    return [json.loads(line) for line in open(path)]


def test_shift_world_plants_its_shares_and_errors(tmp_path):
    study = StudyWorldConfig(noise_levels=[], marker_strengths=[], shift_shares=list(SHARES),
                             shift_noise_levels=list(NOISE), shift_pairs=PAIRS, shift_bench_pairs=60)
    small = dict(sft_steps=200, clean_pairs=20, noisy_pairs=20, length_pairs=20, artifact_pairs=20,
                 duplicate_pairs=5, leaked_pairs=5, bench_pairs_per_subset=5, task_prompts=10)
    cfg = ToyWorldConfig(**small, study=study)
    info = build_world(cfg, tmp_path / "world")
    on_wrong = []
    for share in SHARES:
        for noise in NOISE:
            rows = read(info["sources"][shift.source_name(share, noise)])
            assert len(rows) == PAIRS
            assert sum(r["meta"]["policy"] == "off" for r in rows) == round(PAIRS * share)
            flipped = [r["meta"].get("flipped", False) for r in rows]
            assert abs(sum(flipped) / PAIRS - noise) < 0.07, (share, noise, sum(flipped))
            for r, f in zip(rows, flipped):
                good, bad = (r["rejected"], r["chosen"]) if f else (r["chosen"], r["rejected"])
                assert task.is_correct(r["prompt"], good) and not task.is_correct(r["prompt"], bad), r
                if r["meta"]["policy"] == "off":
                    assert shift.offpolicy_kind(r["prompt"], bad) == r["meta"]["error"], r
                else:
                    on_wrong.append(shift.offpolicy_kind(r["prompt"], bad))
    # The policy's own wrong samples are near misses, (almost) never the off-policy kinds.
    assert len(on_wrong) > PAIRS and on_wrong.count(None) >= 0.99 * len(on_wrong), collections.Counter(on_wrong)
    off = read(info["benchmarks"]["toy_offpolicy"])
    on = read(info["benchmarks"]["toy_onpolicy"])
    assert len(off) == len(on) == 60
    assert {r["group"] for r in off} == set(shift.OFF_POLICY_ERRORS)
    for r in off + on:
        assert task.is_correct(r["prompt"], r["chosen"]) and not task.is_correct(r["prompt"], r["rejected"])
    assert all(shift.offpolicy_kind(r["prompt"], r["rejected"]) == r["group"] for r in off)
    assert all(shift.offpolicy_kind(r["prompt"], r["rejected"]) is None for r in on)
    # Benchmark prompts appear in no source and not in the task (and were held out of the policy's SFT).
    bench = {r["prompt"] for r in off + on}
    train = {r["prompt"] for p in info["sources"].values() for r in read(p)}
    task_prompts = {r["prompt"] for r in read(f"{info['tasks_dir']}/toy_sort.jsonl")}
    assert not bench & train and not bench & task_prompts
    data = build_data(cfg, tmp_path / "again")  # what the SFT is told to leave out
    assert bench <= data["_held_out"] and set(data["_shift"][2]) <= data["_held_out"]


def test_a_study_without_the_shift_axis_keeps_its_world_key():
    before = {"noise_levels": [0.0], "marker_strengths": [1.0], "pairs": 10}
    without = toy_world_params({"seed": 0, "study": before | {"shift_shares": [], "shift_pairs": 5}})
    assert without["config"]["study"] == before
    with_shift = toy_world_params({"seed": 0, "study": before | {"shift_shares": [0.5], "shift_pairs": 5}})
    assert with_shift["config"]["study"]["shift_pairs"] == 5
