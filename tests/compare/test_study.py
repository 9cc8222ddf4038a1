"""The planted-truth study at a reduced size: the instrument must recover what was built into the
toy world. Six implicit RMs on two independent axes (label noise 0 / 20 / 50% x marker strength
0 / 100%); toy_correct measures the quality axis only, toy_marker the nuisance axis only, and the
policy never writes the marker. So toy_correct must predict the best-of-8 gain and toy_marker
must not, with its Spearman below toy_correct's lower CI bound."""
import json

import pytest

from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow
STUDY = ROOT / "recipes" / "study.yaml"
RMS = [f"study-q{q}-m{m}" for q in ("00", "20", "50") for m in ("000", "100")]
REDUCED = [
    "toy_world.sft_steps=600", "toy_world.task_prompts=60",
    "toy_world.study.noise_levels=[0.0,0.2,0.5]", "toy_world.study.marker_strengths=[0.0,1.0]",
    "toy_world.study.pairs=600", "toy_world.study.marker_pairs=300", "toy_world.study.bench_pairs=80",
    "sources=[{name: noise-00, path: 'toy:noise-00'},{name: noise-20, path: 'toy:noise-20'},"
    "{name: noise-50, path: 'toy:noise-50'},{name: marker-000, path: 'toy:marker-000'},"
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
    assert correct["n_rms"] == 6 and correct["class"] == "predicts", correct["verdict"]
    assert marker["class"] != "predicts", marker["verdict"]
    assert marker["spearman"]["value"] < correct["spearman"]["ci"][0], (marker["spearman"], correct["spearman"])
    # Each benchmark ranks its own axis: more label noise, lower toy_correct; marker strength 1, higher toy_marker.
    score = {r["rm"]: r for r in res["rm_table"]}
    col_c, col_m = "toy_correct score", "toy_marker score"
    for m in ("000", "100"):
        assert score[f"study-q00-m{m}"][col_c] > score[f"study-q50-m{m}"][col_c]
    for q in ("00", "20", "50"):
        assert score[f"study-q{q}-m100"][col_m] > score[f"study-q{q}-m000"][col_m]
    html = (tmp_path / "study" / "report.html").read_text()
    assert html.count('class="plot panel"') == 1  # both benchmarks on one scatter panel
