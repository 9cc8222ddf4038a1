"""The Ray executor: every node not yet done becomes a Ray task with the recipe's CPU/GPU needs
(`ray.defaults`, `ray.stages`), its parents' tasks as arguments, so Ray starts it only after they
succeed and runs independent nodes side by side.

A task runs `rlhf-eval node RUN_DIR NODE_ID` in a child process, the entry point of every executor,
so a run's files are the same wherever it ran. The child is forked from a forkserver the Ray worker
keeps with the heavy imports done (launch/warm.py), or, with `ray.warm: false`, a fresh interpreter.
Each node logs to RUN_DIR/ray/logs/<stage>-<key>.out.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rlhf_eval.device import thread_env
from rlhf_eval.errors import UserError
from rlhf_eval.launch import QUIET_ENV
from rlhf_eval.launch.node import todo_nodes
from rlhf_eval.pipeline import Node, node_done
from rlhf_eval.terminal import shown


class NodeFailed(UserError, RuntimeError):
    pass


def log_path(run_dir: Path, node: Node) -> Path:
    return run_dir / "ray" / "logs" / f"{node.stage}-{node.key}.out"


def _run_node_process(run_dir: str, node_id: str, log: str, cwd: str, env: dict, warm: bool, *parents) -> str:
    """The body of a node's Ray task; `parents` are the parent tasks' results, passed only so that
    Ray waits for them (and fails this task when one failed)."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        out.write(f"== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} pid {os.getpid()}: {node_id}\n")
        out.flush()
        if warm:
            from rlhf_eval.launch.warm import run_node_process
            code = run_node_process(run_dir, node_id, log, cwd, env)
        else:
            code = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "node", run_dir, node_id], cwd=cwd,
                                  env=os.environ | env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = Path(log).read_text().splitlines()[-1:] or [""]
        raise NodeFailed(f"{node_id} exited with {code}: {tail[0].strip()} (log: {log})")
    return node_id


def _resources(recipe, stage: str) -> dict:
    r = recipe.ray.stages.get(stage, recipe.ray.defaults)
    return {"num_cpus": r.num_cpus, "num_gpus": r.num_gpus}


def _task_env(num_cpus: float, threads: int | None) -> dict:
    # Ray sets OMP_NUM_THREADS=1 in its workers. A node gets the recipe's torch_threads (`rlhf-eval
    # node` sets them too), or, for null, as many threads as CPUs it reserved.
    env = dict(QUIET_ENV) | thread_env(threads or max(1, int(num_cpus)))
    return env | {k: v for k, v in os.environ.items() if k.startswith("RLHF_EVAL_")}


def _reason(exc: Exception) -> str:
    """The NodeFailed message inside a RayTaskError, without Ray's traceback."""
    text = str(exc)
    for line in reversed(text.splitlines()):
        if "exited with" in line:
            return line.split("NodeFailed: ")[-1].strip()
    return text.splitlines()[-1].strip() if text else type(exc).__name__


def execute(run_dir: Path, nodes: list[Node], console: Console, recipe=None, address: str | None = None
            ) -> dict[str, float]:
    import ray

    run_dir = Path(run_dir).absolute()
    todo = todo_nodes(run_dir, nodes,
                      lambda line: console.print(f"[yellow]{shown(line)}[/]", highlight=False, soft_wrap=True))
    address = address or (recipe.ray.address if recipe is not None else None)
    started = time.time()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    console.print(f"Ray {'at ' + address if address else '(local)'}: "
                  f"{ray.cluster_resources().get('CPU', 0):g} CPUs, {ray.cluster_resources().get('GPU', 0):g} GPUs, "
                  f"ready in {time.time() - started:.1f} s", highlight=False)
    task = ray.remote(_run_node_process)
    refs: dict[str, object] = {}
    for n in todo:
        res = _resources(recipe, n.stage) if recipe is not None else {"num_cpus": 1, "num_gpus": 0}
        parents = [refs[d] for d in n.deps.values() if d in refs]
        # No retry of a node that failed by itself: it would fail again. A dead worker is retried.
        env = _task_env(res["num_cpus"], recipe.torch_threads if recipe is not None else None)
        warm = recipe is None or recipe.ray.warm
        refs[n.id] = task.options(**res, max_retries=recipe.ray.max_retries if recipe else 1,
                                  retry_exceptions=False, name=f"{n.stage}:{n.key}").remote(
            str(run_dir), n.id, str(log_path(run_dir, n)), os.getcwd(), env, warm, *parents)
    by_ref = {ref: nid for nid, ref in refs.items()}
    failed: dict[str, str] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(f"run on Ray ({len(nodes) - len(todo)} of {len(nodes)} nodes cached)", total=len(todo))
        pending = list(refs.values())
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            nid = by_ref[ready[0]]
            try:
                ray.get(ready[0])
            except Exception as exc:
                failed[nid] = _reason(exc)
            progress.advance(bar)
    timings = {}
    for n in todo:
        m, _ = node_done(run_dir, n)
        if m is not None:
            timings[n.id] = m["duration_s"]
    if failed:
        own = {nid: why for nid, why in failed.items() if "exited with" in why and why.startswith(nid)}
        skipped = len(failed) - len(own)
        lines = [f"  {why}" for why in own.values()]
        raise NodeFailed(f"{len(own)} node(s) failed, {skipped} not run because an input failed, "
                         f"{len(timings)} done:\n" + "\n".join(lines))
    console.print(f"{len(nodes)} nodes: {len(nodes) - len(todo)} cached, {len(todo)} run on Ray")
    return timings
