"""The smoke recipe, cold (toy world included), on an idle machine and beside CPU hogs (processes
that spin on one core each), for two thread settings, in one script:

- now: torch_threads=1 with the local executor's default workers (CPUs // 1, nodes side by side);
- before: torch_threads=null (torch's default: a thread per core) and one worker, as every run did
  before torch_threads existed.

Prints wall time idle and busy and their ratio for each, plus the ratio of the two idle times.
Busy means one hog per `--hogs` (default 1: one other CPU-bound process on this machine).

Run: .venv/bin/python benchmarks/busy_machine.py [--recipe recipes/smoke.yaml] [--hogs 1] [--only now]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = {
    "now (torch_threads=1, workers=CPUs)": [],
    "before (torch_threads=null, workers=1)": ["torch_threads=null", "local.workers=1"],
}


def spin() -> None:
    while True:
        pass


def timed_run(recipe: str, overrides: list[str], work: Path, name: str) -> float:
    cache, root = work / f"cache-{name}", work / f"runs-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    env = dict(os.environ, RLHF_EVAL_CACHE=str(cache))
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "run", recipe, f"run_root={root}", *overrides],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.time() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "smoke.yaml"))
    ap.add_argument("--hogs", type=int, default=1, help="CPU-bound processes running beside the busy runs")
    ap.add_argument("--only", choices=["now", "before"], help="one setting (the quickstart 'before' takes an hour)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="busy-"))
    rows = {}
    for label, overrides in SETTINGS.items():
        tag = "now" if label.startswith("now") else "before"
        if args.only and tag != args.only:
            continue
        idle = timed_run(args.recipe, overrides, work, f"{tag}-idle")
        hogs = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.hogs)]
        for h in hogs:
            h.start()
        try:
            busy = timed_run(args.recipe, overrides, work, f"{tag}-busy")
        finally:
            for h in hogs:
                h.terminate()
        rows[label] = (idle, busy)
        print(f"{label}: idle {idle:.1f} s, beside {args.hogs} hog(s) {busy:.1f} s, busy/idle {busy / idle:.2f}x",
              flush=True)
    if len(rows) == 2:
        (now_idle, _), (before_idle, _) = rows.values()
        print(f"idle, before/now: {before_idle / now_idle:.2f}x on {os.cpu_count()} CPUs")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
