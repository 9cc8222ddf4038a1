"""Serve a causal LM as an OpenAI-compatible chat-completions endpoint, POST /v1/chat/completions:
as much of the API as a judge uses, so the `openai` judge backend (and any OpenAI client) can
talk to a local model over loopback the way it talks to vLLM's or SGLang's server.

- In: `model` (must be the served name), `messages` ({role, content} strings; roles system,
  user, assistant), `temperature` (0-2), `max_tokens` or `max_completion_tokens` (1 to the
  model's context; default 256; messages plus max_tokens past the context get 413), `logprobs`
  and `top_logprobs` (0-20), `n` = 1 only, no streaming. Out: one choice, `usage` (prompt and
  completion tokens), and with `logprobs` the first token's `top_logprobs` (only one-token
  answers carry log-probabilities here).
- One request at a time goes through the model. Binding, tokens and limits: rlhf_eval.rm.http.
"""
from __future__ import annotations

import threading
import time
import uuid
from http.server import ThreadingHTTPServer

from rlhf_eval.rm.http import Limits, TooLarge, check_roles, json_server, load_json

PATH = "/v1/chat/completions"


DEFAULT_MAX_TOKENS = 256


def parse_chat(data, limits: Limits, served: str, context: int = 1 << 20) -> dict:
    """A request's fields, each checked; `context` bounds max_tokens (the model's length)."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
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
    if data.get("model", served) != served:
        raise LookupError(f"model {data.get('model')!r} is not served here (serving {served!r})")
    if data.get("stream"):
        raise ValueError("stream is not supported")
    if data.get("n", 1) != 1:
        raise ValueError("only n = 1 is supported")
    given = [k for k in ("max_completion_tokens", "max_tokens") if data.get(k) is not None]
    max_tokens = data[given[0]] if given else min(DEFAULT_MAX_TOKENS, context)
    temperature = data.get("temperature", 1.0)
    top = data.get("top_logprobs") or 0
    for name, value, ok, limit in (
            (given[0] if given else "max_tokens", max_tokens,
             isinstance(max_tokens, int) and 1 <= max_tokens <= context, f"1 to {context}, the model's context"),
            ("temperature", temperature, isinstance(temperature, (int, float)) and 0 <= temperature <= 2, "0 to 2"),
            ("top_logprobs", top, isinstance(top, int) and 0 <= top <= 20, "0 to 20")):
        if not ok or isinstance(value, bool):  # (0 <= nan is False, and inf > 2)
            raise ValueError(f"'{name}' = {value!r} is out of range ({limit})")
    logprobs = bool(data.get("logprobs"))
    if logprobs and max_tokens != 1:
        raise ValueError("this server returns log-probabilities for one-token answers only (max_tokens = 1)")
    return {"messages": messages, "max_tokens": max_tokens, "max_tokens_given": bool(given),
            "temperature": float(temperature), "logprobs": logprobs, "top_logprobs": top}


def make_judge_server(backend, model: str, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                      limits: Limits = Limits(), signing_key: str | None = None) -> ThreadingHTTPServer:
    """`backend`: a TransformersJudge (rm/judge_transformers.py)."""
    lock = threading.Lock()
    served = {"requests": 0, "dropped": 0}

    context = backend.context_length()

    def chat(body: bytes, gone=lambda: False) -> tuple[int, dict] | None:
        try:
            req = parse_chat(load_json(body), limits, model, context)
            n_in = backend.prompt_tokens(req["messages"])
            if not req["max_tokens_given"]:  # the default answers in what the context leaves
                req["max_tokens"] = max(1, min(req["max_tokens"], context - n_in))
            if n_in + req["max_tokens"] > context:  # refused: cutting a judge's prompt changes the question
                raise TooLarge(f"the messages are {n_in} tokens; with max_tokens {req['max_tokens']} that is over "
                               f"the model's context of {context} tokens")
        except TooLarge as exc:
            return 413, {"error": {"message": str(exc), "type": "invalid_request_error"}}
        except LookupError as exc:
            return 404, {"error": {"message": str(exc), "type": "invalid_request_error"}}
        except (ValueError, TypeError) as exc:
            return 400, {"error": {"message": f"bad request: {exc}", "type": "invalid_request_error"}}
        try:
            with lock:
                if gone():  # it waited for the model and left: nobody reads the answer
                    served["dropped"] += 1
                    return None
                served["requests"] += 1
                if req["logprobs"]:
                    top = backend.top_tokens([req["messages"]], max(req["top_logprobs"], 1))[0]
                    text, n_in, n_out = top[0][0], top[0][2], 1
                    logprobs = {"content": [{"token": top[0][0], "logprob": top[0][1], "top_logprobs": [
                        {"token": t, "logprob": lp} for t, lp, _ in top[:req["top_logprobs"]]]}]}
                else:
                    a = backend.answer([req["messages"]], {"temperature": req["temperature"],
                                                           "max_new_tokens": req["max_tokens"]})[0]
                    text, n_in, n_out, logprobs = a["text"], a["tokens_in"], a["tokens_out"], None
        except Exception as exc:
            return 500, {"error": {"message": f"generation failed: {type(exc).__name__}: {exc}",
                                   "type": "server_error"}}
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": logprobs,
                         "finish_reason": "length" if n_out >= req["max_tokens"] else "stop"}],
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}}

    server = json_server({PATH: chat}, "serve-judge", host, port, token, limits, signing_key)
    server.served = served
    return server
