"""Load test of the remote-RM server on loopback: a bounded number of requests at concurrency 64,
sent from another process (as OpenRLHF's callers are), once with cross-request batching and once
scoring one row at a time (max_batch = 1), on the quickstart's classifier RM. Prints requests/s,
p50/p99 latency, errors and the speed-up. Then head-of-line blocking: a 1-row request sent while a
4,096-row one is being scored, with the large one cut into slices of max_batch rows (as served)
and scored whole (one slice as large as the request, as before slicing); prints both 1-row
latencies and their ratio.

Needs `make quickstart` first.
Run: .venv/bin/python benchmarks/serve_rm_load.py [--requests 960] [--rows 4] [--concurrency 64]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import threading
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import requests  # noqa: E402
import torch  # noqa: E402

from rlhf_eval.pipeline import node_manifests  # noqa: E402
from rlhf_eval.rm.base import load_scorer  # noqa: E402
from rlhf_eval.rm.serve import serve_in_thread  # noqa: E402
from rlhf_eval.toy import task  # noqa: E402


def payloads(n: int, rows: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        prompts, responses = [], []
        for _ in range(rows):
            letters = task.sample_letters(rng, 4, 9)
            prompts.append(task.make_prompt(letters))
            responses.append(" ".join(sorted(letters) if rng.random() < 0.5 else letters))
        out.append({"query": [p + r for p, r in zip(prompts, responses)], "prompts": prompts,
                    "responses": responses, "labels": [""] * rows})
    return out


def load_elsewhere(url: str, bodies: list[dict], concurrency: int) -> dict:
    """`load` in a process of its own, as OpenRLHF's callers are: in this process its client
    threads would share the server's interpreter lock."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(load, (url, bodies, concurrency))


def load(url: str, bodies: list[dict], concurrency: int) -> dict:
    latencies, errors, lock = [], [0], threading.Lock()
    todo = list(enumerate(bodies))

    def worker():
        session = requests.Session()
        while True:
            with lock:
                if not todo:
                    return
                _, body = todo.pop()
            t = time.perf_counter()
            try:
                r = session.post(url, json=body, timeout=60)
                ok = r.status_code == 200 and len(r.json()["rewards"]) == len(body["query"])
            except requests.RequestException:
                ok = False
            with lock:
                latencies.append(time.perf_counter() - t)
                errors[0] += not ok
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"rps": len(bodies) / wall, "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
            "errors": errors[0], "wall": wall}


def head_of_line(scorer, big_rows: int = 4096) -> dict:
    """The 1-row request's latency behind a big one, per slice size."""
    big = payloads(1, big_rows, seed=1)[0]
    small = payloads(1, 1, seed=2)[0]
    out = {}
    for name, max_batch in (("sliced (256 rows)", 256), ("whole request", big_rows)):
        server, url = serve_in_thread(scorer, max_batch=max_batch, max_wait_ms=1)
        try:
            requests.post(url, json=small, timeout=60)  # warm up
            t = threading.Thread(target=lambda: requests.post(url, json=big, timeout=600))
            t.start()
            time.sleep(0.2)
            t0 = time.perf_counter()
            requests.post(url, json=small, timeout=600)
            out[name] = time.perf_counter() - t0
            t.join()
        finally:
            server.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=Path("runs/quickstart"))
    ap.add_argument("--rm", default="classifier-curated")
    ap.add_argument("--requests", type=int, default=960)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the server (the client has a core)")
    args = ap.parse_args()
    if not (args.run / "plan.json").is_file():
        raise SystemExit(f"{args.run}: no run here; run `make quickstart` first")
    torch.set_num_threads(args.threads)
    scorer = load_scorer(node_manifests(args.run, "train_rm", f"rm={args.rm}")[0])
    bodies = payloads(args.requests, args.rows)
    results = {}
    for name, kw in (("batched", {"max_batch": 256, "max_wait_ms": 5}),
                     ("one at a time", {"max_batch": 1, "max_wait_ms": 0})):
        server, url = serve_in_thread(scorer, **kw)
        try:
            load_elsewhere(url, bodies[:64], args.concurrency)  # warm up
            results[name] = load_elsewhere(url, bodies, args.concurrency)
            results[name]["model_calls"] = server.batcher.batches
        finally:
            server.shutdown()
    print(f"{args.requests} requests x {args.rows} rows, concurrency {args.concurrency}, RM {args.rm}")
    for name, r in results.items():
        print(f"  {name:14s} {r['rps']:7.1f} req/s  p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  "
              f"errors {r['errors']}  model calls {r['model_calls']}  ({r['wall']:.1f} s)")
    print(f"  cross-request batching speed-up: {results['batched']['rps'] / results['one at a time']['rps']:.2f}x")
    waits = head_of_line(scorer)
    print("1-row request sent 0.2 s after a 4,096-row request:")
    for name, w in waits.items():
        print(f"  {name:18s} waited {w:6.2f} s")
    print(f"  slicing cuts the wait {waits['whole request'] / waits['sliced (256 rows)']:.1f}x")


if __name__ == "__main__":
    main()
