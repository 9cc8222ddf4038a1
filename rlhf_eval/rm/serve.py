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
- Every field's type and size is checked before a request is queued (Limits: body bytes, rows,
  characters per text): too large gets 413, malformed JSON or fields 400, a missing, negative
  or non-numeric Content-Length 411/400, a body slower than `timeout_s` 408, all as JSON with
  a message; the server keeps serving. A batch that still fails is rescored caller by caller,
  so one bad request cannot fail the others queued with it.
"""
from __future__ import annotations

import hmac
import json
import queue
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from rlhf_eval.errors import UserError
from rlhf_eval.rm.tokens import check

LOCAL = ("127.0.0.1", "localhost", "::1")


class Batcher:
    """One scoring thread; callers block on a Future for their own rows.

    A request's rows go to the model in slices of at most `max_batch` rows, and a caller queues
    its next slice only when the last one is scored: another caller waits at most one slice,
    however large the first request is.
    """

    def __init__(self, scorer, max_batch: int = 256, max_wait_ms: float = 5.0):
        self.scorer, self.max_batch, self.max_wait = scorer, max_batch, max_wait_ms / 1000
        self.q: queue.Queue = queue.Queue()
        self.batches = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def score(self, request: Request) -> list[float]:
        out: list[float] = []
        for part in request.slices(self.max_batch):
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
class Limits:
    """Per-request bounds, checked before anything is queued."""
    max_body: int = 16 << 20  # bytes
    max_rows: int = 4096
    max_chars: int = 200_000  # per text (query, prompt or response)
    timeout_s: float = 60.0  # socket reads and writes; a half-sent request is dropped after this


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


class TooLarge(ValueError):
    """A request over a size limit: HTTP 413."""


def _is_messages(x) -> bool:
    return (isinstance(x, list) and len(x) > 0 and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in x))


def parse_request(body: bytes, limits: Limits = Limits()) -> Request:
    """Every field's type and size is checked here, so a bad request fails alone, before queuing."""
    data = json.loads(body)
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
    for name, values in (("query", queries), ("prompts", prompts), ("responses", responses or [])):
        for i, x in enumerate(values):
            n = len(x) if isinstance(x, str) else sum(len(m["content"]) for m in x)
            if n > limits.max_chars:
                raise TooLarge(f"'{name}'[{i}] has {n} characters, over the {limits.max_chars}-character limit")
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


def content_length(value: str | None, max_body: int) -> tuple[int, str] | int:
    """The body's length, or (HTTP status, message) when the header cannot be honoured."""
    if value is None:
        return 411, "a Content-Length header is required"
    if not value.strip().isdigit():  # rejects "-1", "abc", "1e3": a negative length would read to EOF
        return 400, f"Content-Length {value!r} is not a non-negative integer"
    length = int(value)
    if length > max_body:  # refused unread
        return 413, f"body of {length} bytes is over the {max_body}-byte limit"
    return length


def make_server(scorer, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                path: str = "/get_reward", limits: Limits = Limits(), max_batch: int = 256,
                max_wait_ms: float = 5.0, signing_key: str | None = None,
                job: str | None = None) -> ThreadingHTTPServer:
    """token: a fixed token; signing_key: accept job tokens minted with it (for `job` only, if given)."""
    if host not in LOCAL and not (token or signing_key):
        raise UserError(f"refusing to serve on {host} without a token: set one, or bind 127.0.0.1")
    if job and not signing_key:
        raise UserError("a job restriction needs a signing key (job tokens carry the job's name)")
    for name in ("max_body", "max_rows", "max_chars", "timeout_s"):
        if getattr(limits, name) <= 0:
            raise UserError(f"{name} must be positive, got {getattr(limits, name)}")
    if max_batch < 1:
        raise UserError(f"max_batch must be at least 1, got {max_batch}")
    batcher = Batcher(scorer, max_batch, max_wait_ms)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connection
        timeout = limits.timeout_s  # socket timeout: an idle or half-sent request cannot hold a thread
        server_version, sys_version = "rlhf-eval-serve-rm", ""
        default_request_version = "HTTP/1.0"  # so that errors before the version is read get a status line

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

        def send_error(self, code, message=None, explain=None):
            """http.server's own errors (unknown method, malformed request line) as JSON, without
            its HTML page and version banner."""
            short = self.responses.get(code, ("error",))[0]
            try:
                self.reply(code, {"error": f"{short}: {message}" if message and message != short else short})
            except OSError:
                self.close_connection = True

        def auth_problem(self, query: str) -> str | None:
            header = self.headers.get("Authorization", "")
            bearer = header[len("Bearer "):] if header.startswith("Bearer ") else ""
            return auth_problem([bearer, (parse_qs(query).get("token") or [""])[0]], token, signing_key, job)

        def read_body(self, length: int) -> bytes:
            """Read with one deadline for the whole body, so a client dripping bytes cannot hold
            the connection past timeout_s either."""
            deadline, parts, left = time.monotonic() + limits.timeout_s, [], length
            while left:
                if time.monotonic() > deadline:
                    raise TimeoutError
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    raise ConnectionError("client closed the connection mid-body")
                parts.append(chunk)
                left -= len(chunk)
            return b"".join(parts)

        def do_POST(self):
            url = urlsplit(self.path)
            if url.path != path:
                return self.reply(404, {"error": f"POST {path}"})
            problem = self.auth_problem(url.query)
            if problem:
                return self.reply(401, {"error": problem})
            length = content_length(self.headers.get("Content-Length"), limits.max_body)
            if isinstance(length, tuple):
                return self.reply(length[0], {"error": length[1]})
            try:
                body = self.read_body(length)
            except TimeoutError:
                return self.reply(408, {"error": f"the body did not arrive within {limits.timeout_s:g} s"})
            except ConnectionError:
                self.close_connection = True
                return
            try:
                request = parse_request(body, limits)
            except TooLarge as exc:
                return self.reply(413, {"error": str(exc)})
            except (ValueError, TypeError, AttributeError) as exc:
                return self.reply(400, {"error": f"bad request: {exc}"})
            try:
                rewards = batcher.score(request)
            except Exception as exc:
                return self.reply(500, {"error": f"scoring failed: {type(exc).__name__}: {exc}"})
            self.reply(200, {"rewards": rewards, "scores": rewards, "extra_logs": {}})

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # the default 5 resets connections under concurrent load

        def handle_error(self, request, client_address):
            """One line on stderr, not a traceback per dropped client."""
            exc = sys.exc_info()[1]
            print(f"serve-rm: connection from {client_address[0]} dropped: {type(exc).__name__}: {exc}",
                  file=sys.stderr)

    server = Server((host, port), Handler)
    server.batcher = batcher
    return server


def serve_in_thread(scorer, **kw) -> tuple[ThreadingHTTPServer, str]:
    server = make_server(scorer, **kw)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}{kw.get('path', '/get_reward')}"
