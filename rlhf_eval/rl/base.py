"""What the rl_train stage hands an engine (a leaf: engines import it, it imports none of them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from rlhf_eval.config import RLRun, RLSettings, from_params
from rlhf_eval.errors import UserError


@dataclass(frozen=True)
class RLJob:
    """One RL run: the recipe's rl settings and this node's seed (one of rl.seeds), the policy to
    start from, the prompts with their labels ({prompt, label}), and, on the toy task, a checker
    of answers that is logged as the gold reward (never trained on)."""
    rl: RLSettings  # an RLRun (a node's), or the recipe's RLConfig
    seed: int
    policy_path: str
    rows: list
    verify: Optional[Callable[[str, str], bool]] = None


def rl_run(params: dict) -> RLRun:
    """An rl_train node's `rl` param (rl.wiring.rl_for_seed) as the typed config it was made from."""
    return from_params(RLRun, params)


@dataclass(frozen=True)
class Checkpoint:
    """A policy an RL run saved: its step and HF model folder."""
    step: int
    path: str


def checkpoints(outputs: dict) -> list[Checkpoint]:
    """An rl_train node's checkpoints, the final one last, rebuilt from its outputs here only."""
    return [Checkpoint(int(c["step"]), c["path"]) for c in outputs["checkpoints"]]


def checkpoint_at(outputs: dict, step: int) -> Checkpoint:
    found = [c for c in checkpoints(outputs) if c.step == step]
    if not found:
        raise UserError(f"RL run has no checkpoint at step {step} (has {[c.step for c in checkpoints(outputs)]})")
    return found[0]


class Engine(Protocol):
    def __call__(self, ctx, job: RLJob, progress: Callable[[int], None]) -> dict:
        """Train; call progress(step) as steps finish; return the node's outputs: `path` (the
        final model), `checkpoints` ([{step, path}], the final one last) and `history`."""
