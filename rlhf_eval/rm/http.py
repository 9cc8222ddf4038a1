"""A JSON-over-HTTP server for the project's model servers (serve-rm, serve-judge): the parts that
keep a server up and private whatever it serves.

- Binds 127.0.0.1 unless asked otherwise; on any other address it refuses to start without a
  token, and then every request must carry it as `Authorization: Bearer <token>` or `?token=`.
  The token is a fixed one, or a job token (rlhf_eval.rm.tokens) checked against a signing key.
- A missing, negative or non-numeric Content-Length gets 411/400, a body over `max_body` 413
  unread, a body slower than `timeout_s` 408; every error is JSON with a message, never
  http.server's HTML page or version banner, and the server keeps serving.
- A route is `path -> handle(body: bytes, gone) -> (status, JSON object)`, or None when
  `gone()` said the client closed its connection and the work was dropped; handlers check
  their own fields (Limits bounds rows and characters) and raise TooLarge for 413.
"""
from __future__ import annotations

import hmac
import json
import re
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from rlhf_eval.errors import UserError
from rlhf_eval.rm.tokens import check

LOCAL = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Limits:
    """Per-request bounds, checked before anything is queued."""
    max_body: int = 16 << 20  # bytes
    max_rows: int = 4096
    max_chars: int = 200_000  # per text (query, prompt, response or message)
    timeout_s: float = 60.0  # socket reads and writes; a half-sent request is dropped after this


class TooLarge(ValueError):
    """A request over a size limit: HTTP 413."""


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


# ASCII digits only, and few: str.isdigit() takes "²" and int() takes "١٢", and a 5,000-digit
# number raises past Python's int-parsing limit (a dropped connection, not a reply).
NUMBER = re.compile(r"[0-9]{1,15}")
MAX_DEPTH = 64  # JSON nesting: a body nested 100,000 deep would raise RecursionError in the parser
ROLES = ("system", "user", "assistant")


def content_length(values: list[str], max_body: int, chunked: bool = False) -> tuple[int, str] | int:
    """The body's length from the request's Content-Length headers, or (HTTP status, message)
    when they cannot be honoured. HTTP/1.1 (RFC 9112 6.3) says a request with both
    Transfer-Encoding and Content-Length, or with differing lengths, must be refused: a proxy in
    front may read the body's end elsewhere (request smuggling)."""
    if chunked:
        return 400, "Transfer-Encoding is not accepted; send the body with one Content-Length"
    if not values:
        return 411, "a Content-Length header is required"
    if len(values) > 1:
        return 400, "more than one Content-Length header"
    value = values[0].strip()
    if not NUMBER.fullmatch(value):  # rejects "-1", "abc", "1e3", "²": a negative length would read to EOF
        return 400, f"Content-Length {value[:40]!r} is not a non-negative integer of at most 15 digits"
    length = int(value)
    if length > max_body:  # refused unread
        return 413, f"body of {length} bytes is over the {max_body}-byte limit"
    return length


def load_json(body: bytes):
    """A request body as JSON, refusing (ValueError) what would crash later: nesting past
    MAX_DEPTH, and strings that are not Unicode (a lone surrogate such as "\\ud800", which no
    tokenizer can encode)."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    stack = [(data, 1)]
    while stack:
        x, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(x, str):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone surrogate (an escape such as \\ud800 that is not a "
                                 "character); send valid Unicode") from None
        elif isinstance(x, dict):
            stack += [(k, depth + 1) for k in x] + [(v, depth + 1) for v in x.values()]
        elif isinstance(x, list):
            stack += [(v, depth + 1) for v in x]
    return data


def check_roles(messages: list, where: str) -> None:
    """Chat templates know system, user and assistant; any other role is refused, not scored."""
    for i, m in enumerate(messages):
        if m["role"] not in ROLES:
            raise ValueError(f"{where}[{i}] has role {m['role'][:40]!r}; roles are {', '.join(ROLES)}")


def client_gone(sock) -> bool:
    """Whether the client closed its side: readable with nothing to read. A client that sent more
    (a pipelined request) is still there."""
    poller = select.poll()  # (select.select fails on descriptors past 1024: many open connections)
    poller.register(sock, select.POLLIN | select.POLLHUP)
    try:
        return bool(poller.poll(0)) and sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


Route = Callable[[bytes, Callable[[], bool]], "tuple[int, dict] | None"]


def json_server(routes: dict[str, Route], name: str, host: str = "127.0.0.1", port: int = 0,
                token: str | None = None, limits: Limits = Limits(), signing_key: str | None = None,
                job: str | None = None, get: dict[str, Callable[[], dict]] | None = None) -> ThreadingHTTPServer:
    """token: a fixed token; signing_key: accept job tokens minted with it (for `job` only, if given);
    get: GET paths -> the JSON they answer (behind the same token)."""
    get = get or {}
    if host not in LOCAL and not (token or signing_key):
        raise UserError(f"refusing to serve on {host} without a token: set one, or bind 127.0.0.1")
    if job and not signing_key:
        raise UserError("a job restriction needs a signing key (job tokens carry the job's name)")
    for field_name in ("max_body", "max_rows", "max_chars", "timeout_s"):
        if getattr(limits, field_name) <= 0:
            raise UserError(f"{field_name} must be positive, got {getattr(limits, field_name)}")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connection
        timeout = limits.timeout_s  # socket timeout: an idle or half-sent request cannot hold a thread
        server_version, sys_version = f"rlhf-eval-{name}", ""
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
            scheme, _, credentials = self.headers.get("Authorization", "").strip().partition(" ")
            bearer = credentials.strip() if scheme.lower() == "bearer" else ""  # the scheme is case-insensitive
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

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path not in get:
                return self.reply(404 if url.path not in routes else 405,
                                  {"error": " or ".join([f"POST {p}" for p in routes] + [f"GET {p}" for p in get])})
            problem = self.auth_problem(url.query)
            if problem:
                return self.reply(401, {"error": problem})
            self.reply(200, get[url.path]())

        def do_POST(self):
            url = urlsplit(self.path)
            if url.path not in routes:
                return self.reply(404, {"error": f"POST {' or '.join(routes)}"})
            problem = self.auth_problem(url.query)
            if problem:
                return self.reply(401, {"error": problem})
            length = content_length(self.headers.get_all("Content-Length") or [], limits.max_body,
                                    "Transfer-Encoding" in self.headers)
            if isinstance(length, tuple):
                return self.reply(length[0], {"error": length[1]})
            try:
                body = self.read_body(length)
            except TimeoutError:
                return self.reply(408, {"error": f"the body did not arrive within {limits.timeout_s:g} s"})
            except ConnectionError:
                self.close_connection = True
                return
            result = routes[url.path](body, lambda: client_gone(self.connection))
            if result is None:  # the client has gone: nobody reads a reply
                self.close_connection = True
                return
            self.reply(*result)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # the default 5 resets connections under concurrent load

        def handle_error(self, request, client_address):
            """One line on stderr, not a traceback per dropped client."""
            exc = sys.exc_info()[1]
            print(f"{name}: connection from {client_address[0]} dropped: {type(exc).__name__}: {exc}",
                  file=sys.stderr)

    return Server((host, port), Handler)


def serve_in_thread(server: ThreadingHTTPServer, path: str) -> str:
    """Start `server` on a daemon thread; its URL for `path`."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{path}"
