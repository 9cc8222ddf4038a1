"""The remote-RM server through a real HTTP client: protocol round trip, tokens, bad bodies,
cross-request batching. The scorer here is a stand-in (reward = response length), since what is
under test is the server; test_bon_depth serves a real toy RM."""
import json
import threading

import pytest
import requests
from typer.testing import CliRunner

from rlhf_eval.cli import app
from rlhf_eval.rm.serve import Limits, make_server, serve_in_thread


class LengthScorer:
    """Stand-in scorer: reward = number of characters of the response (for text as sent: of
    what follows the prompt)."""

    def __init__(self):
        self.calls = []

    def score(self, prompts, responses):
        self.calls.append(len(responses))
        return [float(len(r)) for r in responses]

    def score_texts(self, queries, prompts):
        self.calls.append(len(queries))
        return [float(len(q) - len(p)) for q, p in zip(queries, prompts)]


@pytest.fixture
def served():
    scorer = LengthScorer()
    server, url = serve_in_thread(scorer, token="tok", limits=Limits(max_body=2000), max_wait_ms=50)
    yield scorer, server, url
    server.shutdown()


def test_protocol_round_trip_and_tokens(served):
    _, _, url = served
    body = {"query": ["sort: b a" + "a b", "q" + "xyz"], "prompts": ["sort: b a", "q"], "labels": ["", ""]}
    r = requests.post(url, json=body, headers={"Authorization": "Bearer tok"}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"rewards": [3.0, 3.0], "scores": [3.0, 3.0], "extra_logs": {}}
    # OpenRLHF's client sends no headers: the token may come in the URL.
    assert requests.post(url + "?token=tok", json=body, timeout=10).json()["rewards"] == [3.0, 3.0]
    for bad in ({}, {"Authorization": "Bearer nope"}):
        r = requests.post(url, json=body, headers=bad, timeout=10)
        assert r.status_code == 401 and "token" in r.json()["error"]
    assert requests.post(url + "?token=nope", json=body, timeout=10).status_code == 401


def test_bad_bodies_get_4xx_and_the_server_keeps_serving(served):
    _, _, url = served
    h = {"Authorization": "Bearer tok"}
    r = requests.post(url, data="{not json", headers=h, timeout=10)
    assert r.status_code == 400 and "bad request" in r.json()["error"]
    r = requests.post(url, json={"query": "not a list"}, headers=h, timeout=10)
    assert r.status_code == 400 and "list 'query'" in r.json()["error"]
    r = requests.post(url, json={"query": ["a", "b"], "prompts": ["a"]}, headers=h, timeout=10)
    assert r.status_code == 400 and "differ in length" in r.json()["error"]
    r = requests.post(url, json={"query": ["x" * 5000]}, headers=h, timeout=10)
    assert r.status_code == 413 and "2000-byte limit" in r.json()["error"]
    r = requests.post(url.replace("/get_reward", "/other"), json={"query": []}, headers=h, timeout=10)
    assert r.status_code == 404
    assert requests.post(url, json={"query": ["ab"]}, headers=h, timeout=10).json()["rewards"] == [2.0]


