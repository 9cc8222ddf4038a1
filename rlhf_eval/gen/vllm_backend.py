"""Sampling with vLLM (GPU clusters; `pip install rlhf-eval[vllm]`). Imported only when a policy
card names `backend: vllm`.

All N samples of a prompt come from one request (`SamplingParams(n=N)`), and every request has
its own seed derived from (seed, block, prompt), so candidates do not depend on batching,
sharding or how many other prompts share the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rlhf_eval.gen.base import derive_seed


@dataclass
class VLLMSampler:
    path: str
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    trust_remote_code: bool = False
    # Passed to vllm.LLM as is: tensor_parallel_size, gpu_memory_utilization, max_model_len, dtype...
    engine_args: dict = field(default_factory=dict)
    batch_size: int = 64  # unused: vLLM schedules its own batches

    def __post_init__(self):
        from transformers import AutoTokenizer
        from vllm import LLM

        self.tok = AutoTokenizer.from_pretrained(self.path, trust_remote_code=self.trust_remote_code)
        self.llm = LLM(model=self.path, seed=self.seed, trust_remote_code=self.trust_remote_code,
                       **self.engine_args)

    def params(self, n: int, max_new_tokens: int, until, seed: int):
        from vllm import SamplingParams
        greedy = self.temperature == 0
        return SamplingParams(n=n, temperature=0.0 if greedy else self.temperature,
                              top_p=1.0 if greedy else self.top_p, max_tokens=max_new_tokens,
                              stop=[u for u in (until or []) if u] or None, seed=seed)

    def sample(self, contexts: list[str], n: int, max_new_tokens: int, until: list[str] | None = None,
               block: int = 0, progress=None) -> list[list[str]]:
        params = [self.params(n, max_new_tokens, until, derive_seed(self.seed, block, c)) for c in contexts]
        # Token ids, not text: the context is already chat-formatted, and vLLM's own tokenization
        # would add special tokens a second time (the transformers backend does not add them either).
        prompts = [{"prompt_token_ids": self.tok(c, add_special_tokens=False)["input_ids"]} for c in contexts]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        out = [[c.text.strip() for c in o.outputs] for o in outputs]
        if progress:
            progress(len(out), len(contexts))
        return out
