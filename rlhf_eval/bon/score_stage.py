"""bon_score stage: one RM score per stored candidate (optionally in Ray shards).

A pairwise judge instead compares every pair of a prompt's N_max candidates once, in both orders
(decisions.jsonl; bon_eval picks from them by knockout and by round robin). Its scores.jsonl holds
each candidate's round-robin wins over all N_max, so lm-eval's pick at N_max is the round-robin
winner's. A pairwise judge runs in the node's own process, Ray shards or not."""
from __future__ import annotations

import itertools

import numpy as np

from rlhf_eval import store
from rlhf_eval.bon.artifacts import CandidateSet
from rlhf_eval.bon.pairwise import game_value
from rlhf_eval.config import RayShardConfig, from_params
from rlhf_eval.rm.base import TrainedRM, load_scorer
from rlhf_eval.rm.judge import judge_progress, judge_report


def build_scorer(ctx, ray: RayShardConfig):
    if ray.enabled:
        from rlhf_eval.bon.sharded import ShardedScorer
        return ShardedScorer(ctx.inputs["rm"], ctx.dir / "shards", ray)
    return load_scorer(ctx.inputs["rm"])


def judge_candidates(judge, cands: list[dict]) -> list[dict]:
    """Every pair (i < j) of each prompt's candidates, both orders: {prompt_id, i, j, games}."""
    by_prompt: dict = {}
    for c in cands:
        by_prompt.setdefault(c["prompt_id"], {})[c["sample_idx"]] = c
    asked = [(pid, i, j) for pid, mine in by_prompt.items() for i, j in itertools.combinations(sorted(mine), 2)]
    games = judge.judge_pairs([by_prompt[p][i]["prompt"] for p, i, _ in asked],
                              [by_prompt[p][i]["text"] for p, i, _ in asked],
                              [by_prompt[p][j]["text"] for p, _, j in asked])
    return [{"prompt_id": p, "i": i, "j": j, "games": list(g)} for (p, i, j), g in zip(asked, games)]


def round_robin_wins(cands: list[dict], decisions: list[dict]) -> list[float]:
    """Each candidate's wins over all others of its prompt (a tie counts 1/2)."""
    wins = {(c["prompt_id"], c["sample_idx"]): 0.0 for c in cands}
    for d in decisions:
        w = game_value(d["games"])
        wins[(d["prompt_id"], d["i"])] += w
        wins[(d["prompt_id"], d["j"])] += 1.0 - w
    return [wins[(c["prompt_id"], c["sample_idx"])] for c in cands]


def distinct(prompts: list[str], texts: list[str]) -> tuple[list[int], np.ndarray]:
    """The first candidate of each distinct (prompt, text), and for every candidate the position of
    its own among those. A pool sampled at temperature 1 repeats answers (57% of the quickstart's
    are distinct): a copy gets its original's score, so identical answers also tie exactly."""
    seen: dict[tuple[str, str], int] = {}
    first, inverse = [], []
    for i, pair in enumerate(zip(prompts, texts)):
        if pair not in seen:
            seen[pair] = len(first)
            first.append(i)
        inverse.append(seen[pair])
    return first, np.array(inverse, np.int64)


def score_distinct(scorer, prompts: list[str], texts: list[str], **kwargs) -> tuple[list[float], int, int]:
    """(every candidate's score, how many distinct inputs were scored, how many candidates were cut
    to the RM's max_length: counted per candidate where the scorer says which inputs it cut, per
    distinct input where it cannot, as a sharded or remote scorer)."""
    first, inverse = distinct(prompts, texts)
    since, before = len(getattr(scorer, "cut", [])), scorer.truncated
    once = np.asarray(scorer.score([prompts[i] for i in first], [texts[i] for i in first], **kwargs), float)
    cut = getattr(scorer, "cut", None)
    truncated = (int(np.asarray(cut[since:], bool)[inverse].sum()) if cut is not None
                 else scorer.truncated - before)
    return once[inverse].tolist(), len(first), truncated


def run(ctx) -> dict:
    cands = store.read_jsonl(CandidateSet.from_outputs(ctx.out("candidates")).candidates)
    ray = from_params(RayShardConfig, ctx.params["ray"])
    rm = ctx.out("rm")["name"]
    seed = {"rm_seed": ctx.out("rm").get("train_seed")}
    if TrainedRM.from_outputs(ctx.out("rm")).pairwise:
        return run_pairwise(ctx, load_scorer(ctx.inputs["rm"]), cands, rm) | seed
    scorer = build_scorer(ctx, ray)
    with ctx.bar(f"scoring {len(cands)} candidates", 1) as update, judge_progress(scorer, ctx.bar, "best-of-n"):
        prompts, texts = [c["prompt"] for c in cands], [c["text"] for c in cands]
        kwargs = {"progress": lambda d, t: update(d / t)} if ray.enabled else {}
        scores, scored, truncated = score_distinct(scorer, prompts, texts, **kwargs)
        update(1)
    rows = [{"prompt_id": c["prompt_id"], "sample_idx": c["sample_idx"], "rm": rm, "score": s}
            for c, s in zip(cands, scores)]
    store.write_jsonl(ctx.dir / "scores.jsonl", rows)
    return {"scores": str(ctx.dir / "scores.jsonl"), "rm": rm, "n": len(rows), "scored": scored, "truncated": truncated,
            "shard_attempts": getattr(scorer, "attempts", None), "judge": judge_report(scorer)} | seed


def run_pairwise(ctx, judge, cands: list[dict], rm: str) -> dict:
    with ctx.bar(f"judging all pairs of {len(cands)} candidates", 1) as update, \
            judge_progress(judge, ctx.bar, "best-of-n"):
        decisions = judge_candidates(judge, cands)
        update(1)
    store.write_jsonl(ctx.dir / "decisions.jsonl", [d | {"rm": rm} for d in decisions])
    rows = [{"prompt_id": c["prompt_id"], "sample_idx": c["sample_idx"], "rm": rm, "score": s}
            for c, s in zip(cands, round_robin_wins(cands, decisions))]
    store.write_jsonl(ctx.dir / "scores.jsonl", rows)
    return {"scores": str(ctx.dir / "scores.jsonl"), "decisions": str(ctx.dir / "decisions.jsonl"), "rm": rm,
            "n": len(rows), "pairs": len(decisions), "truncated": 0, "shard_attempts": None,
            "judge": judge_report(judge)}
