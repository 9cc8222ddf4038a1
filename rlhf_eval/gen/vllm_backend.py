"""Sampling with vLLM (GPU clusters; `pip install rlhf-eval[vllm]`). Imported only when a policy
card names `backend: vllm`.

All N samples of a prompt come from one request (`SamplingParams(n=N)`), and every request has
its own seed derived from (seed, block, prompt). The seed fixes the random draws, not the logits:
vLLM's kernels give slightly different logits for another batch, so by vLLM's own account
(docs/usage/reproducibility.md, 0.29.0) results are not reproducible by default. Offline, as
here, `VLLM_ENABLE_V1_MULTIPROCESSING=0` makes its scheduling deterministic: the same call on the
same GPUs and vLLM version gives the same candidates, which is set here unless the environment
chooses otherwise. Candidates independent of batching and sharding need batch invariance
(`VLLM_BATCH_INVARIANT=1`: beta, compute capability 8.0 or higher, slower), which the user opts
into. What was in force is recorded in the bon_generate manifest (`reproducibility`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from rlhf_eval.gen.base import Settings, derive_seed

DETERMINISTIC = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
BATCH_INVARIANT = "VLLM_BATCH_INVARIANT"


def deterministic_env() -> dict[str, str]:
    """Sets what makes offline vLLM reproducible where the environment has not chosen, before the
    engine starts; returns what is in force (vLLM reads these when it builds the engine)."""
    for key, value in DETERMINISTIC.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in DETERMINISTIC} | {BATCH_INVARIANT: os.environ.get(BATCH_INVARIANT, "0")}


def reproducibility(env: dict[str, str]) -> dict:
    """The manifest's account of when these candidates come back the same."""
    invariant = env.get(BATCH_INVARIANT, "0") == "1"
    scheduled = env.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") == "0"
    same_when = ("the same GPU model and vLLM version, whatever the batching" if invariant else
                 "the same GPU model, vLLM version and prompts per call (not across a different sharding)"
                 if scheduled else "not guaranteed: vLLM's scheduling is not deterministic in this setting")
    return {"engine": "vllm", "seeded": "per prompt: (seed, block, prompt)", "env": env, "same_when": same_when}


@dataclass
class VLLMSampler:
    path: str
    settings: Settings = field(default_factory=Settings)
    seed: int = 0
    trust_remote_code: bool = False
    # Passed to vllm.LLM as is: tensor_parallel_size, gpu_memory_utilization, max_model_len, dtype...
    engine_args: dict = field(default_factory=dict)
    batch_size: int = 64  # unused: vLLM schedules its own batches

    def __post_init__(self):
        from transformers import AutoTokenizer
        self.reproducibility = reproducibility(deterministic_env())
        from vllm import LLM

        self.tok = AutoTokenizer.from_pretrained(self.path, trust_remote_code=self.trust_remote_code)
        self.llm = LLM(model=self.path, seed=self.seed, trust_remote_code=self.trust_remote_code,
                       **self.engine_args)

    def params(self, n: int, max_new_tokens: int, until, seed: int):
        from vllm import SamplingParams
        return SamplingParams(n=n, **self.settings.for_vllm(), max_tokens=max_new_tokens,
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
