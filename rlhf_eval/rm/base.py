"""What every RM scorer shares (a leaf: scorer backends import it, it imports none of them): the
Scorer protocol, how inputs are chat-formatted, truncated and length-batched, and `load_scorer`,
which builds the scorer a train_rm node's outputs describe through the rm.SCORERS registry.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Protocol

from rlhf_eval.data.pairs import prompt_messages
from rlhf_eval.errors import UserError


class Scorer(Protocol):
    """A scorer that cuts long inputs itself also keeps `truncated` (how many it cut) and `cut`
    (one flag per input scored, in order); one that cannot tell (a remote RM) has no `cut`."""
    def score(self, prompts: list[str], responses: list[str]) -> list[float]: ...

    def score_texts(self, queries: list[str], prompts: list[str]) -> list[float]:
        """Score already-formatted text as sent (OpenRLHF's remote-RM `query`); `prompts` are the
        formatted prompts, which tell an implicit RM where each response begins."""


def chat_pair(prompt, response: str) -> list[dict]:
    """prompt: a user turn, or chat messages ending with one."""
    return prompt_messages(prompt) + [{"role": "assistant", "content": response}]


def length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


@dataclass
class Encoded:
    ids: list[list[int]]
    response_masks: list[list[int]]
    cut: list[bool]  # per row: longer than max_length, so its start was cut

    @property
    def truncated(self) -> int:
        return sum(self.cut)


# What `_keep_end` cuts, as reports say it.
CUT_SIDE = "start: the first tokens (the prompt's beginning) are dropped, the end of the response is kept"


def _keep_end(rows: list[tuple[list[int], list[int]]], max_length: int) -> Encoded:
    """Longer rows keep their last max_length tokens: the classifier reads its score at the last token."""
    ids, masks, cut = [], [], []
    for x, m in rows:
        cut.append(len(x) > max_length)
        if cut[-1]:
            x, m = x[-max_length:], m[-max_length:]
        ids.append(x)
        masks.append(m)
    return Encoded(ids, masks, cut)


def encode(tok, prompts, responses, max_length: int, response_mask: bool = True) -> Encoded:
    """response_mask needs {% generation %} tags in the chat template (implicit RMs only)."""
    if not prompts:
        return Encoded([], [], [])
    # One call for the batch: the same ids as a call per row, and half the time with the masks.
    enc = tok.apply_chat_template([chat_pair(p, r) for p, r in zip(prompts, responses)], return_dict=True,
                                  return_assistant_tokens_mask=response_mask)
    masks = enc["assistant_masks"] if response_mask else [[] for _ in enc["input_ids"]]
    return _keep_end([(list(x), list(m)) for x, m in zip(enc["input_ids"], masks)], max_length)


def encode_texts(tok, queries: list[str], prompts: list[str], max_length: int) -> Encoded:
    """Formatted text tokenized as sent, without adding special tokens (as OpenRLHF's own RM
    server does). A response starts where the query's tokens stop matching its prompt's: a
    client that decodes ids may change spacing at the seam, which this survives."""
    rows = []
    for q, p in zip(queries, prompts):
        x = tok(q, add_special_tokens=False)["input_ids"]
        start = len(os.path.commonprefix([x, tok(p, add_special_tokens=False)["input_ids"]])) if p else 0
        rows.append((x, [0] * start + [1] * (len(x) - start)))
    return _keep_end(rows, max_length)


def load_tokenizer(path, trust_remote_code: bool = False, chat_template: str | None = None):
    """The RM's tokenizer; `chat_template` (a jinja file or an inline template) replaces its own."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if chat_template:
        file = Path(chat_template)
        tok.chat_template = file.read_text() if "{" not in chat_template and file.is_file() else chat_template
    if not tok.chat_template:
        raise UserError(f"RM tokenizer at {path} has no chat template; set chat_template in the RM card")
    return tok


@dataclass(frozen=True)
class TrainedRM:
    """An RM as the train_rm stage hands it on: its node's outputs, rebuilt here and nowhere else."""
    name: str
    kind: str  # rm.RM_KINDS
    backend: str  # rm.SCORERS
    batch_size: int
    max_length: int
    path: str | None = None  # the checkpoint; None for a remote RM
    chat_template: str | None = None
    trust_remote_code: bool = False
    reference: str | None = None  # implicit RMs: the reference policy
    beta: float | None = None  # implicit RMs
    url: str | None = None  # remote RMs
    api_key_env: str | None = None  # remote RMs
    engine_args: dict = field(default_factory=dict)  # vllm
    judge: dict | None = None  # generative RMs: the card's JudgeConfig

    @classmethod
    def from_outputs(cls, out: dict) -> TrainedRM:
        values = {f.name: out[f.name] for f in fields(cls) if f.name in out}
        if values.get("engine_args") is None:
            values.pop("engine_args", None)
        return cls(**values)

    @property
    def pairwise(self) -> bool:
        """A pairwise judge: it compares two responses and scores none alone."""
        return (self.judge or {}).get("mode") == "pairwise"


# vLLM takes 0.92 of a GPU's memory by default (LLM's gpu_memory_utilization in 0.29.0). An RM
# that scores inside a training process (the TRL engine) shares the GPU with the policy, its
# reference and optimizer state, so it gets this share unless its card's engine_args set one:
# an 8B RM in bf16 is 16 GB, 0.3 of an 80 GB GPU leaves it about 8 GB of KV cache.
SHARED_GPU_UTILIZATION = 0.3


def load_scorer(rm_manifest: dict, shares_gpu: bool = False) -> Scorer:
    """Build the scorer a train_rm node's manifest describes; its engine is imported only now.
    shares_gpu: the caller trains on the same GPU (see SHARED_GPU_UTILIZATION)."""
    from rlhf_eval.rm import SCORERS, kind_problem
    rm = TrainedRM.from_outputs(rm_manifest["outputs"])
    problem = kind_problem(rm.kind, rm.backend)
    if problem:
        raise UserError(f"RM '{rm.name}': {problem}")
    if shares_gpu and rm.backend == "vllm":
        rm = replace(rm, engine_args={"gpu_memory_utilization": SHARED_GPU_UTILIZATION, **rm.engine_args})
    return SCORERS.load(rm.backend)(rm)
