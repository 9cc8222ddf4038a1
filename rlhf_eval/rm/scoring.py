"""RM scoring with transformers: classifier RMs and implicit (DPO) RMs behind one `score` call.

Inputs are sorted by token length and cut into batches, so a batch pads only to its own
longest row, never to a global maximum; scores come back in the caller's order.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from rlhf_eval.data.pairs import prompt_messages
from rlhf_eval.errors import UserError
from rlhf_eval.gen.base import torch_device


class Scorer(Protocol):
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


def _pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


@dataclass
class Encoded:
    ids: list[list[int]]
    response_masks: list[list[int]]
    truncated: int


def _keep_end(rows: list[tuple[list[int], list[int]]], max_length: int) -> Encoded:
    """Longer rows keep their last max_length tokens: the classifier reads its score at the last token."""
    ids, masks, truncated = [], [], 0
    for x, m in rows:
        if len(x) > max_length:
            x, m, truncated = x[-max_length:], m[-max_length:], truncated + 1
        ids.append(x)
        masks.append(m)
    return Encoded(ids, masks, truncated)


def encode(tok, prompts, responses, max_length: int, response_mask: bool = True) -> Encoded:
    """response_mask needs {% generation %} tags in the chat template (implicit RMs only)."""
    rows = []
    for p, r in zip(prompts, responses):
        enc = tok.apply_chat_template(chat_pair(p, r), return_dict=True, return_assistant_tokens_mask=response_mask)
        rows.append((list(enc["input_ids"]), list(enc["assistant_masks"]) if response_mask else []))
    return _keep_end(rows, max_length)


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


@dataclass
class ClassifierScorer:
    path: str
    batch_size: int = 64
    max_length: int = 256
    chat_template: str | None = None
    # Only where the RM card opts in.
    trust_remote_code: bool = False
    truncated: int = field(default=0, init=False)

    def __post_init__(self):
        from transformers import AutoModelForSequenceClassification
        self.tok = load_tokenizer(self.path, self.trust_remote_code, self.chat_template)
        self.device = torch_device()
        self.model = AutoModelForSequenceClassification.from_pretrained(
            self.path, use_safetensors=True, trust_remote_code=self.trust_remote_code).eval().to(self.device)

    def score(self, prompts: list[str], responses: list[str]) -> list[float]:
        return self._score(encode(self.tok, prompts, responses, self.max_length, response_mask=False))

    def score_texts(self, queries: list[str], prompts: list[str]) -> list[float]:
        return self._score(encode_texts(self.tok, queries, prompts, self.max_length))

    @torch.no_grad()
    def _score(self, enc: Encoded) -> list[float]:
        self.truncated += enc.truncated
        out = [0.0] * len(enc.ids)
        for batch in length_batches([len(x) for x in enc.ids], self.batch_size):
            ids, mask = _pad([enc.ids[i] for i in batch], self.tok.pad_token_id)
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits[:, 0]
            for i, v in zip(batch, logits.tolist()):
                out[i] = v
        return out


def sequence_logprobs(model, ids: torch.Tensor, mask: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
    return (logp * resp[:, 1:]).sum(-1)


@dataclass
class ImplicitScorer:
    """reward = beta * (log pi(y|x) - log pi_ref(y|x)) over the response tokens."""
    path: str
    reference: str
    beta: float = 0.1
    batch_size: int = 64
    max_length: int = 256
    chat_template: str | None = None
    trust_remote_code: bool = False
    truncated: int = field(default=0, init=False)

    def __post_init__(self):
        from transformers import AutoModelForCausalLM
        self.tok = load_tokenizer(self.path, self.trust_remote_code, self.chat_template)
        kw = dict(use_safetensors=True, trust_remote_code=self.trust_remote_code)
        self.device = torch_device()
        self.model = AutoModelForCausalLM.from_pretrained(self.path, **kw).eval().to(self.device)
        self.ref = AutoModelForCausalLM.from_pretrained(self.reference, **kw).eval().to(self.device)

    def score(self, prompts: list[str], responses: list[str]) -> list[float]:
        return self._score(encode(self.tok, prompts, responses, self.max_length))

    def score_texts(self, queries: list[str], prompts: list[str]) -> list[float]:
        return self._score(encode_texts(self.tok, queries, prompts, self.max_length))

    @torch.no_grad()
    def _score(self, enc: Encoded) -> list[float]:
        self.truncated += enc.truncated
        out = [0.0] * len(enc.ids)
        for batch in length_batches([len(x) for x in enc.ids], self.batch_size):
            ids, mask = _pad([enc.ids[i] for i in batch], self.tok.pad_token_id)
            resp, _ = _pad([enc.response_masks[i] for i in batch], 0)
            ids, mask, resp = ids.to(self.device), mask.to(self.device), resp.to(self.device)
            diff = sequence_logprobs(self.model, ids, mask, resp) - sequence_logprobs(self.ref, ids, mask, resp)
            for i, v in zip(batch, (self.beta * diff).tolist()):
                out[i] = v
        return out


def load_scorer(rm_manifest: dict) -> Scorer:
    """Build the scorer a train_rm node's manifest describes; GPU engines load only here."""
    out = rm_manifest["outputs"]
    if out["backend"] == "remote":
        from rlhf_eval.rm.remote import RemoteScorer
        return RemoteScorer(out["url"], api_key_env=out["api_key_env"], batch_size=out["batch_size"])
    if out["backend"] == "vllm":
        if out["kind"] != "classifier":
            raise UserError(f"RM '{out['name']}': the vllm backend scores classifier RMs only")
        from rlhf_eval.rm.vllm_scorer import VLLMScorer
        return VLLMScorer(out["path"], max_length=out["max_length"], chat_template=out["chat_template"],
                          trust_remote_code=out["trust_remote_code"], engine_args=out["engine_args"])
    common = {"batch_size": out["batch_size"], "trust_remote_code": out["trust_remote_code"],
              "max_length": out["max_length"], "chat_template": out["chat_template"]}
    if out["kind"] == "classifier":
        return ClassifierScorer(out["path"], **common)
    return ImplicitScorer(out["path"], out["reference"], beta=out["beta"], **common)
