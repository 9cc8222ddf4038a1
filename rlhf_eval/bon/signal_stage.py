"""bon_signal stage: what an RM gives RL to work with, read from its scores of the policy's own
best-of-n candidates (bon_score), with no new model call. Per prompt:

- spread: the SD of the RM's rewards over the prompt's candidates, divided by their SD over all
  candidates of the task (an RM whose rewards barely move within a prompt gives GRPO-style
  advantages little to work with, whatever its accuracy);
- tie: 1 when every candidate of the prompt gets the same reward;
- accuracy: over the prompt's candidate pairs whose gold values differ, the share the RM orders
  like the gold metric (a tie counts 1/2); no such pair: no value.

Each is a static-like metric of its own in compare (side "on-policy"). Accuracy and best-of-n
gains use the same candidates, so their correlation is partly circular: compare leaves on-policy
metrics against best-of-n gains out of the verdict table (they stay in the heatmap) and gives
their verdicts against the RL gain."""
from __future__ import annotations

import itertools

import numpy as np

from rlhf_eval import store
from rlhf_eval.bon.artifacts import CandidateSet, ScoreSet, matrices

TIE = 1e-9  # rewards closer than this (relative to the task's reward SD) are a tie


def signals(S: np.ndarray, G: np.ndarray) -> dict[str, np.ndarray]:
    """Per-prompt spread, tie and accuracy from scores S and gold values G (prompts x candidates)."""
    sd_all = float(np.std(S))
    scale = sd_all if sd_all > 0 else 1.0
    within = np.std(S, axis=1)
    spread = within / sd_all if sd_all > 0 else np.zeros(len(S))
    tie = (np.ptp(S, axis=1) <= TIE * scale).astype(float)
    accuracy = np.full(len(S), np.nan)
    for p in range(len(S)):
        hits = []
        for i, j in itertools.combinations(range(S.shape[1]), 2):
            if G[p, i] != G[p, j]:
                ds, dg = S[p, i] - S[p, j], G[p, i] - G[p, j]
                hits.append(0.5 if abs(ds) <= TIE * scale else float(np.sign(ds) == np.sign(dg)))
        if hits:
            accuracy[p] = float(np.mean(hits))
    return {"spread": spread, "tie": tie, "accuracy": accuracy}


def run(ctx) -> dict:
    cand = CandidateSet.from_outputs(ctx.out("candidates"))
    sc = ScoreSet.from_outputs(ctx.out("scores"))
    pids, S, G = matrices(cand, sc.scores)
    found = signals(S, G)
    rows = [{"prompt_id": pid} | {k: (None if np.isnan(v[i]) else float(v[i])) for k, v in found.items()}
            for i, pid in enumerate(pids)]
    store.write_jsonl(ctx.dir / "per_prompt.jsonl", rows)
    return {"rm": sc.rm, "rm_seed": sc.rm_seed, "policy": cand.policy, "task": cand.task, "n_prompts": len(pids),
            "n_max": cand.n_max,
            "means": {k: (None if np.all(np.isnan(v)) else float(np.nanmean(v))) for k, v in found.items()},
            "per_prompt": str(ctx.dir / "per_prompt.jsonl")}
