"""Serve any scorer over OpenRLHF's remote-RM protocol:
POST /get_reward {"query": [...], "prompts": [...], "labels": [...]} ->
{"rewards": [...], "scores": [...], "extra_logs": {...}}.

Two request shapes:
- OpenRLHF's (no `responses`): each `query` is already formatted text, the decoded prompt and
  response ids with their special tokens, and `prompts` are the chat-templated prompts. The query
  is scored as sent: tokenized without adding special tokens, as OpenRLHF's own RM server does,
  never templated again. An implicit RM takes its response tokens to start where the query's
  tokens stop matching the prompt's.
- The project's own client (`responses` present): `prompts` are raw user turns and `responses`
  the bare responses; the server applies the RM's chat template, as local scoring does.

- Binding, tokens (fixed or job tokens), body limits and timeouts: rlhf_eval.rm.http.
- Requests from concurrent callers are batched: handler threads queue their rows, and one
  scoring thread takes whatever is queued (up to `max_batch` rows, waiting at most `max_wait_ms`
  for more) through the model at once.
- Every field's type and size is checked before a request is queued (Limits: rows, characters
  per text): too large gets 413, malformed JSON or fields 400 (JSON nested past 64 levels, a
  lone surrogate, a message role other than system, user or assistant).
- A request whose client has gone is not scored further: its next slice is never queued. A batch that still fails is
  rescored caller by caller, so one bad request cannot fail the others queued with it.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from rlhf_eval.errors import UserError
from rlhf_eval.rm import http
from rlhf_eval.rm.http import Limits, TooLarge, json_server


class Batcher:
    """One scoring thread; callers block on a Future for their own rows.

    A request's rows go to the model in slices of at most `max_batch` rows, and a caller queues
    its next slice only when the last one is scored: another caller waits at most one slice,
    however large the first request is.
    """

    def __init__(self, scorer, max_batch: int = 256, max_wait_ms: float = 5.0):
        self.scorer, self.max_batch, self.max_wait = scorer, max_batch, max_wait_ms / 1000
        self.q: queue.Queue = queue.Queue()
        self.batches = self.dropped = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def score(self, request: Request, gone=lambda: False) -> list[float] | None:
        """The request's scores; None when `gone()` says its client left before all of its slices
        were queued (the slices already in the model finish, the rest are never scored)."""
        out: list[float] = []
        for part in request.slices(self.max_batch):
            if gone():
                self.dropped += 1
                return None
            fut: Future = Future()
            self.q.put((part, fut))
            out += fut.result()
        return out

    def _loop(self):
        while True:
            jobs = [self.q.get()]
            rows = len(jobs[0][0].prompts)
            deadline = time.monotonic() + self.max_wait
            while rows < self.max_batch:
                try:
                    job = self.q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                jobs.append(job)
                rows += len(job[0].prompts)
            for as_sent in (True, False):
                self._run([j for j in jobs if j[0].as_sent == as_sent], as_sent)

    def _scores(self, requests: list[Request], as_sent: bool) -> list[float]:
        prompts = [p for r in requests for p in r.prompts]
        if as_sent:
            scores = self.scorer.score_texts([q for r in requests for q in r.queries], prompts)
        else:
            scores = self.scorer.score(prompts, [x for r in requests for x in r.responses])
        if len(scores) != len(prompts):
            raise RuntimeError(f"the scorer returned {len(scores)} scores for {len(prompts)} rows")
        self.batches += 1
        return scores

    def _run(self, jobs: list, as_sent: bool) -> None:
        if not jobs:
            return
        try:
            scores = self._scores([r for r, _ in jobs], as_sent)
        except Exception as exc:
            if len(jobs) == 1:
                jobs[0][1].set_exception(exc)
                return
            # Validation should stop bad rows before they are queued; should one still break the
            # batch, each caller is scored alone so that only its own request fails.
            for job in jobs:
                self._run([job], as_sent)
            return
        at = 0
        for r, fut in jobs:
            fut.set_result(scores[at:at + len(r.prompts)])
            at += len(r.prompts)


@dataclass(frozen=True)
class Request:
    queries: list[str]
    prompts: list
    responses: list[str] | None

    @property
    def as_sent(self) -> bool:
        """OpenRLHF's shape: score the query text as sent."""
        return self.responses is None

    def slices(self, size: int):
        for i in range(0, max(len(self.prompts), 1), size):
            yield Request(self.queries[i:i + size], self.prompts[i:i + size],
                          None if self.responses is None else self.responses[i:i + size])


