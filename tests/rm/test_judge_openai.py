"""The OpenAI-compatible judge backend, driven by the official `openai` client against a real
server on loopback (`rlhf-eval serve-judge`'s, serving a tiny transformers model): the same
answers as the model asked directly, token accounting, retries on server errors, timeouts,
tokens, and a wrong model name."""
import math
import time

import pytest

from rlhf_eval.config import JudgeConfig
from rlhf_eval.rm.http import serve_in_thread
from rlhf_eval.rm.judge import GenerativeJudge
from rlhf_eval.rm.judge_answers import verdict_probability
from rlhf_eval.rm.judge_openai import TOP_LOGPROBS, JudgeEndpointError, OpenAIJudge
from rlhf_eval.rm.judge_transformers import TransformersJudge
from rlhf_eval.rm.judgments import JudgmentCache
from rlhf_eval.rm.serve_judge import make_judge_server

PROMPTS = ["sort these letters in alphabetical order : c a b", "sort these letters in alphabetical order : z y",
           "sort these letters in alphabetical order : d c b a e", "sort these letters in alphabetical order : q"]
RESPONSES = ["a b c done", "z y", "the sorted letters are : a b c d e done", "q done"]
CONFIG = dict(template="{{ prompt }} = {{ response }}", yes_token="done", no_token="the")


@pytest.fixture(scope="module")
def local(tiny_lm):
    return TransformersJudge(tiny_lm, batch_size=4)


def served(backend, **kw):
    server = make_judge_server(backend, "tiny-judge", **kw)
    return server, serve_in_thread(server, "/v1").rstrip("/")


def api_judge(url, tmp_path, *, retries=0, timeout_s=30.0, model="tiny-judge", key_env=None, **cfg):
    backend = OpenAIJudge(url, model, key_env, concurrency=3, retries=retries, timeout_s=timeout_s)
    return GenerativeJudge("api", backend, JudgeConfig(**CONFIG | cfg), JudgmentCache(tmp_path / "api.sqlite"))


def test_verdict_tokens_through_the_api_match_the_model(local, tmp_path):
    server, url = served(local)
    j = api_judge(url, tmp_path)
    got = j.score(PROMPTS, RESPONSES)
    assert server.served["requests"] == len(PROMPTS) and j.counts["calls"] == len(PROMPTS)
    # The API returns the 20 likeliest next tokens; a verdict word outside them has probability 0 there.
    for p, r, g in zip(PROMPTS, RESPONSES, got):
        top = local.top_tokens([[{"role": "user", "content": f"{p} = {r}"}]], TOP_LOGPROBS)[0]
        probs = {t.strip(): math.exp(lp) for t, lp, _ in top}
        want = verdict_probability(probs, "done", "the")
        assert (math.isnan(g) and want is None) or g == pytest.approx(want, rel=1e-4)
    assert j.counts["tokens_in"] > 0


def test_a_completion_style_judge_is_served_and_asked_on_completions(local, tmp_path):
    """judge.chat: false: the raw text goes to /v1/completions, whose top log-probabilities give the
    model's own verdict probabilities; chat completions refuse such a judge, saying why."""
    import requests

    server, url = served(local, chat=False)
    j = api_judge(url, tmp_path, chat=False)
    got = j.score(PROMPTS, RESPONSES)
    assert server.served["requests"] == len(PROMPTS)
    # as on chat completions, the 20 likeliest next tokens (here of the raw text, no chat template)
    for p, r, g in zip(PROMPTS, RESPONSES, got):
        top = local.top_tokens([f"{p} = {r}"], TOP_LOGPROBS)[0]
        want = verdict_probability({t.strip(): math.exp(lp) for t, lp, _ in top}, "done", "the")
        assert (math.isnan(g) and want is None) or g == pytest.approx(want, rel=1e-4)
    assert not all(math.isnan(g) for g in got)
    generated = api_judge(url, tmp_path / "g", chat=False, parser="rating", max_new_tokens=5)
    plain = GenerativeJudge("plain", local, JudgeConfig(**CONFIG, chat=False, parser="rating", max_new_tokens=5),
                            JudgmentCache(tmp_path / "p.sqlite"))
    texts = [plain.conversation(prompt=p, response=r) for p, r in zip(PROMPTS, RESPONSES)]
    assert isinstance(texts[0], str)
    assert [a["text"] for a in generated.ask(texts)] == [a["text"] for a in plain.ask(texts)]
    chat = requests.post(url + "/chat/completions", json={"model": "tiny-judge", "messages": [
        {"role": "user", "content": "q"}]}, timeout=30)
    assert chat.status_code == 400 and "trained completion-style (judge.chat: false)" in chat.json()["error"]["message"]
    models = requests.get(url + "/models", timeout=30).json()
    assert [m["id"] for m in models["data"]] == ["tiny-judge"] and models["object"] == "list"
    bad = requests.post(url + "/completions", json={"model": "tiny-judge", "prompt": "q", "stream": True}, timeout=30)
    assert bad.status_code == 400 and "'stream'" in bad.json()["error"]["message"]


