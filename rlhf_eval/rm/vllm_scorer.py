"""Classifier-RM scoring with vLLM's pooling runner (GPU clusters; `pip install rlhf-eval[vllm]`).
Imported only when an RM card names `backend: vllm`.

Inputs are chat-formatted (or, for text already formatted, tokenized as sent) and truncated by our
own `encode`/`encode_texts` (the same template, truncation rule and count as the transformers
scorer) and handed over as token ids. The classify pooler reads the
last token; `use_activation=False` keeps the raw reward instead of a sigmoid of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rlhf_eval.rm.base import Encoded, TrainedRM, encode, encode_texts, load_tokenizer


@dataclass
class VLLMScorer:
    path: str
    max_length: int = 256
    chat_template: str | None = None
    trust_remote_code: bool = False
    engine_args: dict = field(default_factory=dict)
    truncated: int = field(default=0, init=False)
    cut: list[bool] = field(default_factory=list, init=False)

    def __post_init__(self):
        from vllm import LLM
        self.tok = load_tokenizer(self.path, self.trust_remote_code, self.chat_template)
        self.llm = LLM(model=self.path, runner="pooling", trust_remote_code=self.trust_remote_code,
                       **self.engine_args)

    def score(self, prompts: list, responses: list[str]) -> list[float]:
        return self._score(encode(self.tok, prompts, responses, self.max_length, response_mask=False))

    def score_texts(self, queries: list[str], prompts: list[str]) -> list[float]:
        return self._score(encode_texts(self.tok, queries, prompts, self.max_length))

    def _score(self, enc: Encoded) -> list[float]:
        from vllm.pooling_params import PoolingParams
        self.truncated += enc.truncated
        self.cut += enc.cut
        outputs = self.llm.encode([{"prompt_token_ids": ids} for ids in enc.ids],
                                  pooling_params=PoolingParams(use_activation=False), pooling_task="classify",
                                  use_tqdm=False)
        return [float(o.outputs.data.reshape(-1)[0]) for o in outputs]


def load(rm: TrainedRM):
    """rm.SCORERS["vllm"]: classifier RMs, and generative judges (rm.judge_vllm)."""
    if rm.kind == "generative":
        from rlhf_eval.rm.judge_vllm import load as load_judge
        return load_judge(rm)
    return VLLMScorer(rm.path, max_length=rm.max_length, chat_template=rm.chat_template,
                      trust_remote_code=rm.trust_remote_code, engine_args=rm.engine_args)
