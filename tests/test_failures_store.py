"""Failure modes of the run store and of concurrent runs (issue 16, items 7-9), and of the disk
(item 13: full, read-only). docs/failure-modes.md keeps the same table.

| # | input or fault | what happens now |
|---|---|---|
| 7 | a second `run` (or `submit`) on a run folder in use | stops at once: "in use by PID <pid> on <host>" |
| 7 | `node` on a node another process is running | stops at once naming that PID |
| 7 | two runs building the same toy world | the second waits, names the builder, then reuses it|
| 8 | train_rm/<key>/model/model.safetensors deleted | `status`: damaged; `run` names the file, redoes that node only |
| 8 | the toy-world cache's policy weights deleted | the toy_world node is redone, rebuilding the cache |
| 9 | a run folder moved, then read from another folder | serve-rm --run and compare work from anywhere |
| 13 | the run root on a full disk | one line naming the node and file; finished nodes kept |
| 13 | the run root read-only | one line naming the file |

Parallel nodes of one run (Ray, Slurm) take node locks only: test_ray_executor and test_slurm run them.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, SMOKE, cli, cli_env, run_cli
from rlhf_eval import store
from rlhf_eval.config import load_recipe
from rlhf_eval.lock import locked, node_lock, run_lock
from rlhf_eval.pipeline import expand, load_plan, plan_dict


def node_of(run_dir: Path, stage: str, label: str | None = None):
    return next(n for n in load_plan(run_dir) if n.stage == stage and label in (None, n.label))


# 7
def test_a_run_folder_in_use_stops_a_second_run_naming_the_holder(toy_cache, tmp_path):
    run_dir = tmp_path / "smoke"
    with run_lock(run_dir):
        proc = run_cli(toy_cache, "run", SMOKE, f"run_root={tmp_path}", check=False)
        assert proc.returncode == 2
        assert f"run folder {run_dir} is in use by PID {os.getpid()}" in " ".join(proc.stderr.split())
        assert not (run_dir / "plan.json").exists()  # nothing was touched
        proc = run_cli(toy_cache, "submit", SMOKE, f"run_root={tmp_path}", "--dry-run", check=False)
        assert proc.returncode == 2 and f"is in use by PID {os.getpid()}" in proc.stderr


@pytest.mark.slow
def test_a_node_in_use_stops_a_second_process_naming_the_holder(reference_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    run_dir = tmp_path / "smoke"
    shutil.copytree(ref_dir, run_dir)
    report = node_of(run_dir, "report")
    shutil.rmtree(run_dir / "report" / report.key)
    with node_lock(run_dir / "report" / report.key, report.label):
        proc = run_cli(toy_cache, "node", run_dir, report.id, check=False)
    assert proc.returncode == 2
    assert f"node report/{report.key} (report) is in use by PID {os.getpid()}" in " ".join(proc.stderr.split())
    assert not (run_dir / "report" / report.key).exists()  # the holder's folder was not wiped
    proc = run_cli(toy_cache, "node", run_dir, report.id)
    assert f"{report.id} done" in proc.stdout


@pytest.mark.slow
def test_a_toy_world_being_built_is_waited_for_then_reused(reference_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    loaded = load_recipe(SMOKE, [f"run_root={tmp_path}"])
    nodes = expand(loaded)
    store.atomic_write_json(loaded.run_dir / "plan.json", plan_dict(loaded, nodes))
    toy = next(n for n in nodes if n.stage == "toy_world")
    cache = toy_cache / "toy_world" / toy.key
    assert store.is_done(cache, toy.key)  # built by the reference run
    with locked(cache.with_name(f"{toy.key}.lock"), "toy world cache"):
        proc = subprocess.Popen(cli("node", loaded.run_dir, toy.id), cwd=ROOT, env=cli_env(toy_cache),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(8)
        assert proc.poll() is None  # waiting for us
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert f"waiting for PID {os.getpid()}" in " ".join(out.split())
    manifest = store.read_manifest(loaded.run_dir / "toy_world" / toy.key)
    assert manifest["outputs"]["policy"] == str(cache / "policy")  # reused, not rebuilt
    assert str(cache.resolve()) in manifest["watched"]


# 8
@pytest.mark.slow
def test_a_deleted_model_file_is_noticed_and_only_its_node_is_redone(reference_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    run_dir = tmp_path / "smoke"
    shutil.copytree(ref_dir, run_dir)
    rm = node_of(run_dir, "train_rm", "rm=classifier-curated rm_seed=0")
    weights = run_dir / "train_rm" / rm.key / "model" / "model.safetensors"
    size = weights.stat().st_size
    weights.unlink()
    proc = run_cli(toy_cache, "status", run_dir)
    assert "damaged" in proc.stdout
    before = {n.id: store.read_manifest(run_dir / n.stage / n.key)["finished"] for n in load_plan(run_dir)}
    proc = run_cli(toy_cache, "run", SMOKE, f"run_root={tmp_path}")
    out = " ".join(proc.stdout.split())
    assert f"{rm.id} (rm=classifier-curated rm_seed=0): {weights} is missing; redoing it" in out
    assert weights.stat().st_size == size
    after = {n.id: store.read_manifest(run_dir / n.stage / n.key)["finished"] for n in load_plan(run_dir)}
    assert [nid for nid in before if after[nid] != before[nid]] == [rm.id]


def test_a_truncated_file_is_noticed(tmp_path):
    node = tmp_path / "run" / "curate" / "0123456789ab"
    node.mkdir(parents=True)
    (node / "pairs.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    store.write_manifest(node, {"key": "0123456789ab", "outputs": {"pairs": str(node / "pairs.jsonl")}})
    assert store.is_done(node, "0123456789ab")
    (node / "pairs.jsonl").write_text('{"a": 1}\n{"a": 3}\n')  # same size, other bytes
    assert "changed since the node finished" in store.done_manifest(node, "0123456789ab")[1]
    (node / "pairs.jsonl").write_text('{"a": 1}\n')
    assert "has 9 bytes, the manifest recorded 18" in store.done_manifest(node, "0123456789ab")[1]


@pytest.mark.slow
def test_damaged_toy_world_cache_is_rebuilt(reference_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    cache = tmp_path / "cache"
    shutil.copytree(toy_cache / "toy_world", cache / "toy_world", ignore=shutil.ignore_patterns("*.lock"))
    run_dir = tmp_path / "smoke"
    shutil.copytree(ref_dir, run_dir)
    toy = node_of(run_dir, "toy_world")
    # The run's toy_world manifest points at the session cache; this copy points at its own.
    manifest = json.loads((run_dir / "toy_world" / toy.key / "manifest.json").read_text())
    text = json.dumps(manifest).replace(str(toy_cache.resolve()), str(cache.resolve()))
    (run_dir / "toy_world" / toy.key / "manifest.json").write_text(text)
    weights = cache / "toy_world" / toy.key / "policy" / "model.safetensors"
    weights.unlink()
    proc = run_cli(cache, "node", run_dir, toy.id)
    out = " ".join(proc.stdout.split())
    assert f"toy world cache {cache / 'toy_world' / toy.key}: {weights} is missing; rebuilding it" in out
    assert weights.is_file() and store.is_done(run_dir / "toy_world" / toy.key, toy.key)


# 9
@pytest.mark.slow
def test_a_moved_run_is_read_from_anywhere(reference_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    moved = tmp_path / "elsewhere" / "smoke"
    shutil.copytree(ref_dir, moved)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    rm = node_of(moved, "train_rm", "rm=classifier-curated rm_seed=0")
    raw = json.loads((moved / "train_rm" / rm.key / "manifest.json").read_text())
    assert raw["outputs"]["path"] == f"train_rm/{rm.key}/model"  # stored relative to the run folder
    # serve-rm --run, started in another folder, serves the moved copy.
    proc = subprocess.Popen(cli("serve-rm", "classifier-curated", "--run", moved, "--port", "0"), cwd=elsewhere,
                            env=cli_env(toy_cache), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving RM 'classifier-curated' on http://" in line, line + proc.stdout.read()
        url = line.split(" on ")[1].split(";")[0].split(" ")[0]
        r = requests.post(url, json={"query": ["qa", "qb"], "prompts": ["q", "q"], "responses": ["a", "b"]},
                          timeout=60)
        assert r.status_code == 200 and len(r.json()["rewards"]) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0 and "serve-rm stopped" in out
    # compare reads two copies, from a third folder.
    other = tmp_path / "copy2" / "smoke"
    shutil.copytree(moved, other)
    proc = subprocess.run(cli("compare", moved, other, "--out", tmp_path / "cmp"), cwd=elsewhere,
                          env=cli_env(toy_cache), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "cmp" / "report.html").is_file()


# 13: the disk
def _in_tmpfs(script: str, size: str, read_only: bool = False) -> subprocess.CompletedProcess:
    """Run `script` (bash) with a small tmpfs at $MNT, inside a user and mount namespace, so no
    privileges are needed; skip where namespaces are not allowed."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {probe.stderr.strip()}")
    opts = f"size={size}" + (",ro" if read_only else "")
    full = f"set -e; MNT=$(mktemp -d); mount -t tmpfs -o {opts} tmpfs $MNT; export MNT; set +e; {script}"
    return subprocess.run(["unshare", "-rm", "bash", "-c", full], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
def test_a_full_disk_stops_with_one_line_and_keeps_finished_nodes(reference_run, toy_cache):
    cmd = " ".join(map(str, cli("run", SMOKE, "run_root=$MNT")))
    proc = _in_tmpfs(f"RLHF_EVAL_CACHE={toy_cache} {cmd}; echo rc=$?; ls $MNT/smoke/*/*/manifest.json", "1m")
    err = " ".join(proc.stderr.split())
    assert "rc=2" in proc.stdout, proc.stdout + proc.stderr
    assert "No space left on device (the disk is full; free space and run again (finished nodes are kept))" in err
    assert re.match(r"error: node \S+ \(.+?\): /\S+/smoke/\S+: No space left on device", err), err
    assert "Traceback" not in proc.stderr
    assert "/toy_world/" in proc.stdout  # the finished node's manifest is still there


def test_a_read_only_run_root_is_one_line(toy_cache):
    cmd = " ".join(map(str, cli("run", SMOKE, "run_root=$MNT")))
    proc = _in_tmpfs(f"RLHF_EVAL_CACHE={toy_cache} {cmd}; echo rc=$?", "1m", read_only=True)
    assert "rc=2" in proc.stdout, proc.stdout + proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("error: ") and "Read-only file system (the folder is read-only" in first
    assert "Traceback" not in proc.stderr


# 13: the run folder itself
def test_node_on_a_missing_run_folder_and_status_on_a_truncated_plan_are_one_line(tmp_path):
    from typer.testing import CliRunner

    from rlhf_eval.cli import app
    r = CliRunner().invoke(app, ["node", str(tmp_path / "nope"), "x"])
    assert r.exit_code == 2 and "no plan.json; is this a run folder made by `rlhf-eval run`?" in r.output
    (tmp_path / "plan.json").write_text('{"nodes": [{"stage": "toy_wo')
    r = CliRunner().invoke(app, ["status", str(tmp_path)])
    assert r.exit_code == 2 and "plan.json is damaged (JSONDecodeError" in r.output
    assert "Traceback" not in r.output


def test_an_internal_error_says_so_and_keeps_the_traceback(tmp_path, monkeypatch):
    """A bug (here a KeyError) is not dressed up as a user error; its traceback is in the log."""
    import typer
    from typer.testing import CliRunner

    from rlhf_eval.cli import report_errors
    from rlhf_eval.data.pairs import DataError

    monkeypatch.setenv("RLHF_EVAL_CACHE", str(tmp_path))
    app = typer.Typer()

    def broken(kind: str):
        if kind == "bug":
            {}["missing"]
        raise DataError("pairs.jsonl: row 3: field 'chosen' missing")
    app.command()(report_errors(broken))
    r = CliRunner().invoke(app, ["bug"])
    assert r.exit_code == 1
    assert "internal error: KeyError: 'missing'" in r.output and "This is a bug in rlhf-eval" in r.output
    log = Path(r.output.split("traceback: ")[1].split()[0])
    assert log.parent == tmp_path / "logs"
    assert "Traceback" in log.read_text() and "KeyError: 'missing'" in log.read_text()
    r = CliRunner().invoke(app, ["user"])
    assert r.exit_code == 2 and r.output.startswith("error: pairs.jsonl: row 3: field 'chosen' missing")
