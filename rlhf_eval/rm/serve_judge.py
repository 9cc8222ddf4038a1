"""Serve a judge's causal LM as an OpenAI-compatible endpoint, the way the judge was trained: a chat
judge on POST /v1/chat/completions, a completion-style one (judge.chat: false) on POST
/v1/completions, each refusing the other route with the reason; GET /v1/models lists the model. As
much of the API as a judge uses, so the `openai` judge backend (and any OpenAI client) can talk to
a local model over loopback the way it talks to vLLM's or SGLang's server.

- Chat in: `model` (must be the served name), `messages` ({role, content} strings; roles system,
  user, assistant), `logprobs` and `top_logprobs` (0-20). Completions in: `model`, `prompt` (a
  string, or a list of one), `logprobs` (0-20, the top tokens to return), `echo` false. Both:
  `temperature` (0-2), `max_tokens` (or `max_completion_tokens` on chat; 1 to the model's
  context; default 256; input plus max_tokens past the context get 413), `n` = 1 and `stream`
  false only (each refused with a 400 naming the field). Out: one choice, `usage`, and with
  log-probabilities the first token's top tokens (only one-token answers carry them here).
- One request at a time goes through the model. Binding, tokens and limits: rlhf_eval.rm.http.
"""
from __future__ import annotations

import math
import threading
import time
import uuid
from http.server import ThreadingHTTPServer

from rlhf_eval.rm.http import Limits, TooLarge, check_roles, json_server, load_json

PATH = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MODELS = "/v1/models"
DEFAULT_MAX_TOKENS = 256


def _input(data: dict, limits: Limits, chat: bool):
    """The messages (chat) or prompt text (completions), checked."""
    if not chat:
        prompt = data.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str) or not prompt:
            raise ValueError("'prompt' must be a non-empty string (or a list of one)")
        if len(prompt) > limits.max_chars:
            raise TooLarge(f"'prompt' has {len(prompt)} characters, over the {limits.max_chars}-character limit")
        return prompt
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise ValueError(f"'messages'[{i}] must be {{role, content}} with string values")
        if len(m["content"]) > limits.max_chars:
            raise TooLarge(f"'messages'[{i}] has {len(m['content'])} characters, over the "
                           f"{limits.max_chars}-character limit")
    check_roles(messages, "'messages'")
    return messages


