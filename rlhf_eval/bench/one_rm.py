"""`rlhf-eval score`: one RM card on one benchmark, without a recipe. It loads the card's model
(or the one a run trained for it) and nothing else, scores the benchmark's items as the
static_bench stage does (bench.stage.score_benchmark, the same files and metrics), and adds
where the numbers came from."""
from __future__ import annotations

from pathlib import Path

from rlhf_eval.bench import TOY
from rlhf_eval.bench.loading import load_items
from rlhf_eval.bench.stage import score_benchmark, write_metrics
from rlhf_eval.errors import UserError


def run_toy_world(run: Path | None) -> dict | None:
    """The toy world a run built (the outputs of its node that provides `toy`), or None."""
    if run is None:
        return None
    from rlhf_eval import stages
    from rlhf_eval.pipeline import load_plan, node_done

    node = next((n for n in load_plan(run) if "toy" in stages.stage(n.stage).provides), None)
    manifest = node_done(run, node)[0] if node else None
    return manifest["outputs"] if manifest else None


def score_card(rm_manifest: dict, benchmark: str, out: Path, bar, *, data: str | None = None,
               split: str | None = None, scored_as: str | None = None, columns: dict | None = None,
               run: Path | None = None, bootstrap: int = 1000, seed: int = 0) -> dict:
    """Score the RM `rm_manifest` describes (a train_rm node's manifest) on `benchmark` and write
    scores.jsonl (or decisions.jsonl), units.jsonl and metrics.json into `out`."""
    from rlhf_eval.rm.base import load_scorer

    toy = run_toy_world(run)
    if benchmark in TOY and not data and toy is None:
        raise UserError(f"benchmark '{benchmark}' lives in the toy world: give --run RUN_DIR of a run that built it "
                        "(e.g. runs/quickstart), or its rows with --data FILE")
    bench, items, where = load_items(benchmark, toy, scored_as, data, split, columns)
    rm = rm_manifest["outputs"]
    out.mkdir(parents=True, exist_ok=True)
    metrics = score_benchmark(out, load_scorer(rm_manifest), bench, items, bootstrap, [], bar, seed=seed,
                              max_length=rm["max_length"], name=benchmark)
    return write_metrics(out, metrics | {"benchmark": benchmark, "data": where, "rm": rm["name"],
                                         "rm_seed": rm.get("train_seed"), "bootstrap": bootstrap, "seed": seed,
                                         "run": str(run) if run else None})