def test_concurrent_requests_are_batched(served):
    scorer, server, url = served
    results = {}

    def call(i):
        body = {"query": ["p" + "r" * i], "prompts": ["p"]}
        results[i] = requests.post(url + "?token=tok", json=body, timeout=30).json()["rewards"]
    threads = [threading.Thread(target=call, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: [float(i)] for i in range(32)}  # every caller got its own rows back
    assert sum(scorer.calls) == 32 and len(scorer.calls) < 32  # fewer model calls than requests


def test_refuses_open_bind_without_token():
    with pytest.raises(ValueError, match="refusing to serve on 0.0.0.0 without a token"):
        make_server(LengthScorer(), host="0.0.0.0")


def test_serve_rm_cli_errors(tmp_path, monkeypatch):
    r = CliRunner().invoke(app, ["serve-rm", "classifier-curated"])
    assert r.exit_code == 2 and "has no `path` (a recipe trains it); give --run RUN_DIR" in r.output
    r = CliRunner().invoke(app, ["serve-rm", "classifier-curated", "--run", str(tmp_path)])
    assert r.exit_code == 2 and "no plan.json" in r.output
    (tmp_path / "plan.json").write_text(json.dumps({"nodes": []}))
    r = CliRunner().invoke(app, ["serve-rm", "classifier-curated", "--run", str(tmp_path)])
    assert r.exit_code == 2 and "no finished train_rm node for RM 'classifier-curated'" in r.output
    cards = tmp_path / "reward_models"
    cards.mkdir()
    (cards / "ab.yaml").write_text(f"name: ab\nkind: generative\npath: {tmp_path}\njudge: {{mode: pairwise}}\n")
    monkeypatch.setenv("RLHF_EVAL_CARDS", str(tmp_path))
    r = CliRunner().invoke(app, ["serve-rm", "ab"])
    assert r.exit_code == 2 and "RM card 'ab' is a pairwise judge: it gives no reward to one response" in r.output
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    r = CliRunner().invoke(app, ["serve-rm", "x", "--token-env", "NO_SUCH_TOKEN"])
    assert r.exit_code == 2 and "NO_SUCH_TOKEN: that environment variable is not set" in r.output


def test_openrlhf_shape_is_scored_as_sent_and_the_project_shape_is_templated(served):
    scorer, _, url = served
    templated = "<|user|> q <|end|> <|assistant|> "
    # OpenRLHF's shape: no `responses`; the query is scored as sent.
    r = requests.post(url + "?token=tok", json={"query": [templated + "xyz <|end|>"], "prompts": [templated],
                                               "labels": ["a"]}, timeout=10)
    assert r.json()["rewards"] == [float(len("xyz <|end|>"))]
    # The project's client: raw prompt and bare response.
    r = requests.post(url + "?token=tok", json={"query": ["qxyz"], "prompts": ["q"], "responses": ["xyz"]}, timeout=10)
    assert r.json()["rewards"] == [3.0]
    r = requests.post(url + "?token=tok", json={"query": ["a"], "prompts": [["not", "a string"]]}, timeout=10)
    assert r.status_code == 400 and "'prompts'[0] must be a string (the formatted prompt)" in r.json()["error"]


def test_job_tokens_name_one_job_and_expire(monkeypatch):
    from rlhf_eval.rm.tokens import TokenError, check, mint, parse_duration

    t = mint("key", "grpo-run-1", 3600, now=1000)
    assert t.startswith("rmt1.grpo-run-1.4600.") and check(t, "key", now=1001) is None
    assert check(t, "key", job="grpo-run-1", now=4599) is None
    assert "expired at" in check(t, "key", now=4600)
    assert check(t, "other-key", now=1001) == "bad signature"
    assert check(t.replace("grpo-run-1", "grpo-run-2"), "key", now=1001) == "bad signature"
    assert "accepts job 'other' only" in check(t, "key", job="other", now=1001)
    assert check("plain", "key") == "not a job token"
    assert parse_duration("12h") == 43200 and parse_duration("90") == 90
    with pytest.raises(TokenError, match="letters, digits"):
        mint("key", "a.b", 60)

    server, url = serve_in_thread(LengthScorer(), signing_key="key", job="job-a")
    try:
        body = {"query": ["qxy"], "prompts": ["q"]}
        ok = mint("key", "job-a", 60)
        assert requests.post(f"{url}?token={ok}", json=body, timeout=10).json()["rewards"] == [2.0]
        assert requests.post(url, json=body, headers={"Authorization": f"Bearer {ok}"}, timeout=10).status_code == 200
        r = requests.post(f"{url}?token={mint('key', 'job-b', 60)}", json=body, timeout=10)
        assert r.status_code == 401 and "accepts job 'job-a' only" in r.json()["error"]
        r = requests.post(f"{url}?token={mint('key', 'job-a', 1, now=0)}", json=body, timeout=10)
        assert r.status_code == 401 and "expired" in r.json()["error"]
        # A non-ASCII token is refused with a reply, not a dropped connection.
        r = requests.post(f"{url}?token=%C3%A9", json=body, timeout=10)
        assert r.status_code == 401
    finally:
        server.shutdown()
    with pytest.raises(ValueError, match="needs a signing key"):
        make_server(LengthScorer(), job="job-a")

    monkeypatch.setenv("SIGNING_KEY", "key")
    r = CliRunner().invoke(app, ["rm-token", "--job", "job-a", "--signing-key-env", "SIGNING_KEY", "--ttl", "2h"])
    assert r.exit_code == 0 and check(r.output.strip(), "key", job="job-a") is None
    r = CliRunner().invoke(app, ["rm-token", "--job", "job a", "--signing-key-env", "SIGNING_KEY"])
    assert r.exit_code == 2 and "letters, digits" in r.output
