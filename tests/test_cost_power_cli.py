"""`plan --cost` against hand-computed GPU-hours, and `power` on a recipe (stated noise) against
the Fisher-z closed form, both through the real CLI."""
import json
import math
import subprocess
import sys

import pytest

from conftest import ROOT
from rlhf_eval.config import load_recipe
from rlhf_eval.launch.cost import CostError, by_stage, estimate, params_of
from rlhf_eval.pipeline import expand

GPU = ROOT / "recipes" / "gpu-cluster.yaml"


def test_cost_of_the_gpu_cluster_recipe_by_hand():
    loaded = load_recipe(GPU)
    est = estimate(expand(loaded), loaded.to_dict()["recipe"])
    stages = by_stage(est)
    p = 8e9
    # train_rm llama-8b-curated: 6 * 8e9 * 80000 pairs * 2 * (256 + 512) tokens * 1 epoch at 400 TFLOP/s.
    assert stages["train_rm"][1] == pytest.approx(6 * p * 80000 * 2 * 768 / 400e12 / 3600)
    # bon_generate: 500 prompts (bon.limit) x 32 samples x 512 tokens, 2 * 8e9 FLOPs each, at 100 TFLOP/s.
    assert stages["bon_generate"][1] == pytest.approx(2 * p * 500 * 32 * 512 / 100e12 / 3600)
    # rl_train (GRPO: no critic), 200 steps of 64 x 8 rollouts, 1024 new tokens, policy and RM 8B.
    r = 64 * 8
    step = 2 * p * r * 1024 / 100e12 / 3600 + (6 * p + 2 * p + 2 * p) * r * (256 + 1024) / 400e12 / 3600
    assert stages["rl_train"] == (3, pytest.approx(3 * 200 * step))
    # rewardbench: 2,985 pairs, two responses each.
    rb = [e for e in est if e.stage == "static_bench" and "rewardbench " in e.label + " "]
    assert rb[0].gpu_hours == pytest.approx(2 * p * 5970 * 768 / 400e12 / 3600)
    assert params_of("x", "hf:Qwen/Qwen2.5-0.5B-Instruct", {"params_b": {}}) == pytest.approx(0.5e9)
    with pytest.raises(CostError, match="set cost.params_b.mystery"):
        params_of("mystery", "hf:org/model", {"params_b": {}})


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rlhf_eval.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_plan_cost_cli_prints_the_stage_table():
    proc = _cli("plan", GPU, "--cost")
    assert proc.returncode == 0, proc.stderr
    assert "estimated GPU-hours" in proc.stdout and "rl_train" in proc.stdout and "total" in proc.stdout


def test_plan_cost_names_what_it_does_not_know_and_counts_the_rest():
    """Every registered benchmark either carries its size (bench.base.Benchmark.responses) or
    plan --cost says which one it lacks, leaves it out of the total, and still prints the table."""
    from rlhf_eval.bench import BENCHMARKS
    known = {name for name in BENCHMARKS if BENCHMARKS.load(name).responses}
    assert known == {"rewardbench", "rewardbench2", "rm-bench", "judgebench", "rmb-bon"}
    over = "static_bench.benchmarks=[rewardbench,ppe-preference]"
    proc = _cli("plan", GPU, "--cost", over)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "cost unknown for 3 static_bench node(s): size of 'ppe-preference' unknown: set " \
           "cost.benchmark_responses.ppe-preference" in text
    assert "at least" in text and "3 unknown" in text
    stated = _cli("plan", GPU, "--cost", over, "cost.benchmark_responses={ppe-preference: 10240}")
    assert stated.returncode == 0 and "unknown" not in stated.stdout and "at least" not in stated.stdout