def test_a_chat_judge_refuses_completions(local):
    import requests
    _, url = served(local)
    r = requests.post(url + "/completions", json={"model": "tiny-judge", "prompt": "q"}, timeout=30)
    assert r.status_code == 400 and "trained on chat messages" in r.json()["error"]["message"]


def test_generated_answers_through_the_api_match_the_model(local, tmp_path):
    server, url = served(local)
    over_api = api_judge(url, tmp_path, parser="rating", max_new_tokens=5)
    direct = GenerativeJudge("direct", local, JudgeConfig(**CONFIG, parser="rating", max_new_tokens=5),
                             JudgmentCache(tmp_path / "direct.sqlite"))
    conversations = [over_api.conversation(prompt=p, response=r) for p, r in zip(PROMPTS, RESPONSES)]
    assert [a["text"] for a in over_api.ask(conversations)] == [a["text"] for a in direct.ask(conversations)]
    assert over_api.counts["tokens_out"] == direct.counts["tokens_out"] > 0
    assert over_api.counts["tokens_in"] == direct.counts["tokens_in"]


class Flaky:
    """Fails its first `fail` requests (HTTP 500), then answers as the model does."""
    def __init__(self, inner, fail):
        self.inner, self.fail, self.model_id = inner, fail, inner.model_id

    def __getattr__(self, name):  # context_length, prompt_tokens: the model's
        return getattr(self.inner, name)

    def top_tokens(self, conversations, k):
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("worker lost")
        return self.inner.top_tokens(conversations, k)


class Slow:
    def __init__(self, inner, seconds):
        self.inner, self.seconds = inner, seconds

    def __getattr__(self, name):  # context_length, prompt_tokens: the model's
        return getattr(self.inner, name)

    def top_tokens(self, conversations, k):
        time.sleep(self.seconds)
        return self.inner.top_tokens(conversations, k)


def test_server_errors_are_retried_with_backoff(local, tmp_path):
    server, url = served(Flaky(local, fail=2))
    j = api_judge(url, tmp_path, retries=3)
    [score] = j.score(PROMPTS[:1], RESPONSES[:1])
    assert server.served["requests"] == 3 and j.counts["calls"] == 1  # two 500s, then an answer
    server, url = served(Flaky(local, fail=5))
    with pytest.raises(JudgeEndpointError, match=r"failed after 1 retries: InternalServerError"):
        api_judge(url, tmp_path / "b", retries=1).score(PROMPTS[:1], RESPONSES[:1])
    assert server.served["requests"] == 2


def test_a_slow_endpoint_times_out_and_is_retried(local, tmp_path):
    server, url = served(Slow(local, seconds=1.5))
    started = time.monotonic()
    with pytest.raises(JudgeEndpointError, match="APITimeoutError"):
        api_judge(url, tmp_path, retries=1, timeout_s=0.3).score(PROMPTS[:1], RESPONSES[:1])
    assert time.monotonic() - started < 5
    time.sleep(1.6)  # let the server finish the abandoned request
    # the retry, waiting for the model when its client gave up, is dropped, not generated (issue 30, 11)
    assert server.served == {"requests": 1, "dropped": 1}


def test_tokens_and_model_names_are_checked(local, tmp_path, monkeypatch):
    server, url = served(local, token="s3cret")
    monkeypatch.setenv("JUDGE_KEY", "s3cret")
    ok = api_judge(url, tmp_path, key_env="JUDGE_KEY")
    ok.score(PROMPTS[:1], RESPONSES[:1])
    assert ok.counts["calls"] == 1 and server.served["requests"] == 1
    monkeypatch.setenv("JUDGE_KEY", "wrong")
    with pytest.raises(JudgeEndpointError, match="AuthenticationError"):
        api_judge(url, tmp_path / "b", key_env="JUDGE_KEY").score(PROMPTS[:1], RESPONSES[:1])
    monkeypatch.delenv("JUDGE_KEY")
    with pytest.raises(ValueError, match="JUDGE_KEY .api_key_env. is not set"):
        api_judge(url, tmp_path / "c", key_env="JUDGE_KEY")
    server, url = served(local)
    with pytest.raises(JudgeEndpointError, match="model 'other' is not served here"):
        api_judge(url, tmp_path / "d", model="other").score(PROMPTS[:1], RESPONSES[:1])


