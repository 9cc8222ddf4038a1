"""The data steps (dedup, near_dedup, decontaminate, filter) on 2M synthetic pairs, with the local
engine and with Ray Data (2 worker CPUs), side by side in one process: wall time, peak memory of
each process, and the same kept and removed rows. Also prints the per-pair costs that
docs/curation.md's 40M-pair plan is derived from.

Run: .venv/bin/python benchmarks/curate_ray.py [--pairs 2000000] [--cpus 2]
(about 15 minutes and 10 GB of memory at 2M pairs on a 2-core machine)
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rlhf_eval.curate import ray_data, steps
from rlhf_eval.curate.ngrams import NgramIndex

NAMES = ["dedup", "near_dedup", "decontaminate", "filter"]


def synthetic(n: int, seed: int = 0):
    """n pairs of 30 + 40 + 40 words from 20,000; 2% exact copies (case changed), 2% near copies
    (one word changed), 1% with a benchmark prompt; 3,000 benchmark prompts of 30 words."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(20000)]
    bench = [" ".join(vocab[i] for i in row) for row in rng.integers(0, 20000, (3000, 30)).tolist()]
    ids = rng.integers(0, 20000, (n, 110)).tolist()
    pairs = []
    for i, row in enumerate(ids):
        words = [vocab[j] for j in row]
        p = {"id": str(i), "source": "s", "prompt": " ".join(words[:30]), "chosen": " ".join(words[30:70]),
             "rejected": " ".join(words[70:]), "meta": {}}
        if i % 100 == 1:
            p["prompt"] = bench[i % len(bench)]
        elif i % 50 == 2 and i > 50:
            p = dict(pairs[i - 40], id=str(i), chosen=pairs[i - 40]["chosen"].upper())
        elif i % 50 == 3 and i > 50:
            near = pairs[i - 30]["chosen"].split()
            near[5] = "changed"
            p = dict(pairs[i - 30], id=str(i), chosen=" ".join(near))
        pairs.append(p)
    return pairs, bench


def status_kib(pid, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def ray_processes() -> dict[int, str]:
    out = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith("ray::") or "ray/core/src" in cmd or "default_worker.py" in cmd:
                out[int(proc.name)] = cmd.split()[0][-40:]
    return out


def run(pairs, settings, compute):
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from here
    before = status_kib("self", "VmRSS")
    t = time.perf_counter()
    results = [(name, [p["id"] for p in kept], [(p["id"], p["reason"]) for p in removed])
               for name, kept, removed in steps.data_steps(pairs, NAMES, settings, compute=compute)]
    return results, time.perf_counter() - t, (status_kib("self", "VmHWM") - before) / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2_000_000)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    t = time.perf_counter()
    pairs, bench = synthetic(args.pairs)
    index = NgramIndex(13)
    index.add_all((b, f"bench:{i}") for i, b in enumerate(bench))
    settings = steps.DataSettings(index=index)
    print(f"{len(pairs):,} pairs made in {time.perf_counter() - t:.0f} s; this process holds "
          f"{status_kib('self', 'VmRSS') / 2**20:.1f} GiB")

    # the per-pair cost of each feature, on a slice, for the 40M plan
    part = pairs[:50_000]
    for name in NAMES:
        t = time.perf_counter()
        steps.evidence(part, {name}, index, settings.near)
        print(f"  {name}: {(time.perf_counter() - t) / len(part) * 1e6:.1f} us per pair (local, 1 thread)")

    local, local_s, local_gib = run(pairs, settings, steps.evidence)
    print(f"local: {local_s:.0f} s, peak {local_gib:.2f} GiB above the input")

    import ray
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ray_out, ray_s, ray_gib = run(pairs, settings, ray_data.evidence)
        workers = {pid: (name, status_kib(pid, "VmHWM") / 2**20) for pid, name in ray_processes().items()}
    finally:
        ray.shutdown()
    print(f"ray data, {args.cpus} CPUs: {ray_s:.0f} s, driver peak {ray_gib:.2f} GiB above the input")
    for pid, (name, gib) in sorted(workers.items(), key=lambda kv: -kv[1][1])[:8]:
        print(f"  pid {pid} {name}: peak {gib:.2f} GiB")
    for (name, kept, removed), (_, kept2, removed2) in zip(local, ray_out):
        print(f"  {name}: kept {len(kept):,}, removed {len(removed):,}; "
              f"{'the same rows' if (kept, removed) == (kept2, removed2) else 'DIFFERENT'}")
    assert local == ray_out, "the engines disagree"
    print(f"ray / local wall: {ray_s / local_s:.2f}x")


if __name__ == "__main__":
    main()
