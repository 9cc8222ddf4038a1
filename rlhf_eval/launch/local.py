"""The local executor: nodes on this machine, with rich progress bars.

With one worker (`local.workers: 1`, or a GPU visible) nodes run one by one in this process. With
more, independent nodes run side by side in that many worker processes. Each worker is started
once and runs node after node, so torch, transformers and lm-eval are imported once per worker,
not once per node; nodes share a worker's interpreter as they share this process with one worker.
Every node gets `torch_threads` threads either way, so results do not depend on the worker count.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rlhf_eval.device import cpus, gpu_visible, thread_env, use_threads
from rlhf_eval.errors import UserError
from rlhf_eval.launch import quiet_libraries
from rlhf_eval.launch.node import run_node, todo_nodes
from rlhf_eval.pipeline import Node
from rlhf_eval.terminal import shown

MAX_DEFAULT_WORKERS = 8
COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def default_workers(threads: int | None) -> int:
    """CPUs // threads (at most MAX_DEFAULT_WORKERS), or 1 when a GPU is visible: two nodes on one
    GPU would contend for its memory."""
    if gpu_visible():
        return 1
    return max(1, min(MAX_DEFAULT_WORKERS, cpus() // (threads or cpus())))


def execute(run_dir: Path, nodes: list[Node], console: Console, recipe=None, address=None) -> dict[str, float]:
    threads = recipe.torch_threads if recipe is not None else None
    workers = recipe.local.workers if recipe is not None and recipe.local.workers else default_workers(threads)
    todo = todo_nodes(run_dir, nodes,
                      lambda line: console.print(f"[yellow]{shown(line)}[/]", highlight=False, soft_wrap=True))
    if not todo:  # nothing to run: no bar counting to 0 of 0
        console.print(f"{len(nodes)} nodes: all cached")
        return {}
    workers = max(1, min(workers, len(todo)))
    with Progress(*COLUMNS, console=console, transient=False) as progress:
        overall = progress.add_task(f"run ({len(nodes) - len(todo)} of {len(nodes)} nodes cached)", total=len(todo))
        if workers == 1:
            timings = _one_by_one(run_dir, nodes, todo, threads, progress, overall)
        else:
            timings = _side_by_side(run_dir, nodes, todo, threads, workers, progress, overall)
        progress.update(overall, description="run")
    ran = f"{len(todo)} run" + (f" by {workers} workers" if workers > 1 else "")
    console.print(f"{len(nodes)} nodes: {len(nodes) - len(todo)} cached, {ran}")
    return timings


def _one_by_one(run_dir, nodes, todo, threads, progress, overall, failures=None, log_dir=None) -> dict[str, float]:
    """With `failures` (a dict), a failed node is recorded there and the others go on."""
    by_id = {n.id: n for n in nodes}
    use_threads(threads)
    timings: dict[str, float] = {}
    for node in todo:
        progress.update(overall, description=f"{node.stage}: {shown(node.label)}")
        try:
            with logged_to(log_dir, node):
                timings[node.id] = run_node(run_dir, node, by_id, progress)["duration_s"]
        except Exception as exc:  # noqa: BLE001 - recorded, or raised as before
            if failures is None:
                raise
            failures[node.id] = one_line(exc)
        progress.advance(overall)
    return timings


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


@contextmanager
def logged_to(log_dir: Path | None, node: Node):
    """With a log folder, the node's output (this process's stdout and stderr, the file
    descriptors, so child processes' too) goes to <log_dir>/<stage>-<key>.out, as a Slurm job's
    does, appended."""
    if log_dir is None:
        yield
        return
    import sys
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(Path(log_dir) / f"{node.stage}-{node.key}.out", "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            os.write(1, f"== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} pid {os.getpid()}: "
                        f"{node.id}\n".encode())
            yield
        except BaseException:
            traceback.print_exc()  # into the node's log, as a job of its own would have it
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


# ----------------------------------------------------------------------------- worker processes
class _QueueProgress:
    """What a node's bars (NodeContext.bar) call in a worker: add_task, update and remove_task,
    sent to the parent, which draws them."""

    def __init__(self, events, prefix: str):
        self.events, self.prefix, self.n = events, prefix, 0

    def add_task(self, description, total=None, **_):
        self.n += 1
        task = f"{self.prefix}/{self.n}"
        self.events.put(("add", task, description, total))
        return task

    def update(self, task, completed=None, total=None, **_):
        self.events.put(("update", task, completed, total))

    def remove_task(self, task):
        self.events.put(("remove", task, None, None))


_worker: dict = {}


def _die_with_parent(parent: int) -> None:
    """A worker ends when the `run` process ends, however it ends (a SIGKILL too), so no node goes
    on running, and holding its lock, after the run was stopped. Linux only (prctl)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent was gone before the call
        os._exit(1)


