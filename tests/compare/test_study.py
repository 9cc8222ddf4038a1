"""The planted-truth study at a reduced size: the instrument must recover what was built into the
toy world. Twelve implicit RMs on two independent axes (label noise 0-50% in steps of 10 x marker
strength 0 / 100%); toy_correct measures the quality axis only, toy_marker the nuisance axis
only, and the policy never writes the marker. So toy_correct must predict the best-of-8 gain and
toy_marker must not, with its Spearman below toy_correct's lower CI bound, as verdicts of one
family (Holm over the 2 cells). Six RMs (3 noise levels) were too few for that (Spearman +0.68,
exact p 0.15), and so were ten with 80 benchmark pairs (+0.65, p 0.042, adjusted 0.084): RMs with
0-30% noise barely differ downstream, so the design needs many levels and a sharp benchmark."""
import json

import pytest

from conftest import ROOT, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.ci]
STUDY = ROOT / "recipes" / "study.yaml"
NOISE = ("00", "10", "20", "30", "40", "50")
RMS = [f"study-q{q}-m{m}" for q in NOISE for m in ("000", "100")]
REDUCED = [
    "toy_world.sft_steps=600", "toy_world.task_prompts=60",
    "toy_world.study.noise_levels=[0.0,0.1,0.2,0.3,0.4,0.5]", "toy_world.study.marker_strengths=[0.0,1.0]",
    "toy_world.study.pairs=600", "toy_world.study.marker_pairs=300", "toy_world.study.bench_pairs=200",
    "sources=[" + ",".join(f"{{name: noise-{q}, path: 'toy:noise-{q}'}}" for q in NOISE) + ","
    "{name: marker-000, path: 'toy:marker-000'},"
    "{name: marker-100, path: 'toy:marker-100'}]",
    f"reward_models=[{','.join(RMS)}]",
    "bon.n_max=8", "bon.n_grid=[1,8]", "rl.enabled=false", "compare.bootstrap=400",
]


def test_reduced_study_recovers_the_planted_truth(toy_cache, tmp_path):
    run_cli(toy_cache, "run", STUDY, f"run_root={tmp_path}", *REDUCED)
    res = json.loads((tmp_path / "study" / "results.json").read_text())
    cells = {(c["benchmark"], c["downstream"]): c for c in res["correlations"]}
    gain = next(d for (_, d) in cells if d.startswith("best-of-8 gain"))
    correct, marker = cells[("toy_correct", gain)], cells[("toy_marker", gain)]
    assert correct["n_rms"] == 12 and correct["class"] == "predicts", correct["verdict"]
    assert res["family"]["size"] == 2 and correct["p_adjusted"] < 0.05 and marker["p_adjusted"] >= 0.05
    assert marker["class"] != "predicts", marker["verdict"]
    assert marker["spearman"]["value"] < correct["spearman"]["ci"][0], (marker["spearman"], correct["spearman"])
    # Each benchmark ranks its own axis: more label noise, lower toy_correct; marker strength 1, higher toy_marker.
    score = {r["rm"]: r for r in res["rm_table"]}
    col_c, col_m = "toy_correct score", "toy_marker score"
    for m in ("000", "100"):
        assert score[f"study-q00-m{m}"][col_c] > score[f"study-q50-m{m}"][col_c]
    for q in NOISE:
        assert score[f"study-q{q}-m100"][col_m] > score[f"study-q{q}-m000"][col_m]
    html = (tmp_path / "study" / "report.html").read_text()
    assert html.count('class="plot panel"') == 1  # both benchmarks on one scatter panel
