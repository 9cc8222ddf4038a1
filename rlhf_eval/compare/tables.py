"""The rows of the answer's tables (every static and downstream number with its CI, RL gains)
and their CSVs."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from rlhf_eval.bench.summary import seven_rows
from rlhf_eval.bon.estimator import bootstrap_mean_ci
from rlhf_eval.compare.sources import per_doc
from rlhf_eval.compare.stats import seed_interval

# A cell starting with one of these is a formula in Excel, LibreOffice and Google Sheets (OWASP's
# "CSV injection"): a name such as =HYPERLINK(...) would run when the CSV is opened.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value):
    """A CSV cell: text that a spreadsheet would read as a formula gets a leading apostrophe;
    numbers (a negative Spearman) stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[cell_text(k) for k in keys])
        w.writeheader()
        w.writerows({cell_text(k): cell_text(v) for k, v in r.items()} for r in rows)


def rl_gain_rows(eval_outs: list[dict], iters: int, seed: int) -> list[dict]:
    """Per RL checkpoint (RM, training seed, step): gold before (the base policy) and after, and
    the gain with a paired bootstrap CI over evaluation prompts (evaluation noise only)."""
    rows = []
    for base in (e for e in eval_outs if e["rm"] is None):
        b = per_doc(base)
        same = [x for x in eval_outs if x["rm"] and (x["policy"], x["task"]) == (base["policy"], base["task"])]
        for e in sorted(same, key=lambda x: (x["rm"], x["step"], x.get("seed") or 0)):
            diff = per_doc(e) - b
            lo, hi = bootstrap_mean_ci(diff, iters, seed)
            rows.append({"rm": e["rm"], "policy": e["policy"], "task": e["task"], "seed": e.get("seed"),
                         "rm_seed": e.get("rm_seed"),
                         "step": e["step"], "final": e["final"], "before": float(b.mean()), "after": e["value"],
                         "gain": float(diff.mean()), "ci_low": lo, "ci_high": hi, "prompts": len(diff),
                         "scored": scored_as(e)})
    return rows


def scored_as(e: dict) -> str:
    """How an evaluation scored a prompt, in words."""
    s = e.get("sampling")
    if not s:
        return "the task's metric on one greedy response"
    return (f"the mean of the task's metric over {s['samples']} responses sampled at temperature "
            f"{s['temperature']:g}, top_p {s['top_p']:g} (pass@1)")


def rl_seed_rows(gain_rows: list[dict]) -> list[dict]:
    """Per (RM, policy, task, step): the gain of every training seed, their mean with a CI across
    seeds (`stats.seed_interval`) and the spread (sd, min, max)."""
    groups: dict = {}
    for g in gain_rows:
        groups.setdefault((g["rm"], g["policy"], g["task"], g["step"]), []).append(g)
    rows = []
    for (rm, policy, task, step), gs in groups.items():
        iv = seed_interval(top_level(gs))
        rows.append({"rm": rm, "policy": policy, "task": task, "step": step, "final": gs[0]["final"],
                     "seeds": iv["seeds"], "gain": iv["mean"], "ci_low": iv["ci"][0], "ci_high": iv["ci"][1],
                     "sd": iv["sd"], "min": min(g["gain"] for g in gs), "max": max(g["gain"] for g in gs),
                     "per_seed": {run_name(g): g["gain"] for g in gs}})
    return rows


def top_level(gains: list[dict]) -> list[float]:
    """The gains the interval is over: each RL seed's, or where RM training seeds were crossed with
    RL seeds, each RM seed's mean over its RL seeds (the RM seeds are the top level)."""
    if all(g.get("rm_seed") is None for g in gains):
        return [g["gain"] for g in gains]
    tops: dict = {}
    for g in gains:
        tops.setdefault(g.get("rm_seed"), []).append(g["gain"])
    return [float(np.mean(v)) for v in tops.values()]


def run_name(g: dict) -> str:
    return str(g["seed"]) if g.get("rm_seed") is None else f"rm seed {g['rm_seed']}, RL seed {g['seed']}"


