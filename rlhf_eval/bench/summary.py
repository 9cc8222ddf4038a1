"""The seven benchmarks Skywork-Reward-V2 reports (RewardBench, RewardBench 2, PPE Preference,
PPE Correctness, RMB, RM-Bench, JudgeBench): one row per RM with each official score, their plain
average (as Skywork-Reward-V2 reports it) and the worst of the seven. RMB is RMB's own overall:
the mean of its four goal x set accuracies (pairwise and best-of-N, Helpfulness and Harmlessness).
JudgeBench is the official micro average (`score`); Skywork-Reward-V2's paper averages its four
source groups instead, which the JudgeBench table shows as `macro_source`."""
from __future__ import annotations

import numpy as np

SEVEN = ("RewardBench", "RewardBench 2", "PPE Preference", "PPE Correctness", "RMB", "RM-Bench", "JudgeBench")
SCORED_AS = {"RewardBench": "rewardbench", "RewardBench 2": "rewardbench2", "PPE Preference": "ppe-preference",
             "PPE Correctness": "ppe-correctness", "RM-Bench": "rm-bench", "JudgeBench": "judgebench"}
RMB_PARTS = [(rules, f"domain/{goal}") for rules in ("rmb-pairwise", "rmb-bon")
             for goal in ("Helpfulness", "Harmlessness")]


def seven_rows(static_rows: list[dict]) -> list[dict]:
    """[] unless some RM has all seven; rows only for the RMs that do, one per training seed where an
    RM has several (`rm_seed`). `static_rows` carry `scored_as`."""
    value = {(r["rm"], r.get("rm_seed"), r.get("scored_as"), r["metric"]): r["value"] for r in static_rows}
    out = []
    for rm, seed in dict.fromkeys((r["rm"], r.get("rm_seed")) for r in static_rows):
        row = {name: value.get((rm, seed, rules, "score")) for name, rules in SCORED_AS.items()}
        parts = [value.get((rm, seed, rules, metric)) for rules, metric in RMB_PARTS]
        row["RMB"] = float(np.mean(parts)) if all(p is not None for p in parts) else None
        if any(row[name] is None for name in SEVEN):
            continue
        worst = min(SEVEN, key=lambda name: row[name])
        out.append({"rm": rm} | ({"rm_seed": seed} if seed is not None else {}) | {name: row[name] for name in SEVEN}
                   | {"average": float(np.mean([row[n] for n in SEVEN])), "worst": row[worst],
                      "worst_benchmark": worst})
    return out
