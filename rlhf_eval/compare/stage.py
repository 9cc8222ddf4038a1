"""compare stage: the RM table (static score, best-of-n gain, RL gain) and whether the static
ranking predicts the downstream ones."""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from rlhf_eval import store
from rlhf_eval.bench.evaluate import full_metrics
from rlhf_eval.bench.items import Outcomes
from rlhf_eval.bench.registry import kind_of
from rlhf_eval.bon.estimator import bootstrap_mean_ci
from rlhf_eval.compare.stats import (MIN_RMS_FOR_CLAIMS, Source, benchmark_verdict, bootstrap_table, cell_verdict,
                                     classify, correlate, pairwise_agreement)

HEADLINE = "score"


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def gather(inputs: dict) -> dict:
    by = defaultdict(list)
    for manifest in inputs.values():
        by[manifest["stage"]].append(manifest["outputs"])
    return by


def load_units(path: str) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """A static_bench node's per-unit outcomes, sorted by unit id so RMs align."""
    rows = sorted(store.read_jsonl(path), key=lambda r: r["id"])
    columns = list(dict.fromkeys(k for r in rows for k in r if k not in ("id", "group")))
    values = np.array([[np.nan if r.get(c) is None else r[c] for c in columns] for r in rows], float)
    return columns, values, np.array([r["group"] for r in rows], dtype=object), [r["id"] for r in rows]


STATIC_METRICS = ("score", "domain_worst")


def static_sources(bench_outs: list[dict]) -> list[Source]:
    """One source per benchmark: its headline score, worst domain, and every subset and domain."""
    out = []
    for name in sorted({b["benchmark"] for b in bench_outs}):
        units, groups, columns, ids = {}, None, None, None
        outs = [x for x in bench_outs if x["benchmark"] == name]
        bench = kind_of(name, outs[0]["kind"])
        for b in outs:
            columns, units[b["rm"]], groups, rm_ids = load_units(b["units"])
            if ids is not None and rm_ids != ids:
                raise ValueError(f"{name}: RM '{b['rm']}' was scored on other items than the RMs before it")
            ids = rm_ids

        def metrics(v, idx, groups=groups, columns=columns, bench=bench):
            m = full_metrics(bench, Outcomes(columns, v[idx], groups[idx], []))
            return {k: x for k, x in m.items() if k in STATIC_METRICS or k.startswith(("subset/", "domain/"))}
        out.append(Source(name, units, groups, metrics, "static"))
    return out


def _per_doc(e: dict) -> np.ndarray:
    return np.array([r[e["metric"]] for r in sorted(store.read_jsonl(e["samples"]), key=lambda r: r["doc_id"])])


def downstream_sources(bon_outs: list[dict], eval_outs: list[dict]) -> list[Source]:
    """Per (policy, task): the best-of-n gain over n = 1 for every n > 1 of the grid, and the final
    RL checkpoint's gain over the base policy; per-prompt values, so prompts can be resampled."""
    out = []
    for (policy, task) in sorted({(b["policy"], b["task"]) for b in bon_outs}):
        units, grid = {}, None
        for b in (x for x in bon_outs if (x["policy"], x["task"]) == (policy, task)):
            pp = json.loads(Path(b["per_prompt"]).read_text())["values"]
            grid = [n for n in sorted(int(k) for k in pp) if n > 1]
            units[b["rm"]] = np.stack([np.array(pp[str(n)]) - np.array(pp["1"]) for n in grid], axis=1)

        def metrics(v, idx, grid=grid):
            return {f"best-of-{n} gain": float(v[idx, k].mean()) for k, n in enumerate(grid)}
        out.append(Source(f"({task}, {policy})", units, None, metrics, "downstream"))
    for (policy, task) in sorted({(e["policy"], e["task"]) for e in eval_outs if e["rm"] is None}):
        base = next(e for e in eval_outs if e["rm"] is None and (e["policy"], e["task"]) == (policy, task))
        b = _per_doc(base)
        units = {e["rm"]: _per_doc(e) - b for e in eval_outs
                 if e["rm"] and e["final"] and (e["policy"], e["task"]) == (policy, task)}
        if units:
            out.append(Source(f"({task}, {policy})", units, None,
                              lambda v, idx: {"RL gain": float(v[idx].mean())}, "downstream"))
    return out


def measure_name(source: str, metric: str, kind: str) -> str:
    return f"{source} {metric}" if kind == "static" else f"{metric} {source}"


def rl_gain_rows(eval_outs: list[dict], iters: int, seed: int) -> list[dict]:
    """Per RL checkpoint: gold before (the base policy) and after, and the gain with a paired
    bootstrap CI over evaluation prompts."""
    rows = []
    for base in (e for e in eval_outs if e["rm"] is None):
        b = _per_doc(base)
        for e in sorted((x for x in eval_outs if x["rm"] and (x["policy"], x["task"]) == (base["policy"], base["task"])),
                        key=lambda x: (x["rm"], x["step"])):
            diff = _per_doc(e) - b
            lo, hi = bootstrap_mean_ci(diff, iters, seed)
            rows.append({"rm": e["rm"], "policy": e["policy"], "task": e["task"], "step": e["step"],
                         "final": e["final"], "before": float(b.mean()), "after": e["value"],
                         "gain": float(diff.mean()), "ci_low": lo, "ci_high": hi, "prompts": len(diff)})
    return rows


