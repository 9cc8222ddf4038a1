"""The compare stage's wiring: one node over the results of every stage that declares a
`result` (static scores, downstream gains), whatever stages are registered."""
from __future__ import annotations

from rlhf_eval.stages import Stage, no_gpu

NAME = "compare"
# 3: population CI over RMs only, reliabilities, disattenuated correlations, RL seeds;
# 4: static rows name the benchmark whose rules scored them, seven-benchmark summary;
# 5: rm_column_info (how the terminal names columns), benchmark_ranking (paired Spearman differences).
COMPARE_FORMAT = 5


def comparison(plan):
    from rlhf_eval.pipeline import plain

    r = plan.recipe
    deps = {f"in{i:03d}": n for i, n in enumerate(plan.results())}
    params = {"compare": plain(r.compare), "recipe": r.name, "format": COMPARE_FORMAT}
    if plan.gaps:  # (only then, so that other recipes' compare keys stay as they were)
        params["not_planned"] = [{"rm": rm, "what": what, "why": why} for (rm, what), why in plan.gaps.items()]
    return plan.add(NAME, "compare", params, deps)


def seeds(config: dict) -> dict:
    return {"compare": config["recipe"]["compare"]["seed"]}


STAGE = Stage(NAME, "rlhf_eval.compare.stage:run", provides={"comparison": comparison}, section=NAME,
              cost=no_gpu, seeds=seeds)
