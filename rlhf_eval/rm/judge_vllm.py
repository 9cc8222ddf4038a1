"""Generative judges with vLLM (what rm.SCORERS["vllm"] loads for kind generative; GPU clusters,
`pip install rlhf-eval[vllm]`). Imported only when a generative card names `backend: vllm`.

Conversations become token ids here, with the judge's tokenizer and chat template as the
transformers backend makes them (rm.judge_transformers.conversation_ids), so vLLM adds no special
tokens of its own. A verdict-token judge samples one token restricted to the two verdict tokens
and reads their log-probabilities among the `VERDICT_LOGPROBS` likeliest of the unrestricted
distribution (vLLM returns raw log-probabilities); a verdict token outside them counts as
probability 0, as the openai backend does with its top log-probabilities. Other parsers read a
generated answer; at temperature 0 vLLM decodes greedily.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from rlhf_eval.config import JudgeConfig
from rlhf_eval.gen.base import Settings
from rlhf_eval.rm.base import TrainedRM, load_tokenizer
from rlhf_eval.rm.judge import GenerativeJudge
from rlhf_eval.rm.judge_transformers import answer_ids, conversation_ids, model_identity, verdict_token_id

VERDICT_LOGPROBS = 20  # vLLM's default max_logprobs


@dataclass
class VLLMJudge:
    path: str
    chat_template: str | None = None
    trust_remote_code: bool = False
    engine_args: dict = field(default_factory=dict)  # passed to vllm.LLM as is
    seed: int = 0

    def __post_init__(self):
        from rlhf_eval.gen.vllm_backend import deterministic_env
        deterministic_env()
        from vllm import LLM
        self.tok = load_tokenizer(self.path, self.trust_remote_code, self.chat_template)
        self.llm = LLM(model=self.path, seed=self.seed, trust_remote_code=self.trust_remote_code,
                       **self.engine_args)
        self.model_id = model_identity(self.path)

    def answer(self, conversations: list, sampling: dict,
               verdict_tokens: tuple[str, str] | None = None) -> list[dict]:
        from vllm import SamplingParams
        rows = conversation_ids(self.tok, conversations)
        prompts = [{"prompt_token_ids": r} for r in rows]
        if verdict_tokens:
            wanted = [verdict_token_id(self.tok, t, self.path) for t in verdict_tokens]
            params = SamplingParams(temperature=0.0, max_tokens=1, logprobs=VERDICT_LOGPROBS,
                                    allowed_token_ids=wanted)
            out = []
            for row, o in zip(rows, self.llm.generate(prompts, params, use_tqdm=False)):
                top = o.outputs[0].logprobs[0]  # token id -> Logprob of the first generated position
                probs = {t: math.exp(top[i].logprob) if i in top else 0.0 for t, i in zip(verdict_tokens, wanted)}
                out.append({"text": max(probs, key=probs.get), "probs": probs, "tokens_in": len(row),
                            "tokens_out": 0})
            return out
        settings = Settings(temperature=sampling["temperature"])
        params = SamplingParams(**settings.for_vllm(), max_tokens=sampling["max_new_tokens"],
                                seed=None if settings.greedy else self.seed)
        # vLLM's token_ids end with the EOS when generation stopped there; the transformers judge
        # does not count it: one rule for both (answer_ids)
        return [{"text": o.outputs[0].text.strip(), "probs": None, "tokens_in": len(row),
                 "tokens_out": len(answer_ids(list(o.outputs[0].token_ids), self.tok.eos_token_id, None))}
                for row, o in zip(rows, self.llm.generate(prompts, params, use_tqdm=False))]


def load(rm: TrainedRM) -> GenerativeJudge:
    backend = VLLMJudge(rm.path, rm.chat_template, rm.trust_remote_code, rm.engine_args)
    return GenerativeJudge(rm.name, backend, JudgeConfig(**rm.judge))
