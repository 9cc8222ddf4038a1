"""Optional exports of a report (`report.exports` in the recipe; off by default)."""
from __future__ import annotations

import json
from pathlib import Path

from rlhf_eval import store
from rlhf_eval.compare.tables import rm_label
from rlhf_eval.errors import UserError


def leaderboard(results: dict, path: Path) -> Path:
    """Static results in the shape of the RewardBench leaderboard's result files: one record per RM
    (per training seed, a checkpoint each, where it has several) and benchmark with the headline
    score and every subset and domain, in [0, 100]."""
    records = {}
    for row in results["static"]:
        if row["metric"] == "score" or row["metric"].startswith(("subset/", "domain/")):
            model = rm_label(row["rm"], row.get("rm_seed"))
            rec = records.setdefault((model, row["benchmark"]), {"model": model, "benchmark": row["benchmark"]})
            name = row["metric"].split("/", 1)[-1]
            rec[name] = None if row["value"] is None else round(100 * row["value"], 2)
    for row in results.get("seven") or []:  # the seven-benchmark summary, as one more "benchmark"
        model = rm_label(row["rm"], row.get("rm_seed"))
        records[(model, "seven")] = {"model": model, "benchmark": "seven"} | {
            k: round(100 * v, 2) for k, v in row.items() if isinstance(v, float)} | {
            "worst_benchmark": row["worst_benchmark"]}
    order = sorted(records.values(), key=lambda r: (r["benchmark"], -(r.get("score") or r.get("average") or 0)))
    store.atomic_write_json(path, order)
    return path


def tensorboard(results: dict, log_dir: Path) -> Path:
    """Scalars for TensorBoard: static scores and gains per RM, best-of-n curves (step = n), RL gains
    per checkpoint (step = RL step). Needs `pip install tensorboard`."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise UserError("report.exports has tensorboard: pip install tensorboard") from exc
    log_dir.mkdir(parents=True, exist_ok=True)
    with SummaryWriter(str(log_dir)) as w:
        for row in results["static"]:
            if row["metric"] == "score":
                w.add_scalar(f"static/{row['benchmark']}/{rm_label(row['rm'], row.get('rm_seed'))}", row["value"], 0)
        for row in results["downstream"]:
            if row["method"] == "best-of-n":
                w.add_scalar(f"best_of_n/{row['task']}/{row['policy']}/{rm_label(row['rm'], row.get('rm_seed'))}",
                             row["value"], row["n"])
        for g in results["rl_seeds"]:  # the mean over training seeds (the one seed's gain when there is one)
            w.add_scalar(f"rl_gain/{g['task']}/{g['policy']}/{g['rm']}", g["gain"], g["step"])
        for c in results["correlations"]:
            w.add_text(f"verdict/{c['static']}/{c['downstream']}", c["verdict"], 0)
        w.add_text("results", "```\n" + json.dumps({k: results[k] for k in ("name", "n_rms")}) + "\n```", 0)
    return log_dir
