"""Scoring through a remote RM server speaking OpenRLHF's remote-RM protocol:
POST {"query": [prompt + response], "prompts": [...], "labels": [...]} -> {"rewards": [...]}.

`query` holds each prompt's raw text followed by its response; we also send `responses`, and
`rlhf-eval serve-rm` then applies the RM's chat template itself, as local scoring does. A server
that knows only OpenRLHF's shape (OpenRLHF's own serve_rm) scores `query` as sent, i.e. without a
chat template: this client does not know the server's template. A multi-turn prompt travels as
its turns' text joined by newlines: the protocol has no field for roles. As OpenRLHF's client
does, a request times out after 180 s and is retried 5 times.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from rlhf_eval.data.pairs import prompt_text
from rlhf_eval.errors import UserError
from rlhf_eval.rm.base import TrainedRM


class RemoteRMError(UserError, RuntimeError):
    pass


@dataclass
class RemoteScorer:
    url: str
    api_key_env: str | None = None
    batch_size: int = 64
    timeout: float = 180.0
    retries: int = 5
    truncated: int = field(default=0, init=False)

    def headers(self) -> dict:
        h = {"Content-Type": "application/json"}
        if self.api_key_env:
            token = os.environ.get(self.api_key_env)
            if not token:
                raise RemoteRMError(f"remote RM {self.url}: environment variable {self.api_key_env} is not set")
            h["Authorization"] = f"Bearer {token}"
        return h

    def post(self, payload: dict) -> dict:
        import requests
        last = None
        for attempt in range(self.retries + 1):
            try:
                r = requests.post(self.url, json=payload, headers=self.headers(), timeout=self.timeout)
                if r.status_code in (401, 403):
                    raise RemoteRMError(f"remote RM {self.url}: HTTP {r.status_code} "
                                        f"(check {self.api_key_env or 'the token'})")
                r.raise_for_status()
                return r.json()
            except RemoteRMError:
                raise
            except Exception as exc:  # connection refused, timeout, 5xx: retry with backoff
                last = exc
                time.sleep(min(2 ** attempt * 0.2, 5))
        raise RemoteRMError(f"remote RM {self.url}: no answer after {self.retries + 1} tries ({last})")

    def score(self, prompts: list, responses: list[str]) -> list[float]:
        out: list[float] = []
        for i in range(0, len(prompts), self.batch_size):
            ps = [prompt_text(p) for p in prompts[i:i + self.batch_size]]
            rs = responses[i:i + self.batch_size]
            body = self.post({"query": [p + r for p, r in zip(ps, rs)], "prompts": ps, "responses": rs,
                              "labels": [""] * len(ps)})
            rewards = body.get("rewards")
            if not isinstance(rewards, list) or len(rewards) != len(ps):
                raise RemoteRMError(f"remote RM {self.url}: expected {len(ps)} rewards, got {str(body)[:200]}")
            out.extend(float(v) for v in rewards)
        return out


def load(rm: TrainedRM) -> RemoteScorer:
    """rm.SCORERS["remote"]: the server at the card's `url`, with the token in `api_key_env`."""
    return RemoteScorer(rm.url, api_key_env=rm.api_key_env, batch_size=rm.batch_size)
