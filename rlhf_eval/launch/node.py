"""Run one stage node: read its inputs' manifests, run the stage in a fresh folder, then write
its manifest atomically. The one entry point every executor uses."""
from __future__ import annotations

import os
import platform
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from rlhf_eval import store
from rlhf_eval.errors import UserError
from rlhf_eval.lock import node_lock
from rlhf_eval.pipeline import Node, node_done
from rlhf_eval.stages import run_function
from rlhf_eval.terminal import shown

# What a node's numbers can depend on; the report checks them against requirements.lock.
TRACKED = ("rlhf-eval", "torch", "transformers", "trl", "datasets", "lm_eval", "omegaconf", "accelerate",
           "tokenizers", "safetensors", "numpy", "scipy", "pyarrow", "scikit-learn", "datasketch", "ray", "pandas")


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in TRACKED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _threads() -> int:
    """torch's intra-op threads in this node (results depend on the count: recipe key torch_threads);
    for a node that never imported torch, the count it would have had (OMP_NUM_THREADS)."""
    if "torch" in sys.modules or not os.environ.get("OMP_NUM_THREADS", "").isdigit():
        import torch
        return torch.get_num_threads()
    return int(os.environ["OMP_NUM_THREADS"])


def node_dir(run_dir: Path, node: Node) -> Path:
    return Path(run_dir) / node.stage / node.key


@dataclass
class NodeContext:
    run_dir: Path
    node: Node
    dir: Path
    inputs: dict
    progress: object = None  # a rich Progress, or None
    watched: list = field(default_factory=list)

    def watch(self, path: Path) -> None:
        """Record the files under `path`, outside the node folder, in the manifest: should they
        be deleted or changed, the node is redone (the toy world's cache)."""
        self.watched.append(Path(path))

    @property
    def params(self) -> dict:
        return self.node.params

    def out(self, role: str) -> dict:
        return self.inputs[role]["outputs"]

    @property
    def keep_dir(self) -> Path:
        """Beside the node folder and never wiped: checkpoints a rerun after a kill resumes from,
        a submitted job's id. Created on first use."""
        path = self.dir.with_name(f"{self.dir.name}.keep")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def has(self, role: str) -> bool:
        return role in self.inputs

    @contextmanager
    def bar(self, description: str, total: float | None):
        """A progress bar for long work; yields update(completed, total=None)."""
        if self.progress is None:
            yield lambda completed, total=None: None
            return
        task = self.progress.add_task(f"  {shown(description)}", total=total)

        def update(completed, total=None):
            self.progress.update(task, completed=completed, **({"total": total} if total else {}))
        try:
            yield update
        finally:
            self.progress.remove_task(task)


def _quiet_transformers() -> None:
    from transformers.utils import logging
    logging.disable_progress_bar()
    logging.set_verbosity_error()


def read_inputs(run_dir: Path, node: Node, nodes: dict[str, Node]) -> dict:
    inputs = {}
    for role, dep_id in node.deps.items():
        dep = nodes[dep_id]
        manifest, damaged = node_done(run_dir, dep)
        if manifest is None:
            why = f"its outputs were damaged ({damaged}); run the recipe again to redo it" if damaged else "is not done"
            raise UserError(f"node {node.id} ({node.label}): input {role} = {dep_id} {why}")
        inputs[role] = manifest
    return inputs


def todo_nodes(run_dir: Path, nodes: list[Node], say=print) -> list[Node]:
    """The nodes that are not done; a node whose files were damaged since it finished is
    redone, and `say` tells which file."""
    todo = []
    for n in nodes:
        manifest, damaged = node_done(run_dir, n)
        if damaged:
            say(f"{n.id} ({n.label}): {damaged}; redoing it")
        if manifest is None:
            todo.append(n)
    return todo


def run_node(run_dir: Path, node: Node, nodes: dict[str, Node], progress=None) -> dict:
    """Run one node under its lock: two processes never run (or wipe) the same node at once;
    nodes of one run still run in parallel."""
    folder = node_dir(run_dir, node)
    done, _ = node_done(run_dir, node)
    if done is not None:
        return done
    with node_lock(folder, node.label):
        done, _ = node_done(run_dir, node)  # another process may have finished it meanwhile
        if done is not None:
            return done
        inputs = read_inputs(run_dir, node, nodes)
        _quiet_transformers()
        store.fresh_dir(folder, run_dir)
        started = time.time()
        ctx = NodeContext(Path(run_dir), node, folder, inputs, progress)
        try:
            outputs = run_function(node.stage)(ctx)
        except Exception as exc:
            exc.rlhf_node = f"{node.id} ({node.label})"  # the CLI's error handler names the node
            raise
        manifest = {
            "key": node.key, "stage": node.stage, "label": node.label, "params": node.params,
            "deps": node.deps, "outputs": outputs, "started": started, "finished": time.time(),
            "duration_s": round(time.time() - started, 3), "versions": versions(), "threads": _threads(),
        }
        return store.write_manifest(folder, manifest, ctx.watched)
