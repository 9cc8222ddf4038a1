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

- Binds 127.0.0.1 unless asked otherwise. On any other address it refuses to start without a
  token, and then every request must carry it as `Authorization: Bearer <token>` or as
  `?token=<token>` (OpenRLHF's client sends no headers but posts to the URL as given). The token
  is a fixed one, or a job token (rlhf_eval.rm.tokens) checked against a signing key: it names
  one job, which the server may require, and expires.
- Requests from concurrent callers are batched: handler threads queue their rows, and one
  scoring thread takes whatever is queued (up to `max_batch` rows, waiting at most `max_wait_ms`
  for more) through the model at once.
- Bodies over `max_body` bytes get 413, malformed JSON or fields 400, with a message; the server
  keeps serving.
"""
from __future__ import annotations

import hmac
import json
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from rlhf_eval.rm.tokens import check

LOCAL = ("127.0.0.1", "localhost", "::1")


class Batcher:
    """One scoring thread; callers block on a Future for their own rows."""

    def __init__(self, scorer, max_batch: int = 256, max_wait_ms: float = 5.0):
        self.scorer, self.max_batch, self.max_wait = scorer, max_batch, max_wait_ms / 1000
        self.q: queue.Queue = queue.Queue()
        self.batches = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def score(self, request: Request) -> list[float]:
        fut: Future = Future()
        self.q.put((request, fut))
        return fut.result()

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

    def _run(self, jobs: list, as_sent: bool) -> None:
        if not jobs:
            return
        prompts = [p for r, _ in jobs for p in r.prompts]
        try:
            if as_sent:
                scores = self.scorer.score_texts([q for r, _ in jobs for q in r.queries], prompts)
            else:
                scores = self.scorer.score(prompts, [x for r, _ in jobs for x in r.responses])
            self.batches += 1
            at = 0
            for r, fut in jobs:
                fut.set_result(scores[at:at + len(r.prompts)])
                at += len(r.prompts)
        except Exception as exc:  # a failing batch fails its callers, not the server
            for _, fut in jobs:
                fut.set_exception(exc)


@dataclass(frozen=True)
class Request:
    queries: list[str]
    prompts: list
    responses: list[str] | None

    @property
    def as_sent(self) -> bool:
        """OpenRLHF's shape: score the query text as sent."""
        return self.responses is None


def parse_request(body: bytes) -> Request:
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("query"), list):
        raise ValueError("expected a JSON object with a list 'query'")
    queries = data["query"]
    prompts = data.get("prompts") or [""] * len(queries)
    responses = data.get("responses")
    lengths = [len(queries), len(prompts)] + ([] if responses is None else [len(responses)])
    if len(set(lengths)) > 1:
        names = "'query', 'prompts'" + (" and 'responses'" if responses is not None else "")
        raise ValueError(f"{names} differ in length ({', '.join(map(str, lengths))})")
    if not all(isinstance(x, str) for x in [*queries, *(responses or [])]):
        raise ValueError("'query' and 'responses' must hold strings")
    if responses is None and not all(isinstance(x, str) for x in prompts):
        raise ValueError("'prompts' must hold strings (the formatted prompts) when 'responses' is absent")
    return Request(queries, prompts, responses)


def auth_problem(given: list[str], token: str | None, signing_key: str | None, job: str | None) -> str | None:
    """None when one of the `given` credentials is accepted; else why not."""
    if not token and not signing_key:
        return None
    why = "missing or wrong token (Authorization: Bearer, or ?token=)"
    for g in given:
        if not g:
            continue
        # bytes: compare_digest refuses non-ASCII str
        if token and hmac.compare_digest(g.encode(), token.encode()):
            return None
        if signing_key:
            reason = check(g, signing_key, job)
            if reason is None:
                return None
            if reason != "not a job token":
                why = reason
    return why


def make_server(scorer, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                path: str = "/get_reward", max_body: int = 16 << 20, max_batch: int = 256,
                max_wait_ms: float = 5.0, signing_key: str | None = None,
                job: str | None = None) -> ThreadingHTTPServer:
    """token: a fixed token; signing_key: accept job tokens minted with it (for `job` only, if given)."""
    if host not in LOCAL and not (token or signing_key):
        raise ValueError(f"refusing to serve on {host} without a token: set one, or bind 127.0.0.1")
    if job and not signing_key:
        raise ValueError("a job restriction needs a signing key (job tokens carry the job's name)")
    batcher = Batcher(scorer, max_batch, max_wait_ms)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connection

        def log_message(self, *args):
            pass

        def reply(self, code: int, body: dict):
            if code >= 400:  # the request body may be unread: do not reuse this connection
                self.close_connection = True
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def auth_problem(self, query: str) -> str | None:
            header = self.headers.get("Authorization", "")
            bearer = header[len("Bearer "):] if header.startswith("Bearer ") else ""
            return auth_problem([bearer, (parse_qs(query).get("token") or [""])[0]], token, signing_key, job)

        def do_POST(self):
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if url.path != path:
                return self.reply(404, {"error": f"POST {path}"})
            problem = self.auth_problem(url.query)
            if problem:
                return self.reply(401, {"error": problem})
            if length > max_body:  # refused unread
                return self.reply(413, {"error": f"body of {length} bytes is over the {max_body}-byte limit"})
            try:
                request = parse_request(self.rfile.read(length))
            except (ValueError, TypeError, AttributeError) as exc:
                return self.reply(400, {"error": f"bad request: {exc}"})
            try:
                rewards = batcher.score(request)
            except Exception as exc:
                return self.reply(500, {"error": f"scoring failed: {exc}"})
            self.reply(200, {"rewards": rewards, "scores": rewards, "extra_logs": {}})

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # the default 5 resets connections under concurrent load

    server = Server((host, port), Handler)
    server.batcher = batcher
    return server


def serve_in_thread(scorer, **kw) -> tuple[ThreadingHTTPServer, str]:
    server = make_server(scorer, **kw)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}{kw.get('path', '/get_reward')}"
