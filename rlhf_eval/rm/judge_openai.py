"""Generative judges behind an OpenAI-compatible endpoint (rm.SCORERS["openai"]): vLLM's or SGLang's
server, `rlhf-eval serve-judge`, or a hosted API. A chat judge is asked on chat completions; a
completion-style one (judge.chat: false) on completions (/v1/completions), with the text it was
trained on.

The official `openai` client does the HTTP: its retries (on connection errors, timeouts, 408,
409, 429 and 5xx, with exponential backoff) and its timeout are the card's `judge.retries` and
`judge.timeout_s`. At most `judge.concurrency` requests are in flight. A verdict-token judge asks
for one token with its `top_logprobs` and sums the probability of each verdict word over the
tokens that spell it with surrounding spaces.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rlhf_eval.config import JudgeConfig
from rlhf_eval.errors import UserError
from rlhf_eval.rm.base import TrainedRM
from rlhf_eval.rm.judge import GenerativeJudge

TOP_LOGPROBS = 20  # the most the OpenAI API returns


class JudgeEndpointError(UserError):
    """The endpoint failed a request after every retry."""


@dataclass
class OpenAIJudge:
    url: str  # the API's base URL, e.g. http://127.0.0.1:8000/v1
    model: str
    api_key_env: str | None = None
    concurrency: int = 8
    retries: int = 3
    timeout_s: float = 60.0

    def __post_init__(self):
        from openai import OpenAI
        key = "EMPTY"  # local servers want some key
        if self.api_key_env:
            key = os.environ.get(self.api_key_env) or ""
            if not key:
                raise UserError(f"judge endpoint {self.url}: environment variable {self.api_key_env} "
                                "(api_key_env) is not set")
        self.client = OpenAI(base_url=self.url, api_key=key, max_retries=self.retries, timeout=self.timeout_s)
        self.model_id = f"{self.model}@{self.url}"

    def _request(self, conversation: list[dict] | str, sampling: dict, verdict_tokens):
        """Chat messages go to chat completions; a completion-style judge's text (judge.chat:
        false) to the completions endpoint, as it was trained."""
        if isinstance(conversation, str):
            if verdict_tokens:
                return self.client.completions.create(model=self.model, prompt=conversation, max_tokens=1,
                                                      temperature=0.0, logprobs=TOP_LOGPROBS)
            return self.client.completions.create(model=self.model, prompt=conversation,
                                                  max_tokens=sampling["max_new_tokens"],
                                                  temperature=sampling["temperature"])
        if verdict_tokens:
            return self.client.chat.completions.create(model=self.model, messages=conversation, max_tokens=1,
                                                       temperature=0.0, logprobs=True, top_logprobs=TOP_LOGPROBS)
        return self.client.chat.completions.create(model=self.model, messages=conversation,
                                                   max_tokens=sampling["max_new_tokens"],
                                                   temperature=sampling["temperature"])

    def _one(self, conversation: list[dict] | str, sampling: dict, verdict_tokens) -> dict:
        import openai
        try:
            r = self._request(conversation, sampling, verdict_tokens)
        except openai.APIError as exc:
            raise JudgeEndpointError(f"judge endpoint {self.url} (model {self.model}) failed after "
                                     f"{self.retries} retries: {type(exc).__name__}: {exc}") from None
        choice = r.choices[0]
        usage = {"tokens_in": r.usage.prompt_tokens if r.usage else 0,
                 "tokens_out": r.usage.completion_tokens if r.usage else 0}
        completion = isinstance(conversation, str)
        probs = None
        if verdict_tokens:
            probs = dict.fromkeys(verdict_tokens, 0.0)
            if completion:
                tops = (choice.logprobs.top_logprobs if choice.logprobs else None) or [{}]
                top = list((tops[0] or {}).items())
            else:
                content = (choice.logprobs.content if choice.logprobs else None) or []
                top = [(t.token, t.logprob) for t in content[0].top_logprobs] if content else []
            for token, logprob in top:
                word = token.strip()
                if word in probs:
                    probs[word] += math.exp(logprob)
        text = choice.text if completion else choice.message.content
        return {"text": text or "", "probs": probs, **usage}

    def answer(self, conversations: list[list[dict]], sampling: dict,
               verdict_tokens: tuple[str, str] | None = None) -> list[dict]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda c: self._one(c, sampling, verdict_tokens), conversations))


def load(rm: TrainedRM) -> GenerativeJudge:
    """rm.SCORERS["openai"]."""
    judge = JudgeConfig(**rm.judge)
    backend = OpenAIJudge(rm.url, judge.model or rm.name, rm.api_key_env, judge.concurrency, judge.retries,
                          judge.timeout_s)
    return GenerativeJudge(rm.name, backend, judge)
