"""static_bench stage: score every item's chosen and rejected with the RM, then RewardBench
metrics with bootstrap CIs (items resampled within subsets)."""
from __future__ import annotations

import numpy as np

from rlhf_eval import store
from rlhf_eval.bench import rewardbench
from rlhf_eval.bench.registry import load_rows
from rlhf_eval.rm.scoring import load_scorer


def bootstrap_final(subsets: list[str], correct, iters: int, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    correct = np.asarray(correct, float)
    groups = {s: np.flatnonzero(np.asarray(subsets) == s) for s in sorted(set(subsets))}
    finals = []
    for _ in range(iters):
        idx = np.concatenate([rng.choice(g, size=len(g)) for g in groups.values()])
        finals.append(rewardbench.score([subsets[i] for i in idx], correct[idx])["final"])
    return float(np.quantile(finals, 0.025)), float(np.quantile(finals, 0.975))


def run(ctx) -> dict:
    toy = ctx.out("toy") if ctx.has("toy") else None
    rows = load_rows(ctx.params["benchmark"], toy)
    scorer = load_scorer(ctx.inputs["rm"])
    prompts = [r["prompt"] for r in rows]
    with ctx.bar(f"scoring {len(rows)} pairs", 2) as update:
        chosen = scorer.score(prompts, [r["chosen"] for r in rows])
        update(1)
        rejected = scorer.score(prompts, [r["rejected"] for r in rows])
        update(2)
    correct = [float(c > r) for c, r in zip(chosen, rejected)]
    subsets = [r["subset"] for r in rows]
    metrics = rewardbench.score(subsets, correct)
    ci = bootstrap_final(subsets, correct, ctx.params["bootstrap"])
    items = [{"id": r["id"], "subset": r["subset"], "score_chosen": c, "score_rejected": j, "correct": k}
             for r, c, j, k in zip(rows, chosen, rejected, correct)]
    store.write_jsonl(ctx.dir / "items.jsonl", items)
    return {"benchmark": ctx.params["benchmark"], "rm": ctx.inputs["rm"]["outputs"]["name"],
            "metrics": metrics, "final_ci": ci, "n": len(rows), "truncated": scorer.truncated,
            "items": str(ctx.dir / "items.jsonl")}
