"""Packed Slurm jobs (slurm.pack, launch/pack.py): one job per wave for the small CPU nodes, GPU
nodes a job each; a wave run side by side with a log per node, a failed node recorded while the
others finish; a rerun (what a requeued job does) skips finished nodes; and on the local Slurm, a
failed node fails its dependents only."""
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from test_slurm import lint, slurm_up, wait_idle

from conftest import ROOT, SMOKE, missing_data_task, run_cli, same_numbers, write_data
from rlhf_eval.launch.pack import failure_file, run_wave, waves
from rlhf_eval.launch.slurm import node_states
from rlhf_eval.pipeline import load_plan
from rlhf_eval.report.console import console

QUICK = ROOT / "recipes" / "quickstart.yaml"


def test_dry_run_packs_each_wave_of_cpu_nodes_into_one_job(toy_cache, tmp_path):
    proc = run_cli(toy_cache, "submit", QUICK, f"run_root={tmp_path}", "slurm.pack=true", "--dry-run")
    run_dir = tmp_path / "quickstart"
    plan = load_plan(run_dir)
    wave = waves(plan)
    scripts = sorted((run_dir / "slurm" / "scripts").glob("*.sh"))
    lint(scripts)
    packed = [s for s in scripts if s.name.startswith("pack-")]
    assert len(scripts) == len(packed) == len(set(wave.values()))  # no GPU stage: a job per wave
    seen = []
    for s in packed:
        ids = node_ids(s)
        assert len({wave[i] for i in ids}) == 1  # one wave per job
        seen += ids
    assert sorted(seen) == sorted(n.id for n in plan)  # every node in exactly one job
    # each wave's job waits for the jobs of its nodes' inputs, submitted before it (a dry run
    # names a job DRYRUN-<nodes submitted before it>)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("sbatch ")]
    assert len(lines) == len(packed) and "--dependency" not in lines[0]
    job_of, before = {}, 0
    for line in lines:
        ids = node_ids(Path(line.split()[-1]))
        parents = set(re.search(r"afterok:(\S+)", line).group(1).split(":")) if "afterok" in line else set()
        wanted = {job_of[d] for i in ids for d in next(n for n in plan if n.id == i).deps.values()}
        assert parents == wanted
        job_of |= dict.fromkeys(ids, f"DRYRUN-{before}")
        before += len(ids)


def node_ids(script: Path) -> list[str]:
    return script.read_text().rstrip().splitlines()[-1].split(" rlhf_eval.cli nodes ", 1)[1].split()[1:]


def test_gpu_nodes_keep_a_job_each(toy_cache, tmp_path):
    run_cli(toy_cache, "submit", ROOT / "recipes" / "gpu-cluster.yaml", f"run_root={tmp_path}", "slurm.pack=true",
            "--dry-run")
    scripts = sorted((tmp_path / "gpu-cluster" / "slurm" / "scripts").glob("*.sh"))
    lint(scripts)
    packed_ids = " ".join(s.read_text() for s in scripts if s.name.startswith("pack-"))
    for s in scripts:
        text = s.read_text()
        assert ("--gpus-per-node" in text) != s.name.startswith("pack-"), s.name
        if s.name.startswith("pack-"):  # a packed job takes its nodes' stage's resources
            assert "#SBATCH --partition=cpu" in text and "#SBATCH --mem=" in text
    assert "rl_train/" not in packed_ids and "train_rm/" not in packed_ids  # their stages ask for GPUs
    assert "compare/" in packed_ids and "report/" in packed_ids and "curate/" in packed_ids


def test_a_wave_records_a_failed_node_finishes_the_others_and_a_rerun_skips_them(reference_run, toy_cache, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("RLHF_EVAL_CACHE", str(toy_cache))
    run_dir = tmp_path / "smoke"
    shutil.copytree(reference_run[0], run_dir, symlinks=True)
    plan = load_plan(run_dir)
    wave = [n for n in plan if n.stage == "static_bench"][:3]
    for n in wave:
        shutil.rmtree(run_dir / n.stage / n.key)
    broken = wave[1].params["benchmark"]
    wave[1].params["benchmark"] = dict(broken, name="no_such_benchmark")  # fails when it runs
    failures = run_wave(run_dir, plan, wave, console, 1, 2)
    assert list(failures) == [wave[1].id] and "no_such_benchmark" in failures[wave[1].id]
    assert json.loads(failure_file(run_dir, wave[1]).read_text())["error"] == failures[wave[1].id]
    for n in (wave[0], wave[2]):
        assert (run_dir / n.stage / n.key / "manifest.json").is_file()
        assert n.id in (run_dir / "slurm" / "logs" / f"{n.stage}-{n.key}.out").read_text()
    log = (run_dir / "slurm" / "logs" / f"{wave[1].stage}-{wave[1].key}.out").read_text()
    assert "Traceback" in log and "no_such_benchmark" in log  # the failed node's own log says why

    # a requeued job runs the same wave again: the finished nodes are skipped, the failed one reruns
    done = {n.id: (run_dir / n.stage / n.key / "manifest.json").stat().st_mtime_ns for n in (wave[0], wave[2])}
    wave[1].params["benchmark"] = broken
    time.sleep(0.01)
    assert run_wave(run_dir, plan, wave, console, 1, 2) == {}
    assert not failure_file(run_dir, wave[1]).exists()
    assert {n.id: (run_dir / n.stage / n.key / "manifest.json").stat().st_mtime_ns for n in (wave[0], wave[2])} == done
    assert (run_dir / wave[1].stage / wave[1].key / "manifest.json").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not slurm_up(), reason="no Slurm here (slurm/local-cluster.sh up starts one)")
def test_packed_waves_on_slurm_a_failed_node_fails_its_dependents_only(reference_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    data, task = missing_data_task(tmp_path)  # its bon_generate node fails
    args = ("submit", SMOKE, f"run_root={tmp_path}", f"bon.tasks=[toy_sort,{task}]", "slurm.pack=true")
    proc = run_cli(toy_cache, *args)
    run_dir = tmp_path / "smoke"
    plan = load_plan(run_dir)
    jobs = int(proc.stdout.split(" nodes in ")[1].split(" jobs")[0])
    assert jobs == len(set(waves(plan).values())) < len(plan) / 3
    wait_idle(run_dir)
    rows = {r["node"]: r for r in node_states(run_dir, plan)}
    failed = [r for r in rows.values() if r["state"] == "failed"]
    first = [r for r in failed if r["node"].startswith("bon_generate/")]
    assert len(first) == 1 and "sort_short" in first[0]["label"] and f"Unable to find '{data}'" in first[0]["reason"]
    assert f"Unable to find '{data}'" in (run_dir / "slurm" / "logs" / f"{first[0]['node'].replace('/', '-')}.out"
                                          ).read_text()
    # every other failure is downstream of it, and says which input was missing
    assert len(failed) >= 5 and all("sort_short" in r["label"] or r["node"].split("/")[0] in ("compare", "report")
                                    for r in failed)
    assert all("input" in r["reason"] for r in failed if r is not first[0])
    assert {r["state"] for r in rows.values() if "task=toy_sort" in r["label"]} == {"done"}
    assert {rows[n.id]["state"] for n in plan if n.stage in ("train_rm", "static_bench")} == {"done"}

    write_data(data)
    run_cli(toy_cache, *args)
    wait_idle(run_dir)
    assert {r["state"] for r in node_states(run_dir, load_plan(run_dir))} == {"done"}
    res = json.loads(next((run_dir / "report").glob("*/results.json")).read_text())
    same_numbers(res, json.loads((ref_dir / "results.json").read_text()))
