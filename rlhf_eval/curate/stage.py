"""curate stage: load every source, check rows, dedup, decontaminate; write the curated pairs
and a funnel that counts what each step dropped, by reason and source."""
from __future__ import annotations

from collections import Counter

from rlhf_eval import store
from rlhf_eval.bench.registry import benchmark_prompts
from rlhf_eval.curate import steps
from rlhf_eval.data.pairs import load_pairs
from rlhf_eval.toy.stage import resolve


def source_list(params: dict, toy: dict | None) -> list[dict]:
    """The recipe's sources, or every toy source when the recipe names none."""
    if params["sources"]:
        return params["sources"]
    if toy is None:
        raise ValueError("the recipe names no sources and has no toy world")
    return [{"name": name, "path": f"toy:{name}"} for name in toy["sources"]]


def load_all(sources: list[dict], toy: dict | None, on_bad_row: str, funnel: list) -> list[dict]:
    pairs = []
    for src in sources:
        dropped: dict[str, int] = {}
        rows = load_pairs(resolve(src["path"], toy, "source"), src["name"], on_bad_row, dropped)
        pairs.extend(rows)
        for reason, count in dropped.items():
            funnel.append({"step": "schema", "reason": reason, "source": src["name"], "dropped": count})
    return pairs


def _record(funnel: list, step: str, dropped: list[dict]) -> None:
    for (reason, source), count in sorted(Counter((d["reason"], d["source"]) for d in dropped).items()):
        funnel.append({"step": step, "reason": reason, "source": source, "dropped": count})


def run(ctx) -> dict:
    cfg = ctx.params["curate"]
    toy = ctx.out("toy") if ctx.has("toy") else None
    funnel: list[dict] = []
    pairs = load_all(source_list(ctx.params, toy), toy, cfg["on_bad_row"], funnel)
    counts = [{"step": "input", "count": len(pairs), "by_source": steps.by_source(pairs)}]
    removed: list[dict] = []
    if cfg["dedup"]:
        pairs, dropped = steps.exact_dedup(pairs)
        _record(funnel, "dedup", dropped)
        removed += dropped
        counts.append({"step": "dedup", "count": len(pairs), "by_source": steps.by_source(pairs)})
    if cfg["decontaminate"]:
        index = steps.NgramIndex(cfg["ngram"])
        for bench in cfg["benchmarks"]:
            for item_id, prompt in benchmark_prompts(bench, toy):
                index.add(prompt, f"{bench}:{item_id}")
        pairs, dropped = steps.decontaminate(pairs, index)
        _record(funnel, "decontaminate", dropped)
        removed += dropped
        counts.append({"step": "decontaminate", "count": len(pairs), "by_source": steps.by_source(pairs)})
    path = ctx.dir / "curated.jsonl"
    store.write_jsonl(path, pairs)
    store.write_jsonl(ctx.dir / "dropped.jsonl", removed)
    store.atomic_write_json(ctx.dir / "funnel.json", {"counts": counts, "dropped": funnel})
    return {"path": str(path), "n_pairs": len(pairs), "counts": counts, "dropped": funnel,
            "sources": [s["name"] for s in source_list(ctx.params, toy)]}
