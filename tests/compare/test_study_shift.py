"""The distribution-shift study (recipes/study-shift.yaml) at a reduced size: the instrument must
recover what was planted. Nine classifier RMs on a grid of the share of off-policy pairs in their
training data (0, 75, 100%) x label noise (0, 10, 20%), no RL. toy_onpolicy (the policy's own
samples) must predict the best-of-16 gain; toy_offpolicy (errors the policy never makes) must
not, and must predict it worse, by the paired interval over RMs. The world itself must behave as
planted: more off-policy data, a higher or equal toy_offpolicy score and a lower toy_onpolicy
score and best-of-16 gain."""
import json

import pytest

from conftest import ROOT, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.ci]
STUDY = ROOT / "recipes" / "study-shift.yaml"
SHARES, NOISE = ("000", "050", "090", "100"), ("00", "10", "20")
RMS = [f"shift-s{s}-q{q}" for s in SHARES for q in NOISE]
REDUCED = [
    "toy_world.study.shift_shares=[0.0,0.5,0.9,1.0]", "toy_world.study.shift_bench_pairs=600",
    "sources=[" + ",".join(f"{{name: {n}, path: 'toy:{n}'}}" for n in RMS) + "]",
    f"reward_models=[{','.join(RMS)}]", "bon.n_grid=[1,16]", "rl.enabled=false",
    "compare.bootstrap=400",
]


def test_reduced_shift_study_recovers_the_planted_direction(toy_cache, tmp_path):
    run_cli(toy_cache, "run", STUDY, f"run_root={tmp_path}", *REDUCED)
    res = json.loads((tmp_path / "study-shift" / "results.json").read_text())
    cells = {(c["benchmark"], c["downstream"]): c for c in res["correlations"]}
    gain = next(d for (_, d) in cells if d.startswith("best-of-16 gain"))
    on, off = cells[("toy_onpolicy", gain)], cells[("toy_offpolicy", gain)]
    assert on["n_rms"] == 12 and on["class"] == "predicts", on["verdict"]
    assert off["class"] != "predicts", off["verdict"]
    pair = next(g for g in res["benchmark_ranking"] if g["downstream"] == gain)["pairs"][0]
    assert (pair["a"], pair["b"]) == ("toy_onpolicy score", "toy_offpolicy score") and pair["ci"][0] > 0, pair
    assert res["headline"].startswith("In one line") and "toy_onpolicy score predicts" in res["headline"]
    score = {r["rm"]: r for r in res["rm_table"]}
    for q in NOISE:
        share0, share1 = score[f"shift-s000-q{q}"], score[f"shift-s100-q{q}"]
        assert share1["toy_offpolicy score"] >= share0["toy_offpolicy score"] - 0.01, q
        assert share1["toy_onpolicy score"] < share0["toy_onpolicy score"], q
        assert share1[gain] < share0[gain], q
