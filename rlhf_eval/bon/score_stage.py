"""bon_score stage: one RM score per stored candidate (optionally in Ray shards)."""
from __future__ import annotations

from rlhf_eval import store
from rlhf_eval.bon.artifacts import CandidateSet
from rlhf_eval.config import RayShardConfig, from_params
from rlhf_eval.rm.base import load_scorer
from rlhf_eval.rm.judge import judge_progress, judge_report


def build_scorer(ctx, ray: RayShardConfig):
    if ray.enabled:
        from rlhf_eval.bon.sharded import ShardedScorer
        return ShardedScorer(ctx.inputs["rm"], ctx.dir / "shards", ray)
    return load_scorer(ctx.inputs["rm"])


def run(ctx) -> dict:
    cands = store.read_jsonl(CandidateSet.from_outputs(ctx.out("candidates")).candidates)
    ray = from_params(RayShardConfig, ctx.params["ray"])
    scorer = build_scorer(ctx, ray)
    rm = ctx.out("rm")["name"]
    with ctx.bar(f"scoring {len(cands)} candidates", 1) as update, judge_progress(scorer, ctx, "best-of-n"):
        prompts, texts = [c["prompt"] for c in cands], [c["text"] for c in cands]
        if ray.enabled:
            scores = scorer.score(prompts, texts, progress=lambda d, t: update(d / t))
        else:
            scores = scorer.score(prompts, texts)
        update(1)
    rows = [{"prompt_id": c["prompt_id"], "sample_idx": c["sample_idx"], "rm": rm, "score": s}
            for c, s in zip(cands, scores)]
    store.write_jsonl(ctx.dir / "scores.jsonl", rows)
    return {"scores": str(ctx.dir / "scores.jsonl"), "rm": rm, "n": len(rows), "truncated": scorer.truncated,
            "shard_attempts": getattr(scorer, "attempts", None), "judge": judge_report(scorer)}
