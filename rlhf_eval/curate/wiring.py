"""The curate stage's wiring: one node that turns the recipe's sources into the curated mix."""
from __future__ import annotations

from pathlib import Path

from rlhf_eval.stages import Stage

NAME = "curate"
# 2: dataset/ in TRL's conversational format, no all-None margin column; 3: decontamination
# compares normalised words (NFKC, no format characters, look-alikes folded, punctuation split)
CURATE_FORMAT = 3


def sources(plan) -> list[dict]:
    from rlhf_eval.pipeline import plain

    return [plain(s) for s in plan.recipe.sources]


def curated(plan):
    from rlhf_eval.pipeline import plain

    return plan.add(NAME, "curated mix", {"sources": sources(plan), "curate": plain(plan.recipe.curate),
                                          "format": CURATE_FORMAT},
                    {"toy": plan.need("toy"), "judge": plan.need("judge")})


def cost(node, c):
    """The judge's forward passes over both responses of every pair (cost.train_pairs of them:
    the pool is known only after download); without a judge, CPU work only."""
    from rlhf_eval.launch.cost import Estimate

    if "judge" not in node.deps:
        return None
    p, pairs = c.rm_params(c.nodes[node.deps["judge"]]), c.cost["train_pairs"]
    return Estimate(node.stage, node.label, c.hours(2 * p * pairs * 2 * c.seq, c.cost["infer_tflops"]),
                    f"judge {p / 1e9:g}B x {pairs} pairs x 2 responses")


def funnel(outputs: dict) -> dict:
    return {k: outputs[k] for k in ("counts", "dropped", "events")}


def provenance(manifest: dict) -> dict | None:
    from rlhf_eval import store

    out = manifest["outputs"]
    path = Path(out["path"])
    if path.is_dir():  # the Ray engine's shards: a digest of theirs, in name order
        shards = sorted(path.glob("*.jsonl"))
        return {"what": "curated preference pairs",
                "fingerprint": store.fingerprint({s.name: store.fingerprint_file(s) for s in shards}),
                "detail": f"{out['n_pairs']} pairs, sha256 of the {len(shards)} shards in {path.name}/"}
    if not path.is_file():
        return None
    return {"what": "curated preference pairs", "fingerprint": store.fingerprint_file(path),
            "detail": f"{out['n_pairs']} pairs, sha256 of {path.name}"}


STAGE = Stage(NAME, "rlhf_eval.curate.stage:run", provides={"curated": curated}, section=NAME,
              # how, not what: the output is the same on either engine and any thread count (tested)
              key_ignores=("curate.engine", "curate.threads", "curate.ray_blocks", "curate.ray_chunk_mb"),
              funnel=funnel, cost=cost, provenance=provenance)
