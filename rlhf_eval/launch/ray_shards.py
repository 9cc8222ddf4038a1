"""Run a function over shards as Ray tasks (CPUs here, GPUs on a cluster).

Each shard writes its result to its own file through a temporary name and a rename, and a shard
whose file exists is not run again. So when a worker dies mid-shard, Ray retries the task, the
retry starts from nothing, and the driver reads exactly one result per shard: no row is lost or
written twice. Every attempt leaves a `<shard>.attempt-<pid>` marker, so retries are counted.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from rlhf_eval.config import RayShardConfig
from rlhf_eval.launch import QUIET_ENV


def ensure_ray(address: str | None):
    import ray
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 runtime_env={"env_vars": QUIET_ENV})
    return ray


def _run_shard(fn: Callable, args: tuple, out: str) -> str:
    path = Path(out)
    path.with_name(f"{path.name}.attempt-{os.getpid()}").touch()
    if path.is_file():  # an earlier attempt finished and wrote it
        return out
    result = fn(*args)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)
    return out


def run_shards(fn: Callable, shard_args: list[tuple], work_dir: Path, name: str, res: RayShardConfig,
               progress=None) -> tuple[list[Any], dict[int, int]]:
    """fn(*args) for every shard, as Ray tasks; (results in shard order, attempts per shard)."""
    ray = ensure_ray(res.address)
    work_dir.mkdir(parents=True, exist_ok=True)
    remote = ray.remote(num_cpus=res.num_cpus, num_gpus=res.num_gpus, max_retries=res.max_retries,
                        retry_exceptions=False)(_run_shard)
    outs = [str(work_dir / f"{name}-shard-{i:04d}.json") for i in range(len(shard_args))]
    pending = [remote.remote(fn, args, out) for args, out in zip(shard_args, outs)]
    done = 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        ray.get(ready)  # raises if a shard failed for good (after its retries)
        done += len(ready)
        if progress:
            progress(done, len(outs))
    results = [json.loads(Path(o).read_text()) for o in outs]
    attempts = {i: len(list(work_dir.glob(f"{Path(o).name}.attempt-*"))) for i, o in enumerate(outs)}
    return results, attempts


def split(n: int, shards: int) -> list[range]:
    """Contiguous, near-equal index ranges; never an empty shard."""
    shards = max(1, min(shards, n))
    bounds = [round(i * n / shards) for i in range(shards + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]
