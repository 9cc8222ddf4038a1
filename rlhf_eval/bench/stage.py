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
from rlhf_eval.rm.base import CUT_SIDE, load_scorer
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


def truncation(scorer, since: int, items, max_length: int | None) -> dict | None:
    """How many of the items' inputs the scorer cut at max_length (its flags from `since` on), and
    how many items had any input cut; None for a scorer that does not cut here (a remote RM
    cuts on its server; a judge's prompt is never cut)."""
    cut = getattr(scorer, "cut", None)
    if cut is None:
        return None
    flags, at, hit = cut[since:], 0, 0
    for it in items:
        hit += any(flags[at:at + len(it.candidates)])
        at += len(it.candidates)
    return {"inputs": sum(flags[:at]), "of_inputs": at, "items": hit, "of_items": len(items),
            "share": hit / len(items) if items else 0.0, "max_length": max_length, "side": CUT_SIDE}


def truncation_note(t: dict | None) -> str | None:
    """The warning a user must see: truncation changes scores."""
    if not t or not t["items"]:
        return None
    return (f"{t['items']} of {t['of_items']} items ({t['share']:.0%}) had an input longer than the RM's "
            f"max_length={t['max_length']} tokens ({t['inputs']} of {t['of_inputs']} inputs), cut at the start "
            "(the prompt's beginning; the end of the response is kept). Scores of cut items may differ from the "
            "RM's on the whole text: raise the card's max_length if the model allows it")


def score_benchmark(folder, scorer, bench, items, iters: int, probes: list, bar, seed: int = 0,
                    max_length: int | None = None, name: str | None = None) -> dict:
    """Score `items` with `scorer` and write scores.jsonl (or decisions.jsonl), units.jsonl and
    metrics.json into `folder`; the static_bench stage and `rlhf-eval score` share it. bar(label,
    total) is a context manager giving update(done). Returns the metrics (before run details)."""
    pairwise = is_pairwise(scorer)
    if pairwise and bench.judged_outcomes is None:
        raise UserError(f"{name or bench.name}: RM '{scorer.name}' is a pairwise judge, and {bench.name} does not "
                        f"score pairwise judges: {bench.judge_refusal}")
    since = len(getattr(scorer, "cut", []))
    with bar(f"{name or bench.name}: {len(items)} items", 3 + len(probes)) as update, \
            judge_progress(scorer, bar, name or bench.name):
        if pairwise:
            decisions = judged.decide(scorer, bench.judge_pairs, items)
            update(1)
            result = evaluate_judged(bench, items, decisions, iters, seed)
        else:
            scores = score_items(scorer, items)
            update(1)
            result = evaluate(bench, items, scores, iters, seed)
        cut = truncation(scorer, since, items, max_length)
        update(2)
        baseline = probe_mod.length_baseline(bench, items, iters, seed)
        update(3)
        probe_results = []
        for k, p in enumerate(probes, 4):
            if pairwise:
                probe_results.append(probe_mod.run_judged_probe(p, bench, items, decisions, scorer, iters))
            else:
                probe_results.append(probe_mod.run_probe(p, bench, items, scores, scorer.score, iters))
            update(k)
    if pairwise:
        saved = {"decisions": str(folder / "decisions.jsonl")}
        write_decisions(folder / "decisions.jsonl", items, bench.judge_pairs, decisions)
    else:
        saved = {"scores": str(folder / "scores.jsonl")}
        write_scores(folder / "scores.jsonl", items, scores)
    o = result["outcomes"]
    store.write_jsonl(folder / "units.jsonl", [
        {"id": u, "group": g, **{c: (None if v != v else v) for c, v in zip(o.columns, row)}}
        for u, g, row in zip(o.ids, o.groups.tolist(), o.values.tolist())])
    note = truncation_note(cut)
    out = json_safe(result) | {
        "scored_as": bench.name, "n": len(items), "truncated": cut["inputs"] if cut else scorer.truncated,
        "truncation": cut, "length_baseline": baseline, "probes": probe_results, "judge": judge_report(scorer),
        "units": str(folder / "units.jsonl"),
    } | saved
    out["notes"] = out["notes"] + ([note] if note else [])
    return out


def write_metrics(folder, out: dict) -> dict:
    out = json.loads(json.dumps(out, default=str))
    store.atomic_write_json(folder / "metrics.json", out)
    return out


def run(ctx) -> dict:
    toy = ctx.out("toy") if ctx.has("toy") else None
    spec, iters = from_params(BenchmarkConfig, ctx.params["benchmark"]), ctx.params["bootstrap"]
    bench, items, where = load_items(spec.name, toy, spec.scored_as, spec.data, spec.split, spec.columns)
    rm = ctx.inputs["rm"]["outputs"]
    scorer = load_scorer(ctx.inputs["rm"])
    probes = [probe_mod.Probe(**p) for p in ctx.params["probes"]]
    out = score_benchmark(ctx.dir, scorer, bench, items, iters, probes, ctx.bar, max_length=rm["max_length"],
                          name=spec.name)
    return write_metrics(ctx.dir, out | {"benchmark": spec.name, "data": where, "rm": rm["name"],
                                         "rm_seed": rm.get("train_seed")})
