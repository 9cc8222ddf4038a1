"""The static_bench stage's wiring: one node per (RM, benchmark), scored by the benchmark's
official rules; its scores are the static side of compare."""
from __future__ import annotations

from dataclasses import asdict

from rlhf_eval.stages import Result, Stage

NAME = "static_bench"


def expand(plan) -> None:
    from rlhf_eval.bench import TOY
    from rlhf_eval.rm.wiring import seed_label

    r = plan.recipe.static_bench
    for name, by_seed in plan.need("rm_seeds").items():
        for seed, rm in by_seed.items():
            for bench in r.benchmarks:
                if (name, bench.name) not in plan.gaps:
                    params = {"benchmark": asdict(bench), "bootstrap": r.bootstrap,
                              "probes": [asdict(p) for p in r.probes]}
                    toy = plan.need("toy") if bench.data is None and bench.name in TOY else None
                    plan.add(NAME, f"{seed_label(name, seed, by_seed)} bench={bench.name}", params,
                             {"rm": rm, "toy": toy})


def shorthand(section: dict) -> dict:
    """`benchmarks: [toy_rewardbench2, ...]`: a bare name is {name: ...}."""
    benches = section.get("benchmarks")
    if isinstance(benches, list):
        section = section | {"benchmarks": [{"name": b} if isinstance(b, str) else b for b in benches]}
    return section


def check(recipe, rms: dict) -> list[str]:
    """The first problem of static_bench's benchmarks and probes, if any."""
    from rlhf_eval.bench import benchmark_for

    names = [b.name for b in recipe.static_bench.benchmarks]
    for b in recipe.static_bench.benchmarks:
        try:
            bench = benchmark_for(b.name, b.scored_as)
        except ValueError as exc:
            return [f"static_bench.benchmarks: {exc}"]
        if b.columns and not bench.takes_columns:
            return [f"static_bench.benchmarks '{b.name}': columns apply to pairwise and best-of-k only; other "
                    "benchmarks read their published schema"]
        if names.count(b.name) > 1:
            return [f"static_bench.benchmarks names '{b.name}' twice"]
    for p in recipe.static_bench.probes:
        if p.name == "strip_marker" and not p.marker:
            return ["static_bench.probes: strip_marker needs `marker`, the text to remove"]
        if not 0 < p.keep < 1:
            return [f"static_bench.probes: keep={p.keep} must be within (0, 1)"]
    return []


def gaps(loaded, name: str, card) -> dict:
    """A pairwise judge scores only benchmarks with a pairwise protocol."""
    from rlhf_eval.bench import benchmark_for

    if card.kind != "generative" or card.judge.mode != "pairwise":
        return {}
    out = {}
    for b in loaded.recipe.static_bench.benchmarks:
        bench = benchmark_for(b.name, b.scored_as)
        if bench.judged_outcomes is None:
            out[b.name] = f"a pairwise judge on {bench.name}: {bench.judge_refusal}"
    return out


def settings(nodes: list, by_id: dict) -> dict:
    """A benchmark's settings (rules, columns, ...) must match for its scores to be compared."""
    benches = [n.params["benchmark"] for n in nodes]
    return {f"benchmark {b['name']}": {k: v for k, v in b.items() if k != "name"} for b in benches}


def cost(node, c):
    """One forward pass over every response of the benchmark (its size from cost.benchmark_responses,
    else from the registered benchmark; unknown: said, left out of the totals)."""
    from rlhf_eval.bench import benchmark_for
    from rlhf_eval.launch.cost import Estimate

    p = c.rm_params(c.nodes[node.deps["rm"]])
    b = node.params["benchmark"]
    responses = c.cost["benchmark_responses"].get(b["name"]) or benchmark_for(b["name"], b["scored_as"]).responses
    if responses is None:
        return Estimate(node.stage, node.label, None,
                        f"size of '{b['name']}' unknown: set cost.benchmark_responses.{b['name']}")
    return Estimate(node.stage, node.label, c.hours(2 * p * responses * c.seq, c.cost["infer_tflops"]),
                    f"{p / 1e9:g}B x {responses} responses")


def provenance(manifest: dict) -> dict | None:
    from pathlib import Path

    from rlhf_eval import store

    out = manifest["outputs"]
    if not Path(out["units"]).is_file():
        return None
    ids = sorted(r["id"] for r in store.read_jsonl(out["units"]))
    return {"what": f"benchmark {out['benchmark']} (rm={out['rm']})", "fingerprint": store.fingerprint(ids),
            "detail": f"{len(ids)} scored units, sha256 of their ids"}


STAGE = Stage(NAME, "rlhf_eval.bench.stage:run",
              artifact="rlhf_eval.bench.base:BenchmarkScores.from_outputs",
              expand=expand, section=NAME, shorthand=shorthand, check=check,
              gaps=gaps,
              result=Result(side="static", tables="rlhf_eval.compare.tables:static_tables",
                            sources="rlhf_eval.compare.sources:static_sources", settings=settings),
              cost=cost, provenance=provenance)
