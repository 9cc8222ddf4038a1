"""Failure modes of serve-rm (issue 16, items 1-6): bad input and faults from hostile or careless
clients. Each row of the table is a test below; docs/failure-modes.md keeps the same table.

| # | input or fault                                   | what happens now                                      |
|---|--------------------------------------------------|-------------------------------------------------------|
| 1 | `prompts: [12345]` batched with good requests     | 400 for that request alone; the others get 200        |
| 1 | a row that passes validation but breaks the model | the batch is rescored caller by caller; only it fails  |
| 2 | `Content-Length: -1`                              | 400 at once, the body is never read                   |
| 2 | `Content-Length: abc`; no Content-Length          | 400; 411; JSON, no traceback                          |
| 3 | a non-ASCII token (header or `?token=%C3%A9`)     | 401 with a reply                                      |
| 4 | a half-sent request                               | the connection is dropped after `timeout_s` (408)     |
| 5 | a request over max_rows or max_chars              | 413 naming the limit                                  |
| 5 | a 1-row request behind a huge one                 | waits at most one slice of `max_batch` rows           |
| 6 | GET, or a malformed request line                  | JSON error, no HTML page, no Python version banner    |

Issue 30 (serve-rm and serve-judge alike; serve-judge's own fields in test_judge_openai.py):

| #  | input or fault                                         | what happens now                                   |
|----|--------------------------------------------------------|----------------------------------------------------|
| 3  | a JSON body nested 100,000 deep                          | 400 "nested deeper than 64 levels"; still serving  |
| 3  | a lone surrogate ("\\ud800") in a prompt               | 400 naming it, before the tokenizer                |
| 4  | Content-Length "²", or 5,000 digits                      | 400 with a reply, not a dropped connection         |
| 4  | a job token whose expiry is 5,000 digits                 | 401 "bad signature": the signature is checked first |
| 11 | Content-Length with Transfer-Encoding; two Content-Lengths | 400 (RFC 9112: request smuggling)                |
| 11 | `Authorization: bearer <token>` (lowercase scheme)       | accepted: the scheme is case-insensitive           |
| 11 | a message role other than system, user or assistant      | 400 naming the role                                |
| 11 | the client goes away mid-request                         | its remaining slices are never scored              |
| 13 | an expiry spelled with leading zeros or non-ASCII digits | 401 "bad signature": one canonical form            |

The scorer is a stand-in (reward = response length, with a configurable delay or failure): what is
under test is the server; test_seams serves real toy RMs to OpenRLHF's client.
"""
import json
import socket
import threading
import time

import pytest
import requests

from rlhf_eval.rm.serve import Limits, serve_in_thread


class SlowScorer:
    """reward = len(response); `per_row_s` of sleep per row; raises on a response 'boom'."""

    def __init__(self, per_row_s: float = 0.0):
        self.per_row_s, self.calls = per_row_s, []

    def _check(self, texts):
        self.calls.append(len(texts))
        if "boom" in texts:
            raise RuntimeError("the model cannot take 'boom'")
        time.sleep(self.per_row_s * len(texts))

    def score(self, prompts, responses):
        self._check(responses)
        return [float(len(r)) for r in responses]

    def score_texts(self, queries, prompts):
        self._check([q[len(p):] for q, p in zip(queries, prompts)])
        return [float(len(q) - len(p)) for q, p in zip(queries, prompts)]


@pytest.fixture
def server():
    made = []

    def start(scorer=None, **kw):
        srv, url = serve_in_thread(scorer or SlowScorer(), **kw)
        made.append(srv)
        return srv, url
    yield start
    for srv in made:
        srv.shutdown()


