"""The Ray curate engine (curate/ray_engine.py) from JSON-lines files to written shards, at several
sizes on this machine: wall time, pairs/s, the peak memory of the stage's process (the driver; its
heap also by engine phase) and of each Ray worker, and what Ray spilled to disk. Each size runs in
a fresh process, so each driver peak is its own. With --local, the local engine runs on the
smallest size too (it holds every row in its process), for the ratio.

The data: pairs of 30 + 40 + 40 words from 20,000; 2% exact copies (case changed), 2% near copies
(one word changed), 1% with a benchmark prompt; 3,000 benchmark prompts of 30 words; all four
data steps (dedup, near_dedup with the numpy MinHash, decontaminate, filter).

Run: .venv/bin/python benchmarks/curate_ray.py [--sizes 2000000,10000000] [--cpus 2] [--local]
(the files go to --data, about 0.8 GB per million pairs, and are reused)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STEPS = ["dedup", "near_dedup", "decontaminate", "filter"]
# ray_engine.curate's progress steps: what the driver does before each one is reported.
PHASES = {0: "plan and count lines", 1: "read and check", 2: "group and decide", 3: "write", 4: "done"}


def bench_prompts() -> list[str]:
    rng = np.random.default_rng(1)
    return [" ".join(f"w{i}" for i in row) for row in rng.integers(0, 20000, (3000, 30)).tolist()]


def write_pairs(path: Path, n: int, seed: int = 0) -> None:
    """n synthetic pairs as JSON lines (see the module docstring), written in blocks."""
    if path.is_file():
        return
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20000)])
    bench = bench_prompts()
    tmp = path.with_suffix(".tmp")
    recent: list[dict] = []
    with open(tmp, "w") as fh:
        for start in range(0, n, 100_000):
            words = vocab[rng.integers(0, 20000, (min(100_000, n - start), 110))]
            lines = []
            for j, w in enumerate(words):
                i = start + j
                p = {"id": str(i), "prompt": " ".join(w[:30]), "chosen": " ".join(w[30:70]),
                     "rejected": " ".join(w[70:])}
                if i % 100 == 1:
                    p["prompt"] = bench[i % len(bench)]
                elif i % 50 == 2 and len(recent) > 40:
                    p = dict(recent[-40], id=str(i), chosen=recent[-40]["chosen"].upper())
                elif i % 50 == 3 and len(recent) > 30:
                    near = recent[-30]["chosen"].split()
                    near[5] = "changed"
                    p = dict(recent[-30], id=str(i), chosen=" ".join(near))
                recent = (recent + [p])[-64:]
                lines.append(json.dumps(p))
            fh.write("\n".join(lines) + "\n")
    tmp.rename(path)


def status_kib(pid, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def ray_workers() -> dict[int, str]:
    """Ray's worker processes and their titles (ray::TASK while one runs)."""
    out = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith("ray::") or "default_worker.py" in cmd:
                out[int(proc.name)] = cmd
    return out


class Peaks(threading.Thread):
    """Samples this process's RssAnon (its own heap, not Ray's shared object store pages), every
    Ray worker's VmHWM, and the heap of the worker running the decide task, every 0.2 s."""

    def __init__(self):
        super().__init__(daemon=True)
        self.anon = 0
        self.phase = 0  # the engine's progress step now running
        self.by_phase: dict[int, int] = {}
        self.workers: dict[int, int] = {}
        self.decide = 0  # RssAnon of the worker while it runs ray_engine._decide
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            anon = status_kib("self", "RssAnon")
            self.anon = max(self.anon, anon)
            self.by_phase[self.phase] = max(self.by_phase.get(self.phase, 0), anon)
            for pid, title in ray_workers().items():
                self.workers[pid] = max(self.workers.get(pid, 0), status_kib(pid, "VmHWM"))
                if title.startswith("ray::_decide"):
                    self.decide = max(self.decide, status_kib(pid, "RssAnon"))
            time.sleep(0.2)


def child(args) -> None:
    """One size in this process: the engine, then its figures as one JSON line."""
    import ray

    from rlhf_eval.curate import ray_engine
    from rlhf_eval.curate.ngrams import NgramIndex
    from rlhf_eval.curate.steps import DataSettings

    index = NgramIndex(13)
    index.add_all((b, f"bench:{i}") for i, b in enumerate(bench_prompts()))
    settings = DataSettings(index=index)
    out = Path(args.out)
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=args.store_gb << 30)
    peaks = Peaks()
    peaks.start()
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) counts from here
    before = status_kib("self", "VmRSS")
    t = time.perf_counter()
    result = ray_engine.curate([("s", args.file, None, "train")], STEPS, settings, "error", out,
                               bar=lambda k: setattr(peaks, "phase", k))
    wall = time.perf_counter() - t
    peaks.stop.set()
    peaks.join()
    from ray._private.internal_api import memory_summary
    summary = memory_summary(stats_only=True)
    spilled = re.search(r"Spilled (\d+) MiB", summary)
    ray.shutdown()
    print(json.dumps({"pairs": result["counts"][0]["count"], "kept": result["n_pairs"], "wall": wall,
                      "driver_peak_gib": status_kib("self", "VmHWM") / 2**20, "driver_before_gib": before / 2**20,
                      "driver_anon_peak_gib": peaks.anon / 2**20,
                      "driver_anon_by_phase_gib": {PHASES[k]: round(v / 2**20, 3) for k, v in peaks.by_phase.items()},
                      "decide_anon_gib": peaks.decide / 2**20,
                      "workers_gib": sorted((v / 2**20 for v in peaks.workers.values()), reverse=True),
                      "spilled_mib": int(spilled.group(1)) if spilled else 0,
                      "dropped": {d["reason"]: d["dropped"] for d in result["dropped"]}}))