def analyse(by: dict, iters: int, seed: int, bar=None) -> dict:
    """Every table of the answer from the result nodes' outputs (`by`: stage -> outputs)."""
    rms = sorted({b["rm"] for b in by["static_bench"]} | {b["rm"] for b in by["bon_eval"]}
                 | {e["rm"] for e in by["policy_eval"] if e["rm"]})
    sources = static_sources(by["static_bench"]) + downstream_sources(by["bon_eval"], by["policy_eval"])
    table = bootstrap_table(sources, rms, iters, seed, progress=bar)
    names = {key: measure_name(key[0], key[1], table.kind[key]) for key in table.point}
    statics = [k for k in table.point if table.kind[k] == "static"]
    downs = [k for k in table.point if table.kind[k] == "downstream"]

    matrix, headline = [], []
    for s in statics:
        for d in downs:
            full = s[1] == HEADLINE
            c = correlate(table.point[s], table.point[d], table.boot[s], table.boot[d], seed,
                          kinds=("pearson", "spearman", "kendall") if full else ("spearman",))
            cell = {"static": names[s], "benchmark": s[0], "metric": s[1], "downstream": names[d]} | c
            if full:
                ok = [i for i, r in enumerate(rms) if not (np.isnan(table.point[s][i]) or np.isnan(table.point[d][i]))]
                cell["agreement"] = pairwise_agreement([rms[i] for i in ok], table.point[s][ok],
                                                       table.point[d][ok], table.boot[s][:, ok])
                cell["class"] = classify(cell, c["n_rms"])
                cell["verdict"] = cell_verdict(cell)
                cell["values"] = [{"rm": rms[i], "static": float(table.point[s][i]),
                                   "static_ci": _ci(table.boot[s][:, i]), "downstream": float(table.point[d][i]),
                                   "downstream_ci": _ci(table.boot[d][:, i])} for i in ok]
                cell["fit_band"] = fit_band(table.point[s][ok], table.point[d][ok], table.boot[s][:, ok],
                                            table.boot[d][:, ok], seed)
                headline.append(cell)
            matrix.append({k: cell[k] for k in ("static", "benchmark", "metric", "downstream", "n_rms", "spearman")})
    verdicts = []
    for bench in sorted({s[0] for s in statics}):
        cells = [c for c in headline if c["benchmark"] == bench]
        n = max((c["n_rms"] for c in cells), default=len(rms))
        verdicts.append(benchmark_verdict(bench, HEADLINE, cells, n))
    rm_table = []
    for i, rm in enumerate(rms):
        row = {"rm": rm}
        for k in statics:
            if k[1] == HEADLINE:
                row[names[k]] = _num(table.point[k][i])
        for k in downs:
            row[names[k]] = _num(table.point[k][i])
        rm_table.append(row)
    rm_columns = ["rm"] + [names[k] for k in statics if k[1] == HEADLINE] + [names[k] for k in downs]
    return {"rms": rms, "rm_table": rm_table, "rm_columns": rm_columns, "correlations": headline, "matrix": matrix, "verdicts": verdicts,
            "n_rms": len(rms), "enough_rms": len(rms) >= MIN_RMS_FOR_CLAIMS, "bootstrap": iters, "seed": seed}


def _num(v) -> float | None:
    return None if np.isnan(v) else float(v)


def _ci(draws) -> list[float]:
    d = np.asarray(draws, float)
    d = d[~np.isnan(d)]
    return [float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975))] if len(d) else [None, None]


def fit_band(x, y, bx, by, seed: int, points: int = 30) -> dict:
    """Least-squares line of downstream on static across RMs, and its 95% band from the same
    bootstrap (RMs and units resampled)."""
    if len(x) < 3 or np.ptp(x) == 0:
        return {}
    grid = np.linspace(x.min(), x.max(), points)
    slope, icpt = np.polyfit(x, y, 1)
    rng = np.random.default_rng(seed)
    lines = []
    for b in range(len(bx)):
        r = rng.integers(0, len(x), len(x))
        if np.ptp(bx[b, r]) > 0 and not np.isnan(bx[b, r]).any() and not np.isnan(by[b, r]).any():
            lines.append(np.polyval(np.polyfit(bx[b, r], by[b, r], 1), grid))
    lo, hi = (np.quantile(lines, q, axis=0).tolist() for q in (0.025, 0.975)) if lines else ([], [])
    return {"x": grid.tolist(), "fit": (slope * grid + icpt).tolist(), "low": lo, "high": hi,
            "slope": float(slope), "intercept": float(icpt)}


