"""bon_score stage: one RM score per stored candidate."""
from __future__ import annotations

from rlhf_eval import store
from rlhf_eval.rm.scoring import load_scorer


def run(ctx) -> dict:
    cands = store.read_jsonl(ctx.out("candidates")["candidates"])
    scorer = load_scorer(ctx.inputs["rm"])
    rm = ctx.out("rm")["name"]
    with ctx.bar(f"scoring {len(cands)} candidates", 1) as update:
        scores = scorer.score([c["prompt"] for c in cands], [c["text"] for c in cands])
        update(1)
    rows = [{"prompt_id": c["prompt_id"], "sample_idx": c["sample_idx"], "rm": rm, "score": s}
            for c, s in zip(cands, scores)]
    store.write_jsonl(ctx.dir / "scores.jsonl", rows)
    return {"scores": str(ctx.dir / "scores.jsonl"), "rm": rm, "n": len(rows), "truncated": scorer.truncated}