def test_serve_judge_serves_a_card_until_sigterm(tiny_lm, tmp_path):
    import os
    import signal
    import subprocess

    from conftest import cli

    cards = tmp_path / "cards" / "reward_models"
    cards.mkdir(parents=True)
    (cards / "tiny.yaml").write_text(f"kind: generative\npath: {tiny_lm}\njudge: {{template: '{{{{ prompt }}}} = "
                                     "{{ response }}', yes_token: done, no_token: the}\n")
    env = dict(os.environ, RLHF_EVAL_CARDS=str(tmp_path / "cards"), RLHF_EVAL_CACHE=str(tmp_path / "cache"))
    proc = subprocess.Popen(cli("serve-judge", "tiny", "--port", "0"), cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving judge 'tiny' as model 'tiny' on http://127.0.0.1:" in line, line + proc.stdout.read()
        url = line.split(" on ")[1].split(" ")[0]
        j = api_judge(url, tmp_path, model="tiny")
        assert len(j.score(PROMPTS, RESPONSES)) == len(PROMPTS) and j.counts["calls"] == len(PROMPTS)
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0 and "serve-judge stopped" in out


def test_bad_chat_requests_get_a_reason_and_the_server_keeps_serving(local):
    import requests

    from rlhf_eval.rm.http import Limits

    server, url = served(local, limits=Limits(max_chars=500))
    ask = "/chat/completions"
    good = {"model": "tiny-judge", "messages": [{"role": "user", "content": "sort these letters : b a"}],
            "max_tokens": 1, "logprobs": True, "top_logprobs": 2}
    cases = [({"messages": []}, 400, "'messages' must be a non-empty list"),
             ({"messages": [{"role": "user"}]}, 400, "must be {role, content}"),
             (good | {"stream": True}, 400, "'stream': true is not supported here; send stream: false"),
             (good | {"n": 2}, 400, "only n = 1"),
             (good | {"max_tokens": 5}, 400, "one-token answers only"),
             (good | {"top_logprobs": 50}, 400, "'top_logprobs' = 50 is out of range"),
             (good | {"temperature": -1}, 400, "'temperature' = -1 is out of range"),
             (good | {"messages": [{"role": "user", "content": "x" * 501}]}, 413, "over the 500-character limit"),
             (good | {"model": "other"}, 404, "is not served here")]
    for body, code, message in cases:
        r = requests.post(url + ask, json=body, timeout=30)
        assert r.status_code == code and message in r.json()["error"]["message"], (body, r.text)
    r = requests.post(url + ask, json=good, timeout=30)
    top = r.json()["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    assert r.status_code == 200 and len(top) == 2 and top[0]["logprob"] >= top[1]["logprob"]
    assert r.json()["usage"]["completion_tokens"] == 1 and server.served["requests"] == 1


# issue 30, items 3, 11, 12: every field bounded, input past the model's context refused
@pytest.mark.parametrize("body, code, error", [
    ('{"model": "tiny-judge", "messages": [{"role": "user", "content": "q"}], "max_tokens": 0}', 400,
     "'max_tokens' = 0 is out of range (1 to 128, the model's context)"),
    ('{"model": "tiny-judge", "messages": [{"role": "user", "content": "q"}], "max_tokens": 1000000000}', 400,
     "'max_tokens' = 1000000000 is out of range"),
    ('{"model": "tiny-judge", "messages": [{"role": "user", "content": "q"}], "max_completion_tokens": 0,'
     ' "max_tokens": 5}', 400, "'max_completion_tokens' = 0 is out of range"),
    ('{"model": "tiny-judge", "messages": [{"role": "user", "content": "q"}], "temperature": Infinity}', 400,
     "'temperature' = inf is out of range (0 to 2)"),
    ('{"model": "tiny-judge", "messages": [{"role": "user", "content": "q"}], "temperature": NaN}', 400,
     "'temperature' = nan is out of range"),
    ('{"model": "tiny-judge", "messages": [{"role": "tool", "content": "q"}]}', 400,
     "'messages'[0] has role 'tool'; roles are system, user, assistant"),
    ('{"model": "tiny-judge", "messages": [{"role": "user", "content": "\\ud800"}]}', 400, "lone surrogate"),
    ('{"model": "tiny-judge", "messages": ' + "[" * 100_000 + "]" * 100_000 + "}", 400,
     "JSON nested deeper than 64 levels"),
    ('{"model": "tiny-judge", "messages": [{"role": "user", "content": "' + "a b " * 2000 + '"}], "max_tokens": 4}',
     413, "with max_tokens 4 that is over the model's context of 128 tokens"),
])
def test_serve_judge_bounds_every_field(local, body, code, error):
    import requests
    server, url = served(local)
    t0 = time.monotonic()
    r = requests.post(url + "/chat/completions", data=body.encode(), timeout=30,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == code and error in r.json()["error"]["message"], r.text
    assert server.served["requests"] == 0 and time.monotonic() - t0 < 10  # the model never ran