def several_seeds(outs: list[dict]):
    """out -> its RM training seed where its RM has several among `outs`, else None: the rows of
    one-seed RMs stay as they were."""
    seeds: dict = {}
    for o in outs:
        seeds.setdefault(o["rm"], set()).add(o.get("rm_seed"))
    return lambda o: o.get("rm_seed") if len(seeds.get(o["rm"], ())) > 1 else None


def rm_label(rm: str, seed) -> str:
    """An RM as a row or a curve names it: with its training seed where it has several."""
    return rm if seed is None else f"{rm} (seed {seed})"


def static_tables(bench_outs: list[dict], cfg: dict) -> dict:
    """Every static metric of every (RM, benchmark, RM training seed) with its CI, and the
    seven-benchmark summary."""
    static_rows = []
    seed_of = several_seeds(bench_outs)
    for b in bench_outs:
        scored_as = b.get("scored_as", b.get("kind"))  # "kind" in runs made before the rename
        base = {"rm": b["rm"], "rm_seed": seed_of(b), "benchmark": b["benchmark"], "scored_as": scored_as,
                "n": b["n"]}
        for k, v in b["metrics"].items():
            ci = b["ci"].get(k) or [None, None]
            label = {"domain": b["worst_domain"]} if k == "domain_worst" else {}
            static_rows.append(base | {"metric": k, "value": v, "ci_low": ci[0], "ci_high": ci[1]} | label)
        for k, v in (b["ppe"] or {"metrics": {}})["metrics"].items():  # none for a pairwise judge
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
        if b.get("judge"):  # a generative judge's unreadable answers, shown beside its score
            static_rows.append(base | {"metric": "judge_parse_failures", "value": b["judge"]["parse_failures"],
                                       "ci_low": None, "ci_high": None})
        if b.get("position_bias"):  # a pairwise judge: how often swapping the order flips its decision
            static_rows.append(base | {"metric": "judge_position_flips", "value": b["position_bias"]["flip_rate"],
                                       "ci_low": None, "ci_high": None})
    cut = [{"rm": b["rm"], "rm_seed": seed_of(b), "benchmark": b["benchmark"]}
           | {k: b["truncation"][k] for k in ("items", "of_items", "share", "inputs", "of_inputs", "max_length")}
           for b in bench_outs if (b.get("truncation") or {}).get("items")]
    return {"static": static_rows, "seven": seven_rows(static_rows), "truncation": cut}


def bon_tables(bon_outs: list[dict], cfg: dict) -> dict:
    """Every point of every best-of-n curve with its CI, and the curves as computed."""
    down_rows = []
    seed_of = several_seeds(bon_outs)
    for b in bon_outs:
        for pt in b["curve"]:
            down_rows.append({"policy": b["policy"], "method": "best-of-n", "rm": b["rm"], "rm_seed": seed_of(b),
                              "n": pt["n"],
                              "task": b["task"], "metric": b["metric"], "value": pt["value"],
                              "ci_low": pt["ci"][0], "ci_high": pt["ci"][1], "prompts": b["n_prompts"],
                              "oracle": pt["oracle"], "kl_bound": pt["kl_bound"]})
    return {"downstream": down_rows, "bon": bon_outs}


def eval_tables(eval_outs: list[dict], cfg: dict) -> dict:
    """Every evaluation (base and RL checkpoints), the RL gains and their spread over seeds."""
    down_rows = []
    for e in eval_outs:
        down_rows.append({"policy": e["policy"], "method": "rl" if e["rm"] else "base", "rm": e["rm"] or "",
                          "rl_seed": e.get("seed"),
                          "n": None, "step": e["step"], "task": e["task"], "metric": e["metric"],
                          "value": e["value"], "ci_low": None, "ci_high": None, "prompts": e["n"],
                          "responses_per_prompt": e.get("responses_per_prompt", 1)}
                         | {f"pass@{k}": v for k, v in (e.get("pass_at") or {}).items()})
    rl_gains = rl_gain_rows(eval_outs, cfg["bootstrap"], cfg["seed"])
    return {"downstream": down_rows, "rl_gains": rl_gains, "rl_seeds": rl_seed_rows(rl_gains)}


