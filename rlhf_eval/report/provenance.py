"""Where a run's numbers came from: package versions, seeds, config hashes, data fingerprints."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from rlhf_eval import store
from rlhf_eval.pipeline import load_plan, node_done


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
    recipe = cfg["recipe"]
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
        out = m["outputs"]
        if m["stage"] == "toy_world":
            data.append({"what": "toy world", "fingerprint": m["key"], "detail": "node key (its config)"})
        elif m["stage"] == "curate" and Path(out["path"]).is_file():
            data.append({"what": "curated preference pairs", "fingerprint": sha256_file(Path(out["path"])),
                         "detail": f"{out['n_pairs']} pairs, sha256 of {Path(out['path']).name}"})
        elif m["stage"] == "static_bench" and Path(out["units"]).is_file():
            ids = sorted(r["id"] for r in store.read_jsonl(out["units"]))
            data.append({"what": f"benchmark {out['benchmark']} (rm={out['rm']})", "fingerprint": digest(ids),
                         "detail": f"{len(ids)} scored units, sha256 of their ids"})
        elif m["stage"] == "bon_generate":
            cand = Path(out.get("candidates", ""))
            data.append({"what": f"best-of-n candidates {m['label']}",
                         "fingerprint": sha256_file(cand) if cand.is_file() else m["key"],
                         "detail": f"task digest {m['params'].get('task_digest') or '-'}"})
    data = list({d["what"]: d for d in data}.values())
    seeds = {"recipe": recipe["seed"], "bon": recipe["bon"]["seed"],
             "rl": recipe["rl"].get("seeds", recipe["rl"].get("seed")), "compare": recipe["compare"]["seed"]}
    if recipe.get("toy_world"):
        seeds["toy_world"] = recipe["toy_world"]["seed"]
    seeds |= {f"train_rm[{name}]": card["train"]["seed"] for name, card in cfg["reward_models"].items()}
    seen = {k: sorted(v) for k, v in sorted(versions.items())}
    return {
        "run_dir": str(run_dir.absolute()),
        "recipe": plan["recipe_path"],
        "config_hash": digest(cfg),
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
