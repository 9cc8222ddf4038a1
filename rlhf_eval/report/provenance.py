"""Where a run's numbers came from: package versions, seeds, config hashes, data fingerprints."""
from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

from rlhf_eval import store
from rlhf_eval.pipeline import load_plan, node_done
from rlhf_eval.stages import all_stages, stage


def lock_path() -> Path | None:
    """The lock the versions are checked against: RLHF_EVAL_LOCK (a cluster's own, README), else
    the checkout's requirements.lock; None when neither exists (an installed wheel)."""
    if os.environ.get("RLHF_EVAL_LOCK"):
        return Path(os.environ["RLHF_EVAL_LOCK"])
    path = Path(__file__).resolve().parents[2] / "requirements.lock"
    return path if path.is_file() else None


def read_lock(path: Path) -> dict[str, str]:
    """{normalized package name: version} from `name==version` lines."""
    out = {}
    for line in Path(path).read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            out[_norm(name)] = version.strip()
    return out


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def against_lock(versions: dict[str, list[str]], path: Path | None) -> dict:
    """Which recorded versions differ from the lock's. `versions`: package -> versions seen in the
    run's nodes (python and rlhf-eval itself are not in a lock)."""
    if path is None or not Path(path).is_file():
        return {"lock": str(path) if path else None, "checked": False, "differs": []}
    lock = read_lock(path)
    differs = [{"package": pkg, "run": seen, "lock": lock[_norm(pkg)]}
               for pkg, seen in sorted(versions.items())
               if _norm(pkg) in lock and any(v != lock[_norm(pkg)] for v in seen)]
    return {"lock": str(path), "checked": True, "differs": differs}


def provenance(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    plan = json.loads((run_dir / "plan.json").read_text())
    cfg = plan["config"]
    manifests = {}
    for n in load_plan(run_dir):
        m, _ = node_done(run_dir, n)
        if m is not None:
            manifests[n.id] = m
    versions: dict[str, set] = {}
    for m in manifests.values():
        for pkg, v in m.get("versions", {}).items():
            versions.setdefault(pkg, set()).add(v)
    data = []
    for m in manifests.values():
        hook = stage(m["stage"]).provenance
        entry = hook(m) if hook is not None else None
        if entry is not None:
            data.append(entry)
    data = list({d["what"]: d for d in data}.values())
    seeds = {}
    for s in all_stages():
        if s.seeds is not None:
            seeds |= s.seeds(cfg)
    seen = {k: sorted(v) for k, v in sorted(versions.items())}
    return {
        "run_dir": str(run_dir.absolute()),
        "host": socket.gethostname(),
        "recipe": plan["recipe_path"],
        "config_hash": store.fingerprint(cfg),
        "versions": seen,
        # versions that differ from the lock: a different resolve, a likely cause of different numbers
        "lock": against_lock(seen, lock_path()),
        # torch threads the nodes ran with (results depend on it); [] for runs from before it was recorded.
        "threads": sorted({m["threads"] for m in manifests.values() if "threads" in m}),
        "seeds": seeds,
        "node_keys": sorted(({"stage": m["stage"], "label": m["label"], "key": m["key"]} for m in manifests.values()),
                            key=lambda r: (r["stage"], r["label"])),
        "data": sorted(data, key=lambda d: d["what"]),
    }
