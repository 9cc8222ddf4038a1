"""A generative judge as an RM (kind: generative), whatever engine answers it.

The judge renders its prompt (a jinja template) for each response, or pair of responses, asks its
backend, and reads the answer with the card's parser (rm.judge_answers). Every answer goes through the
judgment cache first, so nothing is asked twice. Calls, cache hits, parse failures and tokens are
counted on the judge, and the stages report them.

- pointwise: `score(prompts, responses)`, one number per response: P(yes) / (P(yes) + P(no)) of
  the judge's next token, or a parsed rating. An unreadable answer scores nan and is counted.
- pairwise: `judge_pairs(prompts, a, b)` asks in both orders, (A=a, B=b) and (A=b, B=a), and
  returns both decisions read as decisions on (a, b); a pair whose two decisions differ is a
  position flip. A pairwise judge gives no score to a single response.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from rlhf_eval.config import JudgeConfig
from rlhf_eval.data.pairs import prompt_text
from rlhf_eval.errors import UserError
from rlhf_eval.rm.judge_answers import parse_decision, parse_rating, unswap, verdict_probability
from rlhf_eval.rm.judgments import JudgmentCache, cache_path, judgment_key

TEMPLATES = {
    "pointwise": ("Here is a request and a response to it.\n\n[Request]\n{{ prompt }}\n\n[Response]\n{{ response }}"
                  "\n\nIs the response correct and helpful? Answer with one word: yes or no."),
    "pairwise": ("Here is a request and two responses to it, A and B.\n\n[Request]\n{{ prompt }}\n\n"
                 "[Response A]\n{{ response_a }}\n\n[Response B]\n{{ response_b }}\n\n"
                 "Which response is better? Explain briefly, then end with your verdict: [[A]] if A is better, "
                 "[[B]] if B is better, [[C]] for a tie."),
}
ANSWER_BATCH = 64  # answers are committed to the cache every this many


def judge_report(scorer) -> dict | None:
    """A generative judge's counts and cost for a node's outputs; None for other scorers."""
    return scorer.report() if isinstance(scorer, GenerativeJudge) else None


def after_prefix(text: str, prefix: str) -> str | None:
    """`text` after `prefix`, whitespace aside (decoding a prompt and its response together puts
    spaces between special tokens that the prompt alone has not); None when it does not start so."""
    i = 0
    for ch in prefix:
        if ch.isspace():
            continue
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text) or text[i] != ch:
            return None
        i += 1
    return text[i:]


def is_pairwise(scorer) -> bool:
    return isinstance(scorer, GenerativeJudge) and scorer.judge.mode == "pairwise"


@contextmanager
def judge_progress(scorer, bar, what: str):
    """While a generative judge answers (an API judge may take hours), a bar of its new answers;
    bar(label, total) is a node's (NodeContext.bar) or the terminal's."""
    if not isinstance(scorer, GenerativeJudge):
        yield
        return
    with bar(f"{what}: judge answers not in the cache", None) as update:
        scorer.progress = update
        try:
            yield
        finally:
            scorer.progress = None


class JudgeBackend(Protocol):
    model_id: str  # names the model (and its weights) in the judgment cache

    def answer(self, conversations: list, sampling: dict,
               verdict_tokens: tuple[str, str] | None = None) -> list[dict]:
        """One answer per conversation (chat messages, or raw text for a completion-style judge):
        {"text", "probs", "tokens_in", "tokens_out"}. With verdict_tokens, no text is generated:
        `probs` holds the next token's probability of each."""


def load_template(template: str | None, mode: str):
    source = template or TEMPLATES[mode]
    if template and "{" not in template and Path(template).is_file():
        source = Path(template).read_text()
    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True).from_string(source)


def judge_messages(judge: JudgeConfig, template, **fields) -> list[dict] | str:
    """What a judge is asked: its system message, then the rendered prompt as a user message;
    or, for a completion-style judge (chat: false), the rendered text itself."""
    if not judge.chat:
        return template.render(**fields)
    system = [{"role": "system", "content": judge.system}] if judge.system else []
    return system + [{"role": "user", "content": template.render(**fields)}]


def training_examples(judge: JudgeConfig, pairs: list[dict]) -> list[tuple[list[dict] | str, str]]:
    """(conversation, answer) pairs that teach a judge the card's own prompt from preference
    pairs. pointwise: the chosen response is answered yes_token and the rejected no_token;
    pairwise: each pair in both orders, answered A or B (read by the decision parser)."""
    template, out = load_template(judge.template, judge.mode), []
    for p in pairs:
        prompt = prompt_text(p["prompt"])
        if judge.mode == "pointwise":
            out.append((judge_messages(judge, template, prompt=prompt, response=p["chosen"]), judge.yes_token))
            out.append((judge_messages(judge, template, prompt=prompt, response=p["rejected"]), judge.no_token))
        else:
            out.append((judge_messages(judge, template, prompt=prompt, response_a=p["chosen"],
                                       response_b=p["rejected"]), "A"))
            out.append((judge_messages(judge, template, prompt=prompt, response_a=p["rejected"],
                                       response_b=p["chosen"]), "B"))
    return out


