"""Helpers for the Ray cluster a Slurm job starts (slurm/ray_cluster.sh.j2).

`python -m rlhf_eval.launch.ray_cluster wait --address HOST:PORT --nodes N` returns once N nodes
are alive in the cluster, and fails with the count it saw when the timeout passes, so a job whose
workers never joined stops instead of running on a partial cluster.
"""
from __future__ import annotations

import argparse
import sys
import time


def alive_nodes(address: str) -> int:
    import ray

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        return sum(1 for n in ray.nodes() if n.get("Alive"))
    finally:
        ray.shutdown()


def wait_for_nodes(address: str, nodes: int, timeout_s: float, poll_s: float = 3.0) -> int:
    deadline = time.time() + timeout_s
    seen, error = 0, None
    while time.time() < deadline:
        try:
            seen = alive_nodes(address)
            error = None
        except Exception as exc:  # the head may not be listening yet
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if seen >= nodes:
            return seen
        time.sleep(poll_s)
    why = f"; last error: {error}" if error else ""
    raise TimeoutError(f"Ray cluster at {address}: {seen} of {nodes} nodes alive after {timeout_s:.0f} s{why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlhf_eval.launch.ray_cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    wait = sub.add_parser("wait", help="wait until N nodes are alive")
    wait.add_argument("--address", required=True)
    wait.add_argument("--nodes", type=int, required=True)
    wait.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    started = time.time()
    try:
        seen = wait_for_nodes(args.address, args.nodes, args.timeout)
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Ray cluster at {args.address}: {seen} nodes alive after {time.time() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