def _is_messages(x) -> bool:
    return (isinstance(x, list) and len(x) > 0 and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in x))


def parse_request(body: bytes, limits: Limits = Limits()) -> Request:
    """Every field's type and size is checked here, so a bad request fails alone, before queuing."""
    data = http.load_json(body)
    if not isinstance(data, dict) or not isinstance(data.get("query"), list):
        raise ValueError("expected a JSON object with a list 'query'")
    queries = data["query"]
    prompts = data.get("prompts")
    if prompts is None:
        prompts = [""] * len(queries)
    responses = data.get("responses")
    for name, value in (("prompts", prompts), ("responses", responses)):
        if value is not None and not isinstance(value, list):
            raise ValueError(f"'{name}' must be a list, got {type(value).__name__}")
    lengths = [len(queries), len(prompts)] + ([] if responses is None else [len(responses)])
    if len(set(lengths)) > 1:
        names = "'query', 'prompts'" + (" and 'responses'" if responses is not None else "")
        raise ValueError(f"{names} differ in length ({', '.join(map(str, lengths))})")
    if len(queries) > limits.max_rows:
        raise TooLarge(f"{len(queries)} rows is over the {limits.max_rows}-row limit per request")
    for name, values in (("query", queries), ("responses", responses or [])):
        for i, x in enumerate(values):
            if not isinstance(x, str):
                raise ValueError(f"'{name}'[{i}] must be a string, got {type(x).__name__}")
    for i, p in enumerate(prompts):
        if responses is None and not isinstance(p, str):
            raise ValueError(f"'prompts'[{i}] must be a string (the formatted prompt) when 'responses' is absent, "
                             f"got {type(p).__name__}")
        if not isinstance(p, str) and not _is_messages(p):
            raise ValueError(f"'prompts'[{i}] must be a string or a list of {{role, content}} messages")
        if not isinstance(p, str):
            http.check_roles(p, f"'prompts'[{i}]")
    for name, values in (("query", queries), ("prompts", prompts), ("responses", responses or [])):
        for i, x in enumerate(values):
            n = len(x) if isinstance(x, str) else sum(len(m["content"]) for m in x)
            if n > limits.max_chars:
                raise TooLarge(f"'{name}'[{i}] has {n} characters, over the {limits.max_chars}-character limit")
    return Request(queries, prompts, responses)


def make_server(scorer, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                path: str = "/get_reward", limits: Limits = Limits(), max_batch: int = 256,
                max_wait_ms: float = 5.0, signing_key: str | None = None,
                job: str | None = None) -> ThreadingHTTPServer:
    """token: a fixed token; signing_key: accept job tokens minted with it (for `job` only, if given)."""
    if max_batch < 1:
        raise UserError(f"max_batch must be at least 1, got {max_batch}")
    batcher = Batcher(scorer, max_batch, max_wait_ms)

    def get_reward(body: bytes, gone=lambda: False) -> tuple[int, dict] | None:
        try:
            request = parse_request(body, limits)
        except TooLarge as exc:
            return 413, {"error": str(exc)}
        except (ValueError, TypeError, AttributeError) as exc:
            return 400, {"error": f"bad request: {exc}"}
        try:
            rewards = batcher.score(request, gone)
        except Exception as exc:
            return 500, {"error": f"scoring failed: {type(exc).__name__}: {exc}"}
        if rewards is None:  # its client left: the rest of its rows were not scored
            return None
        return 200, {"rewards": rewards, "scores": rewards, "extra_logs": {}}

    server = json_server({path: get_reward}, "serve-rm", host, port, token, limits, signing_key, job)
    server.batcher = batcher
    return server


def serve_in_thread(scorer, **kw) -> tuple[ThreadingHTTPServer, str]:
    server = make_server(scorer, **kw)
    return server, http.serve_in_thread(server, kw.get("path", "/get_reward"))