def local_child(args) -> None:
    from rlhf_eval.config import CurateConfig, SourceConfig
    from rlhf_eval.curate.ngrams import NgramIndex
    from rlhf_eval.curate.stage import load_all, run_steps

    index = NgramIndex(13)
    index.add_all((b, f"bench:{i}") for i, b in enumerate(bench_prompts()))
    import rlhf_eval.curate.stage as stage
    stage.benchmark_index = lambda *a: index  # the same benchmark prompts as the Ray run
    Path("/proc/self/clear_refs").write_text("5")
    t = time.perf_counter()
    pairs = load_all([SourceConfig(name="s", path=args.file)], None, "error", [])
    result = run_steps(pairs, CurateConfig(steps=STEPS), None)
    wall = time.perf_counter() - t
    print(json.dumps({"pairs": len(pairs), "kept": len(result.pairs), "wall": wall,
                      "driver_peak_gib": status_kib("self", "VmHWM") / 2**20}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000000,10000000")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--store-gb", type=int, default=4, help="Ray's object store; beyond it Ray spills to disk")
    ap.add_argument("--data", default="/tmp/curate-bench")
    ap.add_argument("--local", action="store_true", help="also the local engine on the smallest size")
    ap.add_argument("--child", choices=["ray", "local"], help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "ray":
        return child(args)
    if args.child == "local":
        return local_child(args)
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        path = data / f"pairs-{n}.jsonl"
        t = time.perf_counter()
        write_pairs(path, n)
        print(f"{n:,} pairs: {path} ({path.stat().st_size / 2**30:.2f} GiB, ready in {time.perf_counter() - t:.0f} s)",
              flush=True)
        out = data / f"out-{n}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        proc = subprocess.run([sys.executable, __file__, "--child", "ray", "--file", str(path), "--out", str(out),
                               "--cpus", str(args.cpus), "--store-gb", str(args.store_gb)],
                              capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        if proc.returncode:
            raise SystemExit(proc.stdout + proc.stderr)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        workers = r["workers_gib"]
        print(f"  ray, {args.cpus} CPUs: {r['wall']:.0f} s, {r['pairs'] / r['wall']:,.0f} pairs/s; driver peak "
              f"{r['driver_peak_gib']:.2f} GiB (its own heap {r['driver_anon_peak_gib']:.2f} GiB; "
              f"{r['driver_before_gib']:.2f} GiB before); workers ({len(workers)}) peak "
              f"{max(workers, default=0):.2f} GiB, median {float(np.median(workers)) if workers else 0:.2f}; "
              f"spilled {r['spilled_mib']} MiB; kept {r['kept']:,}; removed {r['dropped']}", flush=True)
        print(f"  driver heap peak by phase (GiB): {r['driver_anon_by_phase_gib']}; the decide task's worker's heap "
              f"while it ran: {r['decide_anon_gib']:.3f} GiB", flush=True)
    if args.local:
        n = min(int(x) for x in args.sizes.split(","))
        proc = subprocess.run([sys.executable, __file__, "--child", "local", "--file", str(data / f"pairs-{n}.jsonl")],
                              capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            raise SystemExit(proc.stdout + proc.stderr)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        ray_r = rows[[int(x) for x in args.sizes.split(",")].index(n)]
        print(f"  local engine, 1 thread, {n:,} pairs (rows held in its process): {r['wall']:.0f} s, peak "
              f"{r['driver_peak_gib']:.2f} GiB, kept {r['kept']:,} (ray kept {ray_r['kept']:,}); "
              f"ray / local wall {ray_r['wall'] / r['wall']:.2f}x")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"driver peak from {a['pairs']:,} to {b['pairs']:,} pairs: {a['driver_peak_gib']:.3f} -> "
              f"{b['driver_peak_gib']:.3f} GiB ({b['driver_peak_gib'] / a['driver_peak_gib'] - 1:+.1%}); its own "
              f"heap {a['driver_anon_peak_gib']:.3f} -> {b['driver_anon_peak_gib']:.3f} GiB "
              f"({b['driver_anon_peak_gib'] / a['driver_anon_peak_gib'] - 1:+.1%})")


if __name__ == "__main__":
    main()
