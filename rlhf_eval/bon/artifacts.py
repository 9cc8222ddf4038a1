"""What the best-of-n stages hand each other, rebuilt from their nodes' outputs here only."""
from __future__ import annotations

from dataclasses import dataclass


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

    @classmethod
    def from_outputs(cls, out: dict) -> ScoreSet:
        return cls(out["rm"], out["scores"], out.get("decisions"))
