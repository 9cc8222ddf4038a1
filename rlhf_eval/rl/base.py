"""What the rl_train stage hands an engine (a leaf: engines import it, it imports none of them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol


@dataclass(frozen=True)
class RLJob:
    """One RL run: the recipe's rl settings (with this node's seed), the policy to start from, the
    prompts with their labels ({prompt, label}), and, on the toy task, a checker of answers that
    is logged as the gold reward (never trained on)."""
    rl: dict
    policy_path: str
    rows: list
    verify: Optional[Callable[[str, str], bool]] = None


class Engine(Protocol):
    def __call__(self, ctx, job: RLJob, progress: Callable[[int], None]) -> dict:
        """Train; call progress(step) as steps finish; return the node's outputs: `path` (the
        final model), `checkpoints` ([{step, path}], the final one last) and `history`."""
