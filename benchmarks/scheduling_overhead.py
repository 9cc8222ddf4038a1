"""Scheduling overhead per node of the Ray and Slurm executors against the local executor, on the
same small recipe (the smoke recipe), each run into a fresh run folder with the toy world cached.

The executors are made to run one node at a time (local.workers=1; Ray and Slurm nodes reserve
both CPUs of this machine), so overhead per node = (wall time - sum of the nodes' own durations) / nodes, the same
formula for all. For Ray and Slurm it holds starting the child process every node runs in, the
scheduler's dispatch and, for Ray, starting Ray itself. Ray runs twice: "ray" forks each node from
its worker's warm forkserver (ray.warm, the default), "ray-cold" starts a fresh interpreter per
node, as Slurm does, which imports torch, transformers and lm-eval again; the local executor does
that once. That cost lands inside the nodes' own durations, so it is printed apart: the difference
of the nodes' own time against the local run, per node.

"slurm-pack" submits with slurm.pack: one job per wave of the plan, its nodes run one at a time
(local.workers=1) by the local executor inside the job, so the imports are paid once per wave.

Needs a local Slurm for the Slurm columns (slurm/local-cluster.sh up); skipped without one.
Run: .venv/bin/python benchmarks/scheduling_overhead.py [--recipe recipes/smoke.yaml] [--cpus 2]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"rlhf-eval {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def node_seconds(run_dir: Path) -> tuple[int, float]:
    plan = json.loads((run_dir / "plan.json").read_text())["nodes"]
    total = 0.0
    for n in plan:
        total += json.loads((run_dir / n["stage"] / n["key"] / "manifest.json").read_text())["duration_s"]
    return len(plan), total


def wait_slurm(run_dir: Path) -> None:
    jobs = json.loads((run_dir / "slurm" / "jobs.json").read_text())
    ids = ",".join(sorted({j.split("_")[0] for j in jobs.values()}))
    while subprocess.run(["squeue", "-h", "-j", ids], capture_output=True, text=True).stdout.strip():
        time.sleep(0.5)


def slurm_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "smoke.yaml"))
    ap.add_argument("--cpus", type=int, default=os.cpu_count(), help="CPUs one node reserves (all: one at a time)")
    ap.add_argument("--ways", default="local,ray,ray-cold,slurm,slurm-pack",
                    help="which executors to run (local always)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sched-"))
    cache = Path(os.environ.get("RLHF_EVAL_CACHE") or work / "cache")
    env = dict(os.environ, RLHF_EVAL_CACHE=str(cache), PYTHONUNBUFFERED="1")
    cli("run", args.recipe, f"run_root={work / 'warm'}", env=env)  # builds the toy world into the cache

    def ray(warm):
        return lambda root: cli("run", args.recipe, f"run_root={root}", "--executor", "ray",
                                f"ray.defaults.num_cpus={args.cpus}", f"ray.warm={warm}", env=env)

    ways = {
        "local": lambda root: cli("run", args.recipe, f"run_root={root}", "local.workers=1", env=env),
        "ray": ray("true"),
        "ray-cold": ray("false"),
    }
    if slurm_up():
        def slurm(root):
            cli("submit", args.recipe, f"run_root={root}", f"slurm.defaults.cpus={args.cpus}", env=env)
            wait_slurm(next(root.iterdir()))
        ways["slurm"] = slurm

        def slurm_pack(root):  # one job per wave, nodes one at a time inside it (local.workers=1)
            cli("submit", args.recipe, f"run_root={root}", f"slurm.defaults.cpus={args.cpus}", "slurm.pack=true",
                "local.workers=1", env=env)
            wait_slurm(next(root.iterdir()))
        ways["slurm-pack"] = slurm_pack
    wanted = {"local"} | set(args.ways.split(","))
    ways = {k: v for k, v in ways.items() if k in wanted}
    rows = {}
    for way, go in ways.items():
        root = work / way
        started = time.time()
        go(root)
        wall = time.time() - started
        run_dir = next(root.iterdir())
        nodes, busy = node_seconds(run_dir)
        rows[way] = {"nodes": nodes, "wall_s": wall, "node_s": busy, "overhead_per_node_s": (wall - busy) / nodes}
        print(f"{way:8s} {nodes} nodes: wall {wall:6.1f} s, nodes' own time {busy:6.1f} s, "
              f"overhead {rows[way]['overhead_per_node_s']:.2f} s per node", flush=True)
    loc = rows["local"]
    for way, r in rows.items():
        if way == "local":
            continue
        outside = r["overhead_per_node_s"] - loc["overhead_per_node_s"]
        # Each node starts a fresh interpreter that imports torch, transformers and lm-eval again;
        # the local executor pays that once. It shows up inside the nodes' own durations.
        inside = (r["node_s"] - loc["node_s"]) / r["nodes"]
        print(f"{way} vs local, per node: +{outside:.2f} s outside nodes (dispatch, scheduling), "
              f"+{inside:.2f} s inside (cold imports), +{outside + inside:.2f} s in all; "
              f"wall {r['wall_s'] / loc['wall_s']:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