def _init_worker(run_dir: str, nodes: list[Node], threads: int | None, events, parent: int,
                 log_dir: str | None = None) -> None:
    _die_with_parent(parent)
    quiet_libraries()
    use_threads(threads)
    _worker.update(run_dir=Path(run_dir), by_id={n.id: n for n in nodes}, events=events,
                   log_dir=Path(log_dir) if log_dir else None)


def _run_in_worker(node_id: str) -> float:
    w = _worker
    progress = _QueueProgress(w["events"], f"{os.getpid()}:{node_id}")
    with logged_to(w["log_dir"], w["by_id"][node_id]):
        return run_node(w["run_dir"], w["by_id"][node_id], w["by_id"], progress)["duration_s"]


def _draw(events, progress: Progress, stop: threading.Event) -> None:
    """Apply the workers' bar events to the parent's Progress until `stop` and the queue is empty."""
    tasks: dict[str, int] = {}
    while not (stop.is_set() and events.empty()):
        try:
            kind, task, a, b = events.get(timeout=0.1)
        except queue.Empty:
            continue
        except (EOFError, OSError):
            return
        if kind == "add":
            tasks[task] = progress.add_task(a, total=b)
        elif kind == "update" and task in tasks:
            progress.update(tasks[task], completed=a, **({"total": b} if b else {}))
        elif kind == "remove" and task in tasks:
            progress.remove_task(tasks.pop(task))


def _side_by_side(run_dir, nodes, todo, threads, workers, progress, overall, failures=None,
                  log_dir=None) -> dict[str, float]:
    """Run `todo` in dependency order on a pool of workers. A failed node stops new ones from
    starting; the running ones finish (their results are kept), then its error is raised. With
    `failures` (a dict), a failed node is recorded there instead and every node that does not
    depend on it still runs."""
    keep_going = failures is not None
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads or CUDA
    events = ctx.Queue()
    waiting = {n.id: n for n in todo}
    pending = {n.id: {d for d in n.deps.values() if d in waiting} for n in todo}
    timings: dict[str, float] = {}
    running: dict[Future, Node] = {}
    failed: tuple[Node, BaseException] | None = None
    broken: list[Node] = []
    stop = threading.Event()
    drawer = threading.Thread(target=_draw, args=(events, progress, stop), daemon=True)
    drawer.start()
    # Workers inherit the thread settings through the environment, before they import numpy.
    saved = {k: os.environ.get(k) for k in thread_env(threads)}
    os.environ.update(thread_env(threads))
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(str(run_dir), nodes, threads, events, os.getpid(),
                                           str(log_dir) if log_dir else None)) as pool:
            try:
                while waiting or running:
                    if not broken and (keep_going or failed is None):
                        for nid in [nid for nid in waiting if not pending[nid]][: workers - len(running)]:
                            node = waiting.pop(nid)
                            running[pool.submit(_run_in_worker, nid)] = node
                    if not running:
                        break
                    _describe(progress, overall, running.values())
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        node = running.pop(future)
                        try:
                            timings[node.id] = future.result()
                        except BrokenProcessPool:  # every running node gets this; which worker died is unknown
                            broken.append(node)
                            if keep_going:
                                failures[node.id] = ("a worker process died (killed, or out of memory?) while "
                                                     "this node ran")
                            continue
                        except BaseException as exc:  # noqa: BLE001 - re-raised below, once the others finish
                            if keep_going:
                                failures[node.id] = one_line(exc)
                                continue
                            failed = failed or (node, exc)
                            continue
                        progress.advance(overall)
                        for rest in pending.values():
                            rest.discard(node.id)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stop.set()
        drawer.join(timeout=5)
    if broken and not keep_going:
        names = ", ".join(f"{n.id} ({n.label})" for n in broken)
        raise UserError(f"a worker process died (killed, or out of memory?) while these nodes ran: {names}; "
                        "run again to redo them")
    if failed is not None:
        node, exc = failed
        exc.rlhf_node = f"{node.id} ({node.label})"  # the attribute does not survive the pickle from the worker
        raise exc
    return timings


def _describe(progress: Progress, overall, running) -> None:
    labels = [f"{n.stage}: {n.label}" for n in running]
    text = labels[0] if len(labels) == 1 else f"{len(labels)} nodes: " + "; ".join(labels)
    progress.update(overall, description=text)
