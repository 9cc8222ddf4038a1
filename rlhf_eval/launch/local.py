"""The local executor: nodes in order, in this process, with rich progress bars."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rlhf_eval.launch.node import run_node, todo_nodes
from rlhf_eval.pipeline import Node


def execute(run_dir: Path, nodes: list[Node], console: Console, recipe=None, address=None) -> dict[str, float]:
    by_id = {n.id: n for n in nodes}
    todo = todo_nodes(run_dir, nodes,
                      lambda line: console.print(f"[yellow]{escape(line)}[/]", highlight=False, soft_wrap=True))
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
