"""The local executor with worker processes: a node failing in a worker stops new nodes, keeps
the finished ones and names itself; a rerun one by one in the `run` process completes the run with
the same numbers as the session's reference run (side by side on this machine's CPUs), and every
node ran with torch_threads threads; a worker killed mid-node fails that node in one line."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import ROOT, SMOKE, cli, cli_env, missing_data_task, run_cli, same_numbers, write_data
from rlhf_eval.launch.local import default_workers
from rlhf_eval.pipeline import node_manifests


def test_default_workers(monkeypatch):
    monkeypatch.setattr("rlhf_eval.launch.local.cpus", lambda: 6)
    monkeypatch.setenv("RLHF_EVAL_DEVICE", "cpu")
    assert default_workers(1) == 6 and default_workers(2) == 3 and default_workers(4) == 1
    assert default_workers(None) == 1  # torch's default: every core to one node
    monkeypatch.setattr("rlhf_eval.launch.local.cpus", lambda: 64)
    assert default_workers(1) == 8  # MAX_DEFAULT_WORKERS
    monkeypatch.setenv("RLHF_EVAL_DEVICE", "cuda")
    assert default_workers(1) == 1  # one GPU is not shared by two nodes


@pytest.mark.slow
def test_failure_in_a_worker_then_rerun_one_by_one_gives_the_same_numbers(reference_run, toy_cache, tmp_path):
    ref_dir, ref_proc = reference_run
    data, task = missing_data_task(tmp_path)
    args = ("run", SMOKE, f"run_root={tmp_path}", f"bon.tasks=[toy_sort,{task}]")
    proc = run_cli(toy_cache, *args, "local.workers=2", check=False)
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error: node bon_generate/" in err and f"task={task}" in err, err
    assert f"Unable to find '{data}'" in err, err
    assert "Traceback" not in proc.stderr
    run_dir = tmp_path / "smoke"
    assert node_manifests(run_dir, "toy_world") and node_manifests(run_dir, "train_rm")  # kept

    write_data(data)
    proc = run_cli(toy_cache, *args, "local.workers=1")
    assert "by " not in proc.stdout.split("nodes:")[-1].split("\n")[0]  # one by one, in the run process
    same_numbers(json.loads((run_dir / "results.json").read_text()),
                 json.loads((ref_dir / "results.json").read_text()))
    for d in (run_dir, ref_dir):
        plan = json.loads((d / "plan.json").read_text())["nodes"]
        threads = {json.loads((d / n["stage"] / n["key"] / "manifest.json").read_text())["threads"] for n in plan}
        assert threads == {1}
    assert json.loads((run_dir / "results.json").read_text())["provenance"][0]["threads"] == [1]


@pytest.mark.slow
def test_a_killed_worker_fails_its_node_in_one_line_and_a_rerun_completes(reference_run, toy_cache, tmp_path):
    """SIGKILL the worker running a train_rm node (its PID is in the node's lock file): the run
    stops with one line naming that node, and the same command then finishes the run."""
    args = cli("run", SMOKE, f"run_root={tmp_path}", "local.workers=2")
    proc = subprocess.Popen(args, cwd=ROOT, env=cli_env(toy_cache), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stage, deadline, killed = tmp_path / "smoke" / "train_rm", time.time() + 600, None
    while killed is None and time.time() < deadline and proc.poll() is None:
        for lock in stage.glob("*.lock") if stage.is_dir() else []:
            if not (lock.with_suffix("") / "manifest.json").exists() and lock.read_text().strip():
                holder = json.loads(lock.read_text())["pid"]
                if holder != proc.pid:
                    os.kill(holder, signal.SIGKILL)
                    killed = lock.with_suffix("").name
                    break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=600)
    assert killed, "never caught a worker inside train_rm"
    err = " ".join(err.split())
    assert proc.returncode == 2, out + err
    assert "error: a worker process died (killed, or out of memory?) while these nodes ran:" in err, err
    assert f"train_rm/{killed} (" in err, err
    run_cli(toy_cache, *args[3:])  # the same `run` command
    assert json.loads((tmp_path / "smoke" / "results.json").read_text())["rm_table"]