def read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def raw(url: str, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes as they are (requests would fix the headers) and read until the server closes."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        return read_all(s)


def status_and_json(reply: bytes) -> tuple[int, dict]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def concurrently(calls):
    out = [None] * len(calls)

    def run(i):
        out[i] = calls[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# 1
def test_a_poison_request_fails_alone(server):
    scorer = SlowScorer(per_row_s=0.002)
    _, url = server(scorer, max_wait_ms=50)
    good = [lambda i=i: requests.post(url, json={"query": ["q" + "r" * i], "prompts": ["q"], "responses": ["r" * i]},
                                      timeout=30) for i in range(1, 41)]
    poison = lambda: requests.post(url, json={"query": ["x"], "prompts": [12345], "responses": ["x"]}, timeout=30)  # noqa: E731
    replies = concurrently(good[:20] + [poison] + good[20:])
    bad = replies.pop(20)
    assert bad.status_code == 400
    assert "'prompts'[0] must be a string or a list of {role, content} messages" in bad.json()["error"]
    assert [r.status_code for r in replies] == [200] * 40
    assert [r.json()["rewards"] for r in replies] == [[float(i)] for i in range(1, 41)]


def test_a_row_that_breaks_the_model_fails_only_its_own_request(server):
    scorer = SlowScorer(per_row_s=0.002)
    srv, url = server(scorer, max_wait_ms=200)
    good = [lambda i=i: requests.post(url, json={"query": ["q" + "r" * i], "prompts": ["q"], "responses": ["r" * i]},
                                      timeout=30) for i in range(1, 21)]
    poison = lambda: requests.post(url, json={"query": ["boom"], "prompts": ["q"], "responses": ["boom"]}, timeout=30)  # noqa: E731
    replies = concurrently(good[:10] + [poison] + good[10:])
    bad = replies.pop(10)
    assert bad.status_code == 500 and "the model cannot take 'boom'" in bad.json()["error"]
    assert [r.json()["rewards"] for r in replies] == [[float(i)] for i in range(1, 21)]
    assert max(scorer.calls) > 1  # the poison row really was batched with others, then rescored alone


@pytest.mark.parametrize("body, error", [
    ({"query": ["a"], "prompts": "q"}, "'prompts' must be a list, got str"),
    ({"query": ["a"], "prompts": ["q"], "responses": [7]}, "'responses'[0] must be a string, got int"),
    ({"query": [None]}, "'query'[0] must be a string, got NoneType"),
    ({"query": ["a"], "prompts": [[{"role": "user"}]], "responses": ["r"]}, "list of {role, content} messages"),
])
def test_every_field_is_type_checked_before_queuing(server, body, error):
    scorer = SlowScorer()
    _, url = server(scorer)
    r = requests.post(url, json=body, timeout=10)
    assert r.status_code == 400 and error in r.json()["error"]
    assert scorer.calls == []  # refused before it reached the model


# 2
@pytest.mark.parametrize("header, code, error", [
    (b"Content-Length: -1\r\n", 400, "Content-Length '-1' is not a non-negative integer of at most 15 digits"),
    (b"Content-Length: abc\r\n", 400, "Content-Length 'abc' is not a non-negative integer of at most 15 digits"),
    (b"", 411, "a Content-Length header is required"),
])
def test_a_bad_content_length_is_refused_unread(server, header, code, error, capfd):
    _, url = server(limits=Limits(max_body=1000))
    t0 = time.monotonic()
    # The client keeps sending after the headers: a server reading to EOF would wait for it.
    with socket.create_connection(("127.0.0.1", int(url.split(":")[2].split("/")[0])), timeout=10) as s:
        s.sendall(b"POST /get_reward HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n" + b"x" * 5000)
        reply = read_all(s)
    assert status_and_json(reply) == (code, {"error": error})
    assert time.monotonic() - t0 < 5
    assert "Traceback" not in capfd.readouterr().err


# 3
def test_a_non_ascii_token_gets_401_not_a_dropped_connection(server):
    _, url = server(token="tok")
    body = json.dumps({"query": ["ab"]}).encode()
    for auth in (b"Authorization: Bearer \xe9\xe9\r\n", b""):
        path = b"/get_reward" if auth else b"/get_reward?token=%C3%A9"
        reply = raw(url, b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth
                    + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        code, data = status_and_json(reply)
        assert code == 401 and "token" in data["error"]


# 4
def test_a_half_sent_request_is_dropped_after_the_timeout(server):
    _, url = server(limits=Limits(timeout_s=1.0))
    port = int(url.split(":")[2].split("/")[0])
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"query\"")
        reply = read_all(s)
    assert time.monotonic() - t0 < 10
    code, data = status_and_json(reply)
    assert code == 408 and "within 1 s" in data["error"]
    # A client dripping one byte at a time is bound by the same deadline for the whole body.
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        try:
            for _ in range(40):
                s.sendall(b" ")
                time.sleep(0.1)
        except OSError:
            pass
        reply = read_all(s)
    assert status_and_json(reply)[0] == 408 and time.monotonic() - t0 < 10
    # Headers never finished: the connection is closed, the server keeps serving.
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(b"POST /get_reward HTTP/1.1\r\nHost: x\r\n")
        assert read_all(s) == b""
    assert requests.post(url, json={"query": ["ab"]}, timeout=10).json()["rewards"] == [2.0]


# 5
def test_rows_and_characters_are_capped(server):
    scorer = SlowScorer()
    _, url = server(scorer, limits=Limits(max_rows=10, max_chars=100))
    r = requests.post(url, json={"query": ["a"] * 11}, timeout=10)
    assert r.status_code == 413 and "11 rows is over the 10-row limit" in r.json()["error"]
    r = requests.post(url, json={"query": ["a"], "prompts": ["q"], "responses": ["x" * 101]}, timeout=10)
    assert r.status_code == 413
    assert "'responses'[0] has 101 characters, over the 100-character limit" in r.json()["error"]
    assert scorer.calls == []


def test_one_large_request_does_not_hold_the_queue(server):
    """2,000 rows at 2.5 ms each take 5 s; a 1-row request sent meanwhile waits for one slice of
    max_batch=50 rows (about 0.13 s), not for the whole request."""
    scorer = SlowScorer(per_row_s=0.0025)
    _, url = server(scorer, max_batch=50, max_wait_ms=1)
    big = {"query": ["q" + "r" * 3] * 2000, "prompts": ["q"] * 2000}
    done = {}

    def send_big():
        t0 = time.monotonic()
        done["big"] = requests.post(url, json=big, timeout=60).json()["rewards"]
        done["big_s"] = time.monotonic() - t0
    t = threading.Thread(target=send_big)
    t.start()
    time.sleep(0.5)
    small = requests.post(url, json={"query": ["qxy"], "prompts": ["q"]}, timeout=60).json()["rewards"]
    big_still_running = "big" not in done
    t.join()
    assert small == [2.0] and done["big"] == [3.0] * 2000
    assert done["big_s"] >= 4.5
    assert big_still_running  # the 1-row request did not wait for the large one to finish


# 6
@pytest.mark.parametrize("request_line, code", [(b"DELETE /get_reward HTTP/1.1", 501),
                                                (b"GET /get_reward HTTP/1.1", 405), (b"GARBAGE", 400)])
def test_http_servers_own_errors_are_json_without_a_version_banner(server, request_line, code):
    _, url = server()
    reply = raw(url, request_line + b"\r\nHost: x\r\n\r\n")
    got, data = status_and_json(reply)
    assert got == code and "error" in data
    assert b"Python" not in reply and b"<html" not in reply.lower()


# issue 30, 3
@pytest.mark.parametrize("body, error", [
    (b"[" * 100_000 + b"]" * 100_000, "JSON nested deeper than 64 levels"),
    (b'{"query": ' + b"[" * 70 + b"]" * 70 + b"}", "JSON nested deeper than 64 levels"),
    (b'{"query": ["a\\ud800"], "prompts": ["a"]}', "lone surrogate"),
    (b'{"query": ["a"], "prompts": [[{"role": "user", "content": "\\udfff"}]], "responses": ["r"]}',
     "lone surrogate"),
])
def test_hostile_json_gets_400_and_the_server_keeps_serving(server, body, error):
    scorer = SlowScorer()
    _, url = server(scorer)
    reply = raw(url, b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    code, data = status_and_json(reply)
    assert code == 400 and error in data["error"]
    assert scorer.calls == []
    assert requests.post(url, json={"query": ["ab"]}, timeout=10).json()["rewards"] == [2.0]


# issue 30, 4 and 11
@pytest.mark.parametrize("headers, error", [
    ("Content-Length: \u00b2\r\n", "is not a non-negative integer of at most 15 digits"),
    ("Content-Length: " + "9" * 5000 + "\r\n", "is not a non-negative integer of at most 15 digits"),
    ("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", "Transfer-Encoding is not accepted"),
    ("Content-Length: 2\r\nContent-Length: 3\r\n", "more than one Content-Length header"),
    ("Content-Length: 2\r\nContent-Length: 2\r\n", "more than one Content-Length header"),
])
def test_lengths_are_ascii_digits_and_there_is_one(server, headers, error):
    _, url = server()
    reply = raw(url, b"POST /get_reward HTTP/1.1\r\nHost: x\r\n" + headers.encode() + b"\r\n{}")
    code, data = status_and_json(reply)
    assert code == 400 and error in data["error"]


def test_a_token_is_checked_before_its_expiry_is_read(server):
    from rlhf_eval.rm.tokens import mint
    _, url = server(signing_key="k")
    good = mint("k", "job", 3600)
    _, name, expires, sig = good.split(".")
    body = json.dumps({"query": ["ab"]}).encode()
    for bad in (f"rmt1.{name}.{'9' * 5000}.{sig}", f"rmt1.{name}.0{expires}.{sig}",
                f"rmt1.{name}.{expires.translate(str.maketrans('0123456789', '٠١٢٣٤٥٦٧٨٩'))}.{sig}"):
        reply = raw(url, b"POST /get_reward HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + bad.encode()
                    + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        code, data = status_and_json(reply)
        assert code == 401 and data["error"] == "bad signature"
    for scheme in ("Bearer", "bearer", "BEARER"):
        r = requests.post(url, json={"query": ["ab"]}, headers={"Authorization": f"{scheme} {good}"}, timeout=10)
        assert r.status_code == 200, scheme


def test_roles_are_system_user_or_assistant(server):
    scorer = SlowScorer()
    _, url = server(scorer)
    r = requests.post(url, json={"query": ["a"], "responses": ["r"], "prompts": [
        [{"role": "user", "content": "q"}, {"role": "tool", "content": "x"}]]}, timeout=10)
    assert r.status_code == 400 and "'prompts'[0][1] has role 'tool'; roles are system, user, assistant" in \
        r.json()["error"]
    assert scorer.calls == []


def test_a_client_that_leaves_stops_its_request(server):
    """4,000 rows in slices of 50 at 2.5 ms a row take 10 s; the client leaves after 0.5 s, and
    the server stops queuing its slices."""
    scorer = SlowScorer(per_row_s=0.0025)
    srv, url = server(scorer, max_batch=50, max_wait_ms=1)
    body = json.dumps({"query": ["qrrr"] * 4000, "prompts": ["q"] * 4000}).encode()
    with socket.create_connection(("127.0.0.1", int(url.split(":")[2].split("/")[0])), timeout=10) as s:
        s.sendall(b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while srv.batcher.dropped == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.batcher.dropped == 1
    time.sleep(0.3)
    assert sum(scorer.calls) < 1000  # of 4,000 rows
    assert requests.post(url, json={"query": ["ab"]}, timeout=10).json()["rewards"] == [2.0]