def signal_tables(signal_outs: list[dict], cfg: dict) -> dict:
    """Each RM's on-policy signals (means over prompts) per (policy, task)."""
    seed_of = several_seeds(signal_outs)
    return {"on_policy": [{"rm": o["rm"], "rm_seed": seed_of(o), "policy": o["policy"], "task": o["task"],
                           "prompts": o["n_prompts"]} | o["means"] for o in signal_outs]}


def rl_tables(rl_outs: list[dict], cfg: dict) -> dict:
    """Each RL run's training history."""
    return {"rl": [{k: r.get(k) for k in ("rm", "policy", "seed", "history")} for r in rl_outs]}


def write_tables(out_dir: Path, result: dict) -> list[str]:
    """results' tables as CSVs (one per table) and jsonl; returns the CSV names."""
    flat = {
        "rm_table": [{k: v for k, v in r.items() if k != "ci"}
                     | {f"{c} ci_{end}": v for c, ci in r.get("ci", {}).items() for end, v in zip(("low", "high"), ci)}
                     for r in result["rm_table"]],
        "static": result["static"], "downstream": result["downstream"],
        "rl_gains": result["rl_gains"], "rl_seeds": result["rl_seeds"], "seven": result.get("seven", []),
        "on_policy": result.get("on_policy", []), "truncation": result.get("truncation", []),
        "correlations": [{"static": c["static"], "downstream": c["downstream"], "n_rms": c["n_rms"],
                          "class": c["class"], "p": c.get("p"), "p_adjusted": c.get("p_adjusted"),
                          "rests_on": c.get("rests_on", [])}
                         | {f"{k}{s}": v for k in ("pearson", "spearman", "kendall")
                            for s, v in (("", c[k]["value"]), ("_ci_low", c[k]["ci"][0]), ("_ci_high", c[k]["ci"][1]),
                                         ("_meas_ci_low", c[k]["ci_measurement"][0]),
                                         ("_meas_ci_high", c[k]["ci_measurement"][1]),
                                         ("_disattenuated", c[k]["disattenuated"]),
                                         ("_disattenuated_ci_low", c[k]["disattenuated_ci"][0]),
                                         ("_disattenuated_ci_high", c[k]["disattenuated_ci"][1]))}
                         | {f"reliability_{side}": c["reliability"][side] for side in ("static", "downstream")}
                         | {f"pairs_{k}": c["agreement"][k]
                            for k in ("pairs", "resolved", "agree", "share", "within_noise")}
                         for c in result["correlations"]],
        "pairwise": [{"static": c["static"], "downstream": c["downstream"]} | p
                     for c in result["correlations"] for p in c["agreement"]["detail"]],
        "matrix": [{k: m[k] for k in ("static", "downstream", "n_rms")} | {"spearman": m["spearman"]["value"],
                   "ci_low": m["spearman"]["ci"][0], "ci_high": m["spearman"]["ci"][1], "p": m.get("p"),
                   "q_bh": m.get("q")} for m in result["matrix"]],
        "verdicts": [{"benchmark": v["benchmark"], "metric": v["metric"], "n_rms": v["n_rms"], "verdict": v["text"]}
                     for v in result["verdicts"]],
        "ranking": [{"downstream": r["downstream"], "a": p["a"], "b": p["b"], "n_rms": p["n_rms"],
                     "spearman_a_minus_b": p["difference"], "ci_low": p["ci"][0], "ci_high": p["ci"][1],
                     "better": p["better"] or ""} for r in result.get("benchmark_ranking", []) for p in r["pairs"]],
    }
    for name, rows in flat.items():
        if rows:
            _write_csv(out_dir / f"{name}.csv", [{k: (json.dumps(v) if isinstance(v, (list, dict)) else v)
                                                   for k, v in r.items()} for r in rows])
    return [f"{n}.csv" for n, rows in flat.items() if rows]
