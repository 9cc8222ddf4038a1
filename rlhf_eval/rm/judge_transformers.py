"""Generative judges with transformers (what rm.SCORERS["transformers"] loads for kind generative).

Rows are batched by length and padded on the left, so the next token of every row sits in the
last column. A verdict-token judge reads that column's probabilities and generates nothing;
other parsers read a generated answer (greedy at temperature 0).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from rlhf_eval.config import JudgeConfig
from rlhf_eval.device import torch_device
from rlhf_eval.errors import UserError
from rlhf_eval.gen.base import Settings
from rlhf_eval.gen.transformers_backend import token_ids_only
from rlhf_eval.rm.base import TrainedRM, length_batches, load_tokenizer
from rlhf_eval.rm.judge import GenerativeJudge
from rlhf_eval.rm.padding import pad


def model_identity(path: str) -> str:
    """The model's path and its files' sizes and modification times: retrained weights at the
    same path are a new judge to the judgment cache."""
    folder = Path(path)
    if not folder.is_dir():
        return path  # a hub id
    stats = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file())
    return f"{folder.resolve()}#{hashlib.sha256(repr(stats).encode()).hexdigest()[:12]}"


def conversation_ids(tok, conversations: list) -> list[list[int]]:
    """Chat messages through the chat template; raw text (a completion-style judge) as is."""
    return [list(tok(c, add_special_tokens=False)["input_ids"]) if isinstance(c, str) else
            list(tok.apply_chat_template(c, add_generation_prompt=True, return_dict=True)["input_ids"])
            for c in conversations]


def answer_ids(ids: list[int], eos: int | None, pad: int | None) -> list[int]:
    """A generated answer's tokens as every judge backend counts them (`tokens_out`): up to the
    first EOS, which is not counted, and without padding."""
    if eos is not None and eos in ids:
        ids = ids[:ids.index(eos)]
    return [t for t in ids if t != pad]


def verdict_token_id(tok, token: str, path: str) -> int:
    """The id of a verdict token, which must be one token the judge's tokenizer knows."""
    ids = tok(token, add_special_tokens=False)["input_ids"]
    if len(ids) != 1 or ids[0] == tok.unk_token_id:
        raise UserError(f"judge verdict token {token!r} is {len(ids)} tokens for the judge's tokenizer "
                        f"({path}); judge.yes_token and judge.no_token must each be one known token")
    return ids[0]


@dataclass
class TransformersJudge:
    path: str
    batch_size: int = 16
    chat_template: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self):
        from transformers import AutoModelForCausalLM
        self.tok = load_tokenizer(self.path, self.trust_remote_code, self.chat_template)
        self.device = torch_device()
        self.model = AutoModelForCausalLM.from_pretrained(
            self.path, use_safetensors=True, trust_remote_code=self.trust_remote_code).eval().to(self.device)
        self.model.generation_config = token_ids_only(self.model.generation_config)
        self.model_id = model_identity(self.path)
        self.pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.tok.eos_token_id

    def context_length(self) -> int:
        """Tokens the model attends to (prompt and answer together)."""
        n = getattr(self.model.config, "max_position_embeddings", None)
        return int(n) if n else int(min(self.tok.model_max_length, 1 << 20))

    def prompt_tokens(self, messages: list) -> int:
        return len(self._rows([messages])[0])

    def _rows(self, conversations: list) -> list[list[int]]:
        return conversation_ids(self.tok, conversations)

    @torch.no_grad()
    def next_token_probs(self, conversations: list):
        """Yields (rows' indices, their next-token probabilities over the vocabulary) per batch."""
        rows = self._rows(conversations)
        for batch in length_batches([len(r) for r in rows], self.batch_size):
            ids, mask = pad([rows[i] for i in batch], self.pad, left=True)
            ids, mask = ids.to(self.device), mask.to(self.device)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -1].float()
            yield batch, [len(rows[i]) for i in batch], torch.softmax(logits, dim=-1)

    def top_tokens(self, conversations: list, k: int) -> list[list[tuple[str, float, int]]]:
        """The k likeliest next tokens of each conversation: (token text, log-probability, prompt length)."""
        out: list = [None] * len(conversations)
        for batch, lengths, probs in self.next_token_probs(conversations):
            values, ids = probs.topk(k, dim=-1)
            for i, n, v, t in zip(batch, lengths, values.tolist(), ids.tolist()):
                out[i] = [(self.tok.decode([tid]), math.log(max(p, 1e-45)), n) for p, tid in zip(v, t)]
        return out

    @torch.no_grad()
    def answer(self, conversations: list, sampling: dict,
               verdict_tokens: tuple[str, str] | None = None) -> list[dict]:
        out: list[dict] = [{}] * len(conversations)
        if verdict_tokens:
            wanted = [verdict_token_id(self.tok, t, self.path) for t in verdict_tokens]
            for batch, lengths, probs in self.next_token_probs(conversations):
                for i, n, p in zip(batch, lengths, probs[:, wanted].tolist()):
                    out[i] = {"text": verdict_tokens[0] if p[0] >= p[1] else verdict_tokens[1],
                              "probs": dict(zip(verdict_tokens, p)), "tokens_in": n, "tokens_out": 0}
            return out
        rows = self._rows(conversations)
        for batch in length_batches([len(r) for r in rows], self.batch_size):
            ids, mask = pad([rows[i] for i in batch], self.pad, left=True)
            ids, mask = ids.to(self.device), mask.to(self.device)
            extra = Settings(temperature=sampling["temperature"]).for_transformers()
            gen = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=sampling["max_new_tokens"],
                                      pad_token_id=self.pad, eos_token_id=self.tok.eos_token_id, **extra)
            for i, seq in zip(batch, gen[:, ids.shape[1]:].tolist()):
                seq = answer_ids(seq, self.tok.eos_token_id, self.pad)
                out[i] = {"text": self.tok.decode(seq, skip_special_tokens=True).strip(), "probs": None,
                          "tokens_in": len(rows[i]), "tokens_out": len(seq)}
        return out


def load(rm: TrainedRM) -> GenerativeJudge:
    backend = TransformersJudge(rm.path, rm.batch_size, rm.chat_template, rm.trust_remote_code)
    return GenerativeJudge(rm.name, backend, JudgeConfig(**rm.judge))
