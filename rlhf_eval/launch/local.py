"""The local executor: nodes in order, in this process, with rich progress bars."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rlhf_eval import store
from rlhf_eval.launch.node import node_dir, run_node
from rlhf_eval.pipeline import Node


def execute(run_dir: Path, nodes: list[Node], console: Console, recipe=None, address=None) -> dict[str, float]:
    by_id = {n.id: n for n in nodes}
    todo = [n for n in nodes if not store.is_done(node_dir(run_dir, n), n.key)]
    timings: dict[str, float] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task(f"run ({len(nodes) - len(todo)} of {len(nodes)} nodes cached)",
                                    total=len(todo))
        for node in todo:
            progress.update(overall, description=f"{node.stage}: {node.label}")
            manifest = run_node(run_dir, node, by_id, progress)
            timings[node.id] = manifest["duration_s"]
            progress.advance(overall)
        progress.update(overall, description="run")
    console.print(f"{len(nodes)} nodes: {len(nodes) - len(todo)} cached, {len(todo)} run")
    return timings