def tables(by: dict, cfg: dict) -> dict:
    """The static and downstream rows (every metric with its CI) and the RL gains."""
    static_rows = []
    for b in by["static_bench"]:
        base = {"rm": b["rm"], "benchmark": b["benchmark"], "n": b["n"]}
        for k, v in b["metrics"].items():
            ci = b["ci"].get(k) or [None, None]
            label = {"domain": b["worst_domain"]} if k == "domain_worst" else {}
            static_rows.append(base | {"metric": k, "value": v, "ci_low": ci[0], "ci_high": ci[1]} | label)
        for k, v in b["ppe"]["metrics"].items():
            ci = b["ppe"]["ci"].get(k) or [None, None]
            static_rows.append(base | {"metric": f"ppe/{k}", "value": v, "ci_low": ci[0], "ci_high": ci[1]})
        lb = b["length_baseline"]
        static_rows.append(base | {"metric": "length_baseline", "value": lb["score"],
                                   "ci_low": lb["ci"][0], "ci_high": lb["ci"][1]})
        for p in b["probes"]:
            static_rows.append(base | {"metric": f"probe_drop/{p['probe']}", "value": p["drop"],
                                       "ci_low": p["ci"][0], "ci_high": p["ci"][1]})
        static_rows.append(base | {"metric": "truncated_inputs", "value": b["truncated"],
                                   "ci_low": None, "ci_high": None})
    down_rows = []
    for b in by["bon_eval"]:
        for pt in b["curve"]:
            down_rows.append({"policy": b["policy"], "method": "best-of-n", "rm": b["rm"], "n": pt["n"],
                              "task": b["task"], "metric": b["metric"], "value": pt["value"],
                              "ci_low": pt["ci"][0], "ci_high": pt["ci"][1], "prompts": b["n_prompts"],
                              "oracle": pt["oracle"], "kl_bound": pt["kl_bound"]})
    for e in by["policy_eval"]:
        down_rows.append({"policy": e["policy"], "method": "rl" if e["rm"] else "base", "rm": e["rm"] or "",
                          "n": None, "step": e["step"], "task": e["task"], "metric": e["metric"],
                          "value": e["value"], "ci_low": None, "ci_high": None, "prompts": e["n"]})
    rl_gains = rl_gain_rows(by["policy_eval"], cfg["bootstrap"], cfg["seed"])
    return {"static": static_rows, "downstream": down_rows, "rl_gains": rl_gains}


def write_tables(out_dir: Path, result: dict) -> list[str]:
    """results' tables as CSVs (one per table) and jsonl; returns the CSV names."""
    flat = {
        "rm_table": result["rm_table"], "static": result["static"], "downstream": result["downstream"],
        "rl_gains": result["rl_gains"],
        "correlations": [{"static": c["static"], "downstream": c["downstream"], "n_rms": c["n_rms"], "class": c["class"]}
                         | {f"{k}{s}": v for k in ("pearson", "spearman", "kendall")
                            for s, v in (("", c[k]["value"]), ("_ci_low", c[k]["ci"][0]), ("_ci_high", c[k]["ci"][1]),
                                         ("_meas_ci_low", c[k]["ci_measurement"][0]),
                                         ("_meas_ci_high", c[k]["ci_measurement"][1]))}
                         | {f"pairs_{k}": c["agreement"][k] for k in ("pairs", "resolved", "agree", "share", "within_noise")}
                         for c in result["correlations"]],
        "pairwise": [{"static": c["static"], "downstream": c["downstream"]} | p
                     for c in result["correlations"] for p in c["agreement"]["detail"]],
        "matrix": [{k: m[k] for k in ("static", "downstream", "n_rms")} | {"spearman": m["spearman"]["value"],
                   "ci_low": m["spearman"]["ci"][0], "ci_high": m["spearman"]["ci"][1]} for m in result["matrix"]],
        "verdicts": [{"benchmark": v["benchmark"], "metric": v["metric"], "n_rms": v["n_rms"], "verdict": v["text"]}
                     for v in result["verdicts"]],
    }
    for name, rows in flat.items():
        if rows:
            _write_csv(out_dir / f"{name}.csv", [{k: (json.dumps(v) if isinstance(v, (list, dict)) else v)
                                                   for k, v in r.items()} for r in rows])
    return [f"{n}.csv" for n, rows in flat.items() if rows]


def compute(by: dict, cfg: dict, bar=None) -> dict:
    return tables(by, cfg) | analyse(by, cfg["bootstrap"], cfg["seed"], bar) | {
        "bon": by["bon_eval"], "rl": [{k: r[k] for k in ("rm", "policy", "history")} for r in by["rl_train"]]}


def run(ctx) -> dict:
    by = gather(ctx.inputs)
    with ctx.bar("bootstrap over items, prompts and RMs", ctx.params["compare"]["bootstrap"]) as update:
        result = compute(by, ctx.params["compare"], bar=lambda done, total: update(done))
    store.write_jsonl(ctx.dir / "static.jsonl", result["static"])
    store.write_jsonl(ctx.dir / "downstream.jsonl", result["downstream"])
    result["csv"] = write_tables(ctx.dir, result)
    return result
