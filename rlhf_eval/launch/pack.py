"""Packed Slurm jobs (`slurm.pack`): the small CPU nodes of one wave of the plan run in one
allocation through the local executor, one job per wave instead of one per node.

A node's wave is one more than its deepest input's (a node without inputs: wave 0), so the nodes
of a wave never depend on each other and a wave's job depends (afterok) on the jobs of its nodes'
inputs. A node is packed when its stage's Slurm resources ask for no GPU and one Slurm node and it
starts no Ray cluster: GPU nodes keep one job each. Nodes of one wave whose stages ask for other
resources (another partition, more memory) go in separate jobs, each with its stage's resources.

In the job, `rlhf-eval nodes RUN_DIR ID...` runs the wave (run_wave): each node logs to its own
<stage>-<key>.out and writes its manifest as it would alone; a failed node is recorded in
slurm/failed/<stage>-<key>.json and the others go on, so the job succeeds and the next waves
start: a node whose input failed fails at once, naming the input, and only the failed node's
dependents fail. A requeued job runs the same command: finished nodes are skipped.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from rlhf_eval import store
from rlhf_eval.pipeline import Node


def waves(nodes: list[Node]) -> dict[str, int]:
    """{node id: wave}, nodes in plan order (inputs first)."""
    out: dict[str, int] = {}
    for n in nodes:
        out[n.id] = 1 + max((out[d] for d in n.deps.values() if d in out), default=-1)
    return out


def packable(resources: dict, ray_cluster: bool) -> bool:
    """Whether a node with these Slurm resources (its stage's) goes into a packed job."""
    return not resources["gpus_per_node"] and resources["nodes"] == 1 and not ray_cluster


def failure_file(run_dir: Path, node: Node) -> Path:
    return Path(run_dir) / "slurm" / "failed" / f"{node.stage}-{node.key}.json"


def read_failure(run_dir: Path, node: Node) -> str | None:
    """The recorded error of a packed node that failed, if it is a well-formed record."""
    try:
        record = json.loads(failure_file(run_dir, node).read_text())
    except (OSError, ValueError):
        return None
    error = record.get("error") if isinstance(record, dict) else None
    return error if isinstance(error, str) else None


def run_wave(run_dir: Path, nodes: list[Node], wave: list[Node], console, threads: int | None,
             workers: int | None) -> dict[str, str]:
    """Run `wave` (nodes of one wave; `nodes`: the whole plan) side by side, each logging to its
    own file; returns {node id: error} of the nodes that failed, each also recorded on disk."""
    from rlhf_eval.launch import local
    from rlhf_eval.launch.node import todo_nodes

    log_dir = Path(run_dir) / "slurm" / "logs"
    todo = todo_nodes(run_dir, wave, lambda line: console.print(line, highlight=False, soft_wrap=True))
    for n in todo:
        failure_file(run_dir, n).unlink(missing_ok=True)
    failures: dict[str, str] = {}
    if todo:
        workers = max(1, min(workers or local.default_workers(threads), len(todo)))
        with local.Progress(*local.COLUMNS, console=console, transient=True) as progress:
            overall = progress.add_task(f"wave of {len(wave)} nodes", total=len(todo))
            if workers == 1:
                local._one_by_one(run_dir, nodes, todo, threads, progress, overall, failures, log_dir)
            else:
                local._side_by_side(run_dir, nodes, todo, threads, workers, progress, overall, failures, log_dir)
    by_id = {n.id: n for n in wave}
    for nid, error in failures.items():
        store.atomic_write_json(failure_file(run_dir, by_id[nid]), {"node": nid, "error": error, "at": time.time()})
    return failures