def parse_request(data, limits: Limits, served: str, context: int = 1 << 20, chat: bool = True) -> dict:
    """A chat-completions (chat) or completions request's fields, each checked; `context` bounds
    max_tokens (the model's length)."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    given_input = _input(data, limits, chat)
    if data.get("model", served) != served:
        raise LookupError(f"model {data.get('model')!r} is not served here (serving {served!r})")
    if data.get("stream"):
        raise ValueError("'stream': true is not supported here; send stream: false (or leave it out)")
    if data.get("n", 1) != 1:
        raise ValueError("'n': only n = 1 is supported")
    if not chat and data.get("echo"):
        raise ValueError("'echo': true is not supported here")
    given = [k for k in (("max_completion_tokens", "max_tokens") if chat else ("max_tokens",))
             if data.get(k) is not None]
    max_tokens = data[given[0]] if given else min(DEFAULT_MAX_TOKENS, context)
    temperature = data.get("temperature", 1.0)
    # chat: logprobs is a flag and top_logprobs the count; completions: logprobs is the count
    top = (data.get("top_logprobs") if chat else data.get("logprobs")) or 0
    for name, value, ok, limit in (
            (given[0] if given else "max_tokens", max_tokens,
             isinstance(max_tokens, int) and 1 <= max_tokens <= context, f"1 to {context}, the model's context"),
            ("temperature", temperature, isinstance(temperature, (int, float)) and 0 <= temperature <= 2, "0 to 2"),
            ("top_logprobs" if chat else "logprobs", top, isinstance(top, int) and 0 <= top <= 20, "0 to 20")):
        if not ok or isinstance(value, bool):  # (0 <= nan is False, and inf > 2)
            raise ValueError(f"'{name}' = {value!r} is out of range ({limit})")
    logprobs = bool(data.get("logprobs")) if chat else data.get("logprobs") is not None
    if logprobs and max_tokens != 1:
        raise ValueError("this server returns log-probabilities for one-token answers only (max_tokens = 1)")
    return {"input": given_input, "max_tokens": max_tokens, "max_tokens_given": bool(given),
            "temperature": float(temperature), "logprobs": logprobs, "top_logprobs": top}


def completion_logprobs(top: list[tuple[str, float, int]], k: int) -> dict:
    """The completions API's `logprobs` for one token: its top tokens as {text: logprob}. Tokens
    that decode to the same text share a key, their probabilities summed (a client reads each
    word's probability either way)."""
    tops: dict[str, float] = {}
    for t, lp, _ in top[:k]:
        tops[t] = lp if t not in tops else float(math.log(math.exp(tops[t]) + math.exp(lp)))
    return {"tokens": [top[0][0]], "token_logprobs": [top[0][1]], "top_logprobs": [tops], "text_offset": [0]}


WRONG_ROUTE = {
    True: "this judge was trained on chat messages (judge.chat: true): send them to POST /v1/chat/completions",
    False: "this judge was trained completion-style (judge.chat: false): send its prompt text to POST "
           "/v1/completions; chat messages would be wrapped in a chat template it never saw",
}


def make_judge_server(backend, model: str, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                      limits: Limits = Limits(), signing_key: str | None = None,
                      chat: bool = True) -> ThreadingHTTPServer:
    """`backend`: a TransformersJudge (rm/judge_transformers.py); `chat`: the judge's card's
    judge.chat, which picks the route it is served on."""
    lock = threading.Lock()
    served = {"requests": 0, "dropped": 0}
    started = int(time.time())

    context = backend.context_length()

    def error(code: int, message: str) -> tuple[int, dict]:
        return code, {"error": {"message": message, "type": "invalid_request_error"}}

    def handle(body: bytes, gone, as_chat: bool) -> tuple[int, dict] | None:
        if as_chat != chat:
            return error(400, WRONG_ROUTE[chat])
        try:
            req = parse_request(load_json(body), limits, model, context, chat)
            n_in = backend.prompt_tokens(req["input"])
            if not req["max_tokens_given"]:  # the default answers in what the context leaves
                req["max_tokens"] = max(1, min(req["max_tokens"], context - n_in))
            if n_in + req["max_tokens"] > context:  # refused: cutting a judge's prompt changes the question
                raise TooLarge(f"the {'messages are' if chat else 'prompt is'} {n_in} tokens; with max_tokens "
                               f"{req['max_tokens']} that is over the model's context of {context} tokens")
        except TooLarge as exc:
            return error(413, str(exc))
        except LookupError as exc:
            return error(404, str(exc))
        except (ValueError, TypeError) as exc:
            return error(400, f"bad request: {exc}")
        try:
            with lock:
                if gone():  # it waited for the model and left: nobody reads the answer
                    served["dropped"] += 1
                    return None
                served["requests"] += 1
                if req["logprobs"]:
                    top = backend.top_tokens([req["input"]], max(req["top_logprobs"], 1))[0]
                    text, n_in, n_out = top[0][0], top[0][2], 1
                    if chat:
                        logprobs = {"content": [{"token": top[0][0], "logprob": top[0][1], "top_logprobs": [
                            {"token": t, "logprob": lp} for t, lp, _ in top[:req["top_logprobs"]]]}]}
                    else:
                        logprobs = completion_logprobs(top, req["top_logprobs"])
                else:
                    a = backend.answer([req["input"]], {"temperature": req["temperature"],
                                                        "max_new_tokens": req["max_tokens"]})[0]
                    text, n_in, n_out, logprobs = a["text"], a["tokens_in"], a["tokens_out"], None
        except Exception as exc:
            return 500, {"error": {"message": f"generation failed: {type(exc).__name__}: {exc}",
                                   "type": "server_error"}}
        finish = "length" if n_out >= req["max_tokens"] else "stop"
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": logprobs,
                      "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}
        return 200, {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}",
            "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": model, "choices": [choice],
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}}

    def models() -> dict:
        return {"object": "list", "data": [{"id": model, "object": "model", "created": started,
                                            "owned_by": "rlhf-eval", "max_model_len": context}]}

    routes = {PATH: lambda body, gone=lambda: False: handle(body, gone, True),
              COMPLETIONS: lambda body, gone=lambda: False: handle(body, gone, False)}
    server = json_server(routes, "serve-judge", host, port, token, limits, signing_key, get={MODELS: models})
    server.served = served
    return server
