"""What the best-of-n stages hand each other, rebuilt from their nodes' outputs here only."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlhf_eval import store


@dataclass(frozen=True)
class CandidateSet:
    """A bon_generate node's N_max samples per prompt of one policy on one task."""
    policy: str
    policy_path: str  # its tokenizer renders the task's prompts
    task: str
    metric: str  # the task's primary metric, the gold value of every candidate
    n_max: int
    candidates: str  # candidates.jsonl: {prompt_id, sample_idx, prompt, text, ...}
    gold: str  # gold.jsonl: {prompt_id, sample_idx, gold, metric}

    @classmethod
    def from_outputs(cls, out: dict) -> CandidateSet:
        return cls(out["policy"], out["policy_path"], out["task"], out["metric"], out["n_max"], out["candidates"],
                   out["gold"])


@dataclass(frozen=True)
class ScoreSet:
    """A bon_score node's score of every candidate by one RM."""
    rm: str
    scores: str  # scores.jsonl: {prompt_id, sample_idx, rm, score}
    # A pairwise judge's decisions.jsonl: {prompt_id, i, j, games} for every pair i < j.
    decisions: str | None = None
    rm_seed: int | None = None  # the RM's training seed (None: one checkpoint, or made before seeds)

    @classmethod
    def from_outputs(cls, out: dict) -> ScoreSet:
        return cls(out["rm"], out["scores"], out.get("decisions"), out.get("rm_seed"))


def matrices(cand: CandidateSet, scores_path: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Prompt ids, and the RM scores and gold values of every candidate (prompts x N_max)."""
    n_max = cand.n_max
    gold = store.read_jsonl(cand.gold)
    pids = sorted({g["prompt_id"] for g in gold})
    row = {pid: i for i, pid in enumerate(pids)}
    G = np.full((len(pids), n_max), np.nan)
    S = np.full((len(pids), n_max), np.nan)
    for g in gold:
        G[row[g["prompt_id"]], g["sample_idx"]] = g["gold"]
    for s in store.read_jsonl(scores_path):
        if s["prompt_id"] in row:
            S[row[s["prompt_id"]], s["sample_idx"]] = s["score"]
    if np.isnan(G).any() or np.isnan(S).any():
        raise ValueError("candidates, gold values and scores do not cover the same (prompt, sample) grid")
    return pids, S, G