def test_power_cli_on_a_recipe_with_stated_noise(tmp_path):
    out = tmp_path / "power.json"
    proc = _cli("power", ROOT / "recipes" / "quickstart.yaml", "--rms", "30", "--reliability", "0.9",
                "--reps", "150", "--draws", "200", "--out", out)
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(out.read_text())
    assert row["rms"] == 30 and row["reliability_static"] == 0.9
    # Fisher z: 30 RMs at reliability 0.9 detect a true Spearman correlation of about 0.6 at 80% power.
    assert 0.45 <= row["detectable_rho"] <= 0.75
    assert row["closed_form_rms_needed"] == math.ceil(
        1.06 * ((1.959964 + 0.841621) / math.atanh(6 / math.pi * math.asin(0.6 * 0.9 / 2))) ** 2 + 3)
    assert abs(row["rms_needed"] - row["closed_form_rms_needed"]) <= 8
    bad = _cli("power", ROOT / "recipes" / "quickstart.yaml", "--rho", "1.5")
    assert bad.returncode == 2 and "--rho 1.5" in bad.stderr


def test_power_cli_sizes_a_cell_of_a_family(tmp_path):
    """--cells 15: the strongest of 15 cells needs p < 0.05 / 15 (Holm's first step), so the
    closed form uses z at 1 - 0.05 / 30 and more RMs are needed than for one cell alone."""
    out = tmp_path / "power.json"
    proc = _cli("power", ROOT / "recipes" / "quickstart.yaml", "--rms", "30", "--reliability", "0.9",
                "--reps", "100", "--draws", "100", "--cells", "15", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "strongest of 15 cells" in " ".join(proc.stdout.split())
    [row] = json.loads(out.read_text())
    z = math.atanh(6 / math.pi * math.asin(0.6 * 0.9 / 2))
    one = math.ceil(1.06 * ((1.959964 + 0.841621) / z) ** 2 + 3)
    assert row["cells"] == 15 and row["closed_form_rms_needed"] == math.ceil(
        1.06 * ((2.935199 + 0.841621) / z) ** 2 + 3) > one
    assert abs(row["rms_needed"] - row["closed_form_rms_needed"]) <= 12


def test_a_curation_judge_is_priced():
    """curate with a judge (consistency) runs the judge over both responses of every pair: its
    forward passes count; without a judge curate is CPU work and adds nothing."""
    loaded = load_recipe(GPU, ["curate.steps=[dedup, consistency]", "curate.consistency.judge=skywork-llama-8b"])
    [cur] = [e for e in estimate(expand(loaded), loaded.to_dict()["recipe"]) if e.stage == "curate"]
    assert cur.gpu_hours == pytest.approx(2 * 8e9 * 80000 * 2 * 768 / 400e12 / 3600)
    assert not [e for e in estimate(expand(load_recipe(GPU)), load_recipe(GPU).to_dict()["recipe"])
                if e.stage == "curate"]


def test_power_on_a_run_fits_80_columns_with_a_bar_and_names_that_differ(reference_run, tmp_path):
    """Each measure under the run's short name, its full name in the legend (toy_rewardbench and
    toy_rewardbench2 are B1 and B2, never both cut to 'toy_rewardbe…'); a bar while it simulates."""
    import re
    run_dir, _ = reference_run
    out = tmp_path / "power.json"
    proc = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "power", str(run_dir), "--reps", "10",
                           "--draws", "30", "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                          env={"COLUMNS": "80", "FORCE_COLOR": "1", "PATH": "/usr/bin:/bin"}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", proc.stdout).splitlines()
    assert max(map(len, lines)) <= 80
    legend = " ".join(lines)
    assert "B1 = toy_rewardbench score" in legend and "B2 = toy_rewardbench2 score" in legend
    assert "…" not in proc.stdout
    rows = json.loads(out.read_text())
    shown = [line.split("│")[1].strip(" *") for line in lines if line.startswith("│")]
    assert len(shown) == len(rows) and {"B1", "B2", "B3"} <= set(shown)
    assert "simulating studies" in proc.stderr and f"/{len(rows)}" in proc.stderr  # the bar counts the cells
