"""`rlhf-eval diff RUN_A RUN_B`: what differs between two finished runs, and how far the numbers moved.

Nodes are matched by stage and label. A node with the same key in both runs computed the same
thing from the same inputs; a different key comes with the config paths that differ. Versions,
torch threads, seeds and data fingerprints come from each run's provenance. Every headline
number (static scores, best-of-n and RL gains, per RM) is compared against both runs' own 95%
intervals: a move is "beyond noise" when |B - A| exceeds 1.96 standard errors of the difference,
each run's standard error read off its interval. Verdicts are compared with their Spearman and CI.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from rlhf_eval.errors import UserError
from rlhf_eval.pipeline import load_plan


def _load(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    if not (run_dir / "plan.json").is_file():
        raise UserError(f"{run_dir}: not a run folder (no plan.json)")
    if not (run_dir / "results.json").is_file():
        raise UserError(f"{run_dir}: the run has no results.json yet (finish it with `rlhf-eval run`)")
    nodes = {(n.stage, n.label): {"key": n.key, "params": n.params, "deps": n.deps} for n in load_plan(run_dir)}
    results = json.loads((run_dir / "results.json").read_text())
    return {"dir": str(run_dir), "nodes": nodes, "results": results,
            "provenance": (results.get("provenance") or [{}])[0]}


def _flat(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out |= _flat(v, f"{prefix}{k}.")
        return out
    return {prefix.rstrip("."): obj}


def node_diff(a: dict, b: dict) -> list[dict]:
    rows = []
    for ident in sorted(set(a) | set(b)):
        stage, label = ident
        if ident not in a or ident not in b:
            rows.append({"stage": stage, "label": label, "status": f"only in {'A' if ident in a else 'B'}"})
            continue
        x, y = a[ident], b[ident]
        if x["key"] == y["key"]:
            rows.append({"stage": stage, "label": label, "status": "same key", "key": x["key"]})
            continue
        fa, fb = _flat(x["params"]), _flat(y["params"])
        changed = sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))
        inputs = sorted(r for r in set(x["deps"]) | set(y["deps"]) if x["deps"].get(r) != y["deps"].get(r))
        why = "; ".join(f"{p}: {fa.get(p)!r} -> {fb.get(p)!r}" for p in changed[:3])
        named = (f"input {inputs[0]} differs" if len(inputs) == 1 else f"inputs {', '.join(inputs)} differ"
                 if len(inputs) <= 3 else f"{len(inputs)} inputs differ")
        why += ("; " if why and inputs else "") + (named if inputs else "")
        rows.append({"stage": stage, "label": label, "status": "different key", "keys": [x["key"], y["key"]],
                     "params": [{"path": k, "a": fa.get(k), "b": fb.get(k)} for k in changed],
                     "inputs": inputs, "why": why})
    return rows


def _pairs(x: dict, y: dict) -> list[dict]:
    return [{"what": k, "a": x.get(k), "b": y.get(k)} for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]


def setup_diff(pa: dict, pb: dict) -> dict:
    """Versions, threads, seeds and data fingerprints that differ."""
    data_a = {d["what"]: d["fingerprint"] for d in pa.get("data", [])}
    data_b = {d["what"]: d["fingerprint"] for d in pb.get("data", [])}
    threads = [] if pa.get("threads") == pb.get("threads") else [
        {"what": "torch threads", "a": pa.get("threads"), "b": pb.get("threads")}]
    return {"versions": _pairs(pa.get("versions", {}), pb.get("versions", {})), "threads": threads,
            "seeds": _pairs(pa.get("seeds", {}), pb.get("seeds", {})), "data": _pairs(data_a, data_b)}


def _se(ci) -> float | None:
    return None if not ci or ci[0] is None else (ci[1] - ci[0]) / (2 * 1.96)


def _numbers(results: dict) -> dict:
    """(rm, column) -> (value, 95% CI), from the correlations' per-RM values."""
    out = {}
    for c in results.get("correlations", []):
        for v in c["values"]:
            out[(v["rm"], c["static"])] = (v["static"], v.get("static_ci"))
            out[(v["rm"], c["downstream"])] = (v["downstream"], v.get("downstream_ci"))
    for row in results.get("rm_table", []):   # columns no correlation covers: no interval
        for col, value in row.items():
            if col != "rm" and isinstance(value, (int, float)):
                out.setdefault((row["rm"], col), (value, None))
    return out


def number_diff(ra: dict, rb: dict) -> list[dict]:
    na, nb = _numbers(ra), _numbers(rb)
    rows = []
    for rm, col in sorted(set(na) & set(nb)):
        (a, ca), (b, cb) = na[(rm, col)], nb[(rm, col)]
        sa, sb = _se(ca), _se(cb)
        se = math.hypot(sa, sb) if sa is not None and sb is not None else None
        z = (b - a) / se if se else (0.0 if b == a else None)
        rows.append({"rm": rm, "column": col, "a": a, "b": b, "delta": b - a, "ci_a": ca, "ci_b": cb,
                     "z": z, "moved": "same" if b == a else "beyond noise" if z is not None and abs(z) > 1.96
                     else "within noise" if z is not None else "no interval"})
    return sorted(rows, key=lambda r: -abs(r["z"] or 0))


def verdict_diff(ra: dict, rb: dict) -> list[dict]:
    ca = {(c["static"], c["downstream"]): c for c in ra.get("correlations", [])}
    cb = {(c["static"], c["downstream"]): c for c in rb.get("correlations", [])}
    rows = []
    for k in sorted(set(ca) | set(cb)):
        x, y = ca.get(k), cb.get(k)
        rows.append({"static": k[0], "downstream": k[1],
                     "a": x and {"verdict": x["class"], "spearman": x["spearman"]["value"], "ci": x["spearman"]["ci"]},
                     "b": y and {"verdict": y["class"], "spearman": y["spearman"]["value"], "ci": y["spearman"]["ci"]},
                     "changed": (x and x["class"]) != (y and y["class"])})
    return rows


def diff_runs(dir_a: Path, dir_b: Path) -> dict:
    a, b = _load(dir_a), _load(dir_b)
    return {"a": a["dir"], "b": b["dir"], "nodes": node_diff(a["nodes"], b["nodes"]),
            "setup": setup_diff(a["provenance"], b["provenance"]),
            "numbers": number_diff(a["results"], b["results"]),
            "verdicts": verdict_diff(a["results"], b["results"])}
