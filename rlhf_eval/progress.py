"""Training loops report to the node's progress bar (NodeContext.bar) through this callback."""
from __future__ import annotations

from transformers import TrainerCallback


class BarCallback(TrainerCallback):
    """Calls update(step, total steps) after every optimizer step of a transformers Trainer."""

    def __init__(self, update):
        self.update = update

    def on_step_end(self, args, state, control, **kwargs):
        self.update(state.global_step, state.max_steps)
