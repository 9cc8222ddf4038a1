"""Advisory file locks that name their holder: one per run folder (run, submit), one per node (every
executor runs a node under it), one per toy-world build in the cache.

flock: the kernel drops the lock when its holder dies, so a killed run never leaves a stale
lock behind. The lock file holds the holder's PID, host and command, for the message another
process gets. On network filesystems flock works where the mount supports it (NFSv4, Lustre with
flock); see docs/failure-modes.md.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from rlhf_eval.errors import UserError


class Busy(UserError, RuntimeError):
    """Another process holds the lock."""


def holder(path: Path) -> str:
    try:
        info = json.loads(Path(path).read_text())
        since = time.strftime("%H:%M:%S", time.localtime(info["since"]))
        return f"PID {info['pid']} on {info['host']} ({info['command']}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def locked(path: Path, what: str, wait: bool = False, on_wait=None):
    """Hold an exclusive lock on `path` for the block. Busy names the holder when `wait` is
    False; with `wait`, on_wait(holder) is called once and the lock is waited for."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise Busy(f"{what} is in use by {holder(path)}; wait for it to finish, or stop it") from None
            if on_wait:
                on_wait(holder(path))
            fcntl.flock(fd, fcntl.LOCK_EX)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                "command": " ".join(["rlhf-eval"] + sys.argv[1:3]) if sys.argv else "python"}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def run_lock(run_dir: Path):
    return locked(Path(run_dir) / ".lock", f"run folder {run_dir}")


def node_lock(node_dir: Path, label: str):
    node_dir = Path(node_dir)
    return locked(node_dir.with_name(f"{node_dir.name}.lock"), f"node {node_dir.parent.name}/{node_dir.name} ({label})")
