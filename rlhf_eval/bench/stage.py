"""static_bench stage: score every candidate of every item with the RM once, then the
benchmark's official metrics, PPE metrics, the length baseline and the perturbation probes,
each with bootstrap CIs. scores.jsonl is in `rlhf-eval bench score`'s saved-scores format.

A pairwise judge is asked the benchmark's pairs in both orders instead (rlhf_eval.bench.judged);
its decisions.jsonl holds them, with JudgeBench's `--decisions` field on every row."""
from __future__ import annotations

import json

from rlhf_eval import store
from rlhf_eval.bench import judged
from rlhf_eval.bench import probes as probe_mod
from rlhf_eval.bench.evaluate import evaluate, evaluate_judged, json_safe
from rlhf_eval.bench.loading import load_items
from rlhf_eval.bench.saved import write_decisions, write_scores
from rlhf_eval.config import BenchmarkConfig, from_params
from rlhf_eval.errors import UserError
from rlhf_eval.rm.base import load_scorer
from rlhf_eval.rm.judge import is_pairwise, judge_progress, judge_report


def score_items(scorer, items) -> list[list[float]]:
    """All candidates of all items in one length-bucketed pass, split back per item."""
    prompts = [it.prompt for it in items for _ in it.candidates]
    texts = [c for it in items for c in it.candidates]
    flat = scorer.score(prompts, texts)
    out, at = [], 0
    for it in items:
        out.append(flat[at:at + len(it.candidates)])
        at += len(it.candidates)
    return out


def run(ctx) -> dict:
    toy = ctx.out("toy") if ctx.has("toy") else None
    spec, iters = from_params(BenchmarkConfig, ctx.params["benchmark"]), ctx.params["bootstrap"]
    bench, items, where = load_items(spec.name, toy, spec.scored_as, spec.data, spec.split, spec.columns)
    scorer = load_scorer(ctx.inputs["rm"])
    pairwise = is_pairwise(scorer)
    if pairwise and bench.judged_outcomes is None:
        raise UserError(f"{spec.name}: RM '{scorer.name}' is a pairwise judge, and {bench.name} does not score "
                        f"pairwise judges: {bench.judge_refusal}")
    probes = [probe_mod.Probe(**p) for p in ctx.params["probes"]]
    with ctx.bar(f"{spec.name}: {len(items)} items", 3 + len(probes)) as update, \
            judge_progress(scorer, ctx, spec.name):
        if pairwise:
            decisions = judged.decide(scorer, bench.judge_pairs, items)
            update(1)
            result = evaluate_judged(bench, items, decisions, iters)
        else:
            scores = score_items(scorer, items)
            update(1)
            result = evaluate(bench, items, scores, iters)
        truncated = scorer.truncated
        update(2)
        baseline = probe_mod.length_baseline(bench, items, iters)
        update(3)
        probe_results = []
        for k, p in enumerate(probes, 4):
            if pairwise:
                probe_results.append(probe_mod.run_judged_probe(p, bench, items, decisions, scorer, iters))
            else:
                probe_results.append(probe_mod.run_probe(p, bench, items, scores, scorer.score, iters))
            update(k)
    if pairwise:
        saved = {"decisions": str(ctx.dir / "decisions.jsonl")}
        write_decisions(ctx.dir / "decisions.jsonl", items, bench.judge_pairs, decisions)
    else:
        saved = {"scores": str(ctx.dir / "scores.jsonl")}
        write_scores(ctx.dir / "scores.jsonl", items, scores)
    o = result["outcomes"]
    store.write_jsonl(ctx.dir / "units.jsonl", [
        {"id": u, "group": g, **{c: (None if v != v else v) for c, v in zip(o.columns, row)}}
        for u, g, row in zip(o.ids, o.groups.tolist(), o.values.tolist())])
    out = json_safe(result) | {
        "benchmark": spec.name, "scored_as": bench.name, "data": where,
        "rm": ctx.inputs["rm"]["outputs"]["name"], "rm_seed": ctx.inputs["rm"]["outputs"].get("train_seed"),
        "n": len(items), "truncated": truncated,
        "length_baseline": baseline, "probes": probe_results, "judge": judge_report(scorer),
        "units": str(ctx.dir / "units.jsonl"),
    } | saved
    store.atomic_write_json(ctx.dir / "metrics.json", json.loads(json.dumps(out, default=str)))
    return out