@dataclass
class GenerativeJudge:
    name: str
    backend: JudgeBackend
    judge: JudgeConfig
    cache: JudgmentCache | None = None
    progress: Callable[[int, int], None] | None = None
    truncated: int = 0  # the Scorer interface's; a judge's prompt is never cut here
    counts: dict = field(default_factory=lambda: {"calls": 0, "cached": 0, "parse_failures": 0,
                                                  "tokens_in": 0, "tokens_out": 0})

    def __post_init__(self):
        self.template = load_template(self.judge.template, self.judge.mode)
        self.parser = self.judge.parser or ("verdict_token" if self.judge.mode == "pointwise" else "decision")
        if self.cache is None:
            self.cache = JudgmentCache(cache_path(self.backend.model_id))

    @property
    def sampling(self) -> dict:
        if self.parser == "verdict_token":
            return {"verdict_tokens": [self.judge.yes_token, self.judge.no_token]}
        return {"temperature": self.judge.temperature, "max_new_tokens": self.judge.max_new_tokens}

    def conversation(self, **fields) -> list[dict] | str:
        return judge_messages(self.judge, self.template, **fields)

    def ask(self, conversations: list) -> list[dict]:
        """The judge's answers, from the cache where it has them; new ones are cached in batches."""
        keys = [judgment_key(self.backend.model_id, c, self.sampling) for c in conversations]
        have = self.cache.get(keys)
        todo = {k: c for k, c in zip(keys, conversations) if k not in have}
        self.counts["cached"] += len(keys) - sum(1 for k in keys if k in todo)
        pending = list(todo.items())
        tokens = (self.judge.yes_token, self.judge.no_token) if self.parser == "verdict_token" else None
        for i in range(0, len(pending), ANSWER_BATCH):
            batch = pending[i:i + ANSWER_BATCH]
            answers = self.backend.answer([c for _, c in batch], self.sampling, tokens)
            new = dict(zip((k for k, _ in batch), answers))
            self.cache.put(new)
            have.update(new)
            self.counts["calls"] += len(batch)
            self.counts["tokens_in"] += sum(a.get("tokens_in", 0) for a in answers)
            self.counts["tokens_out"] += sum(a.get("tokens_out", 0) for a in answers)
            if self.progress:
                self.progress(min(i + ANSWER_BATCH, len(pending)), len(pending))
        return [have[k] for k in keys]

    def _failed(self, value):
        if value is None:
            self.counts["parse_failures"] += 1
        return value

    def score(self, prompts: list, responses: list[str]) -> list[float]:
        if self.judge.mode != "pointwise":
            raise UserError(f"RM '{self.name}' is a pairwise judge: it compares two responses and gives no score to "
                            "one (best-of-n and the benchmarks ask it in pairs; RL needs a pointwise judge)")
        answers = self.ask([self.conversation(prompt=prompt_text(p), response=r) for p, r in zip(prompts, responses)])
        out = []
        for a in answers:
            if self.parser == "verdict_token":
                value = verdict_probability(a["probs"] or {}, self.judge.yes_token, self.judge.no_token)
            else:
                value = parse_rating(a["text"], self.judge.rating_pattern)
            out.append(math.nan if self._failed(value) is None else value)
        return out

    def judge_pairs(self, prompts: list, a: list[str], b: list[str]) -> list[tuple[str | None, str | None]]:
        """(decision with a shown first, decision with b shown first read back as one on (a, b))."""
        if self.judge.mode != "pairwise":
            raise UserError(f"RM '{self.name}' is a pointwise judge; it scores responses one at a time")
        texts = [prompt_text(p) for p in prompts]
        first = self.ask([self.conversation(prompt=t, response_a=x, response_b=y) for t, x, y in zip(texts, a, b)])
        second = self.ask([self.conversation(prompt=t, response_a=y, response_b=x) for t, x, y in zip(texts, a, b)])
        return [(self._failed(parse_decision(f["text"])), self._failed(unswap(parse_decision(s["text"]))))
                for f, s in zip(first, second)]

    def report(self) -> dict:
        """What a node records: the counts, and the cost at the card's token prices."""
        cost = (self.counts["tokens_in"] * self.judge.price_input_per_mtok
                + self.counts["tokens_out"] * self.judge.price_output_per_mtok) / 1e6
        return dict(self.counts) | {"cost": cost}

    def score_texts(self, queries: list[str], prompts: list[str]) -> list[float]:
        """OpenRLHF's request shape (serve-rm): each query is the policy's formatted prompt and its
        response, decoded with their special tokens, and each prompt the formatted prompt. The
        response is the query after its prompt; the judge reads both without the special tokens
        of its tokenizer (the backend's, where it has one) and without surrounding whitespace. A
        chat template that adds words of its own (a date header, a default system prompt) leaves
        them in the prompt: send the project's shape (`responses`) to such a judge instead."""
        users, responses = [], []
        for i, (q, p) in enumerate(zip(queries, prompts)):
            rest = after_prefix(q, p)
            if rest is None:
                raise ValueError(f"'query'[{i}] does not start with 'prompts'[{i}]: a judge reads the response as the "
                                 "query after its prompt")
            users.append(self.plain_text(p))
            responses.append(self.plain_text(rest))
        return self.score(users, responses)

    def plain_text(self, text: str) -> str:
        tok = getattr(self.backend, "tok", None)
        for special in sorted(getattr(tok, "all_special_tokens", ()), key=len, reverse=True):
            text = text.replace(special, "")
        return text.strip()
