"""The stages of the pipeline, registered by name (a leaf: the config checks names against it, the
pipeline plans and runs through it, and neither imports a stage's code to do so)."""
from __future__ import annotations

from rlhf_eval.registry import Registry

STAGES = Registry("stage", {
    "toy_world": "rlhf_eval.toy.stage:run",
    "curate": "rlhf_eval.curate.stage:run",
    "train_rm": "rlhf_eval.rm.stage:run",
    "static_bench": "rlhf_eval.bench.stage:run",
    "bon_generate": "rlhf_eval.bon.generate_stage:run",
    "bon_score": "rlhf_eval.bon.score_stage:run",
    "bon_eval": "rlhf_eval.bon.eval_stage:run",
    "rl_train": "rlhf_eval.rl.stage:run",
    "policy_eval": "rlhf_eval.evals.stage:run",
    "compare": "rlhf_eval.compare.stage:run",
    "report": "rlhf_eval.report.stage:run",
})
