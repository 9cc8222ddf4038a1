"""RM scoring with transformers (rm.SCORERS["transformers"]): classifier RMs and implicit (DPO) RMs
behind one `score` call.

Inputs are sorted by token length and cut into batches, so a batch pads only to its own
longest row, never to a global maximum; scores come back in the caller's order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rlhf_eval.device import torch_device
from rlhf_eval.rm.base import Encoded, TrainedRM, encode, encode_texts, length_batches, load_tokenizer
from rlhf_eval.rm.padding import pad


def in_length_batches(enc: Encoded, batch_size: int, pad_id: int, score_batch) -> list[float]:
    """One score per encoded row, in the caller's order: rows of similar length are padded and
    scored together by `score_batch(rows, ids, mask) -> scores` (both scorers' loop)."""
    out = [0.0] * len(enc.ids)
    for batch in length_batches([len(x) for x in enc.ids], batch_size):
        ids, mask = pad([enc.ids[i] for i in batch], pad_id)
        for i, v in zip(batch, score_batch(batch, ids, mask)):
            out[i] = v
    return out


@dataclass
class ClassifierScorer:
    path: str
    batch_size: int = 64
    max_length: int = 256
    chat_template: str | None = None
    # Only where the RM card opts in.
    trust_remote_code: bool = False
    truncated: int = field(default=0, init=False)
    cut: list[bool] = field(default_factory=list, init=False)

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
        self.cut += enc.cut

        def rewards(batch, ids, mask):
            return self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits[:, 0].tolist()
        return in_length_batches(enc, self.batch_size, self.tok.pad_token_id, rewards)


def sequence_logprobs(model, ids: torch.Tensor, mask: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
    return (logp * resp[:, 1:]).sum(-1)


@dataclass
class ImplicitScorer:
    """reward = beta * (log pi(y|x) - log pi_ref(y|x)) over the response tokens. The reference's
    log-probs are read from and added to the shared cache (reference_logprobs.py) unless
    `share_reference` is False."""
    path: str
    reference: str
    beta: float = 0.1
    batch_size: int = 64
    max_length: int = 256
    chat_template: str | None = None
    trust_remote_code: bool = False
    share_reference: bool = True
    truncated: int = field(default=0, init=False)
    cut: list[bool] = field(default_factory=list, init=False)

    def __post_init__(self):
        from transformers import AutoModelForCausalLM

        from rlhf_eval.rm.reference_logprobs import open_for
        self.tok = load_tokenizer(self.path, self.trust_remote_code, self.chat_template)
        kw = dict(use_safetensors=True, trust_remote_code=self.trust_remote_code)
        self.device = torch_device()
        self.model = AutoModelForCausalLM.from_pretrained(self.path, **kw).eval().to(self.device)
        self.ref = AutoModelForCausalLM.from_pretrained(self.reference, **kw).eval().to(self.device)
        self.ref_cache = open_for(self.reference, str(self.ref.dtype).removeprefix("torch.")) \
            if self.share_reference else None

    def score(self, prompts: list[str], responses: list[str]) -> list[float]:
        return self._score(encode(self.tok, prompts, responses, self.max_length))

    def score_texts(self, queries: list[str], prompts: list[str]) -> list[float]:
        return self._score(encode_texts(self.tok, queries, prompts, self.max_length))

    def _logprobs(self, model, enc: Encoded, batch: list[int]) -> list[float]:
        """Summed response log-probs of one batch of rows of `enc` under `model`."""
        ids, mask = pad([enc.ids[i] for i in batch], self.tok.pad_token_id)
        resp, _ = pad([enc.response_masks[i] for i in batch], 0)
        return sequence_logprobs(model, ids.to(self.device), mask.to(self.device), resp.to(self.device)).tolist()

    def _reference(self, enc: Encoded, batch: list[int]) -> list[float]:
        """The reference's log-probs of a batch: from the shared cache when this very batch was
        computed before (reference_logprobs.py), else computed and added to it."""
        if self.ref_cache is None:
            return self._logprobs(self.ref, enc, batch)
        from rlhf_eval.rm.reference_logprobs import batch_keys
        keys = batch_keys([enc.ids[i] for i in batch], [enc.response_masks[i] for i in batch])
        known = self.ref_cache.get(keys)
        if len(known) == len(keys):
            self.ref_cache.hits += len(keys)
            return [known[k] for k in keys]
        values = self._logprobs(self.ref, enc, batch)
        self.ref_cache.put(dict(zip(keys, values)))
        self.ref_cache.misses += len(keys)
        return values

    @torch.no_grad()
    def _score(self, enc: Encoded) -> list[float]:
        self.truncated += enc.truncated
        self.cut += enc.cut
        out = [0.0] * len(enc.ids)
        for batch in length_batches([len(x) for x in enc.ids], self.batch_size):
            # float32, as the log-probs came: the same floats whether the reference's were cached
            diff = torch.tensor(self._logprobs(self.model, enc, batch)) - torch.tensor(self._reference(enc, batch))
            for i, v in zip(batch, (self.beta * diff).tolist()):
                out[i] = v
        return out


def load(rm: TrainedRM):
    """rm.SCORERS["transformers"]."""
    common = {"batch_size": rm.batch_size, "trust_remote_code": rm.trust_remote_code,
              "max_length": rm.max_length, "chat_template": rm.chat_template}
    if rm.kind == "classifier":
        return ClassifierScorer(rm.path, **common)
    if rm.kind == "generative":
        from rlhf_eval.rm.judge_transformers import load as load_judge
        return load_judge(rm)
    return ImplicitScorer(rm.path, rm.reference, beta=rm.beta, **common)
