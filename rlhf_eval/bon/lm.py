"""lm-eval models for best-of-n.

`rlhf_eval_sampler` draws N_max candidates per request once and records them.
`bon` answers each request with a stored candidate: the RM's pick among the first n
(pick="rm"), or candidate k (pick=k), which is how each candidate's gold value comes from
the task's own metric, once per candidate, for every RM and n.

`bon` also runs from lm-eval's own command line, through `rlhf-eval-lm-eval` (lm-eval's CLI with
these models registered), on a run's files:
    rlhf-eval-lm-eval run --model bon --model_args tokenizer=POLICY,candidates=CANDIDATES.jsonl,\
        scores=SCORES.jsonl,n=4 --tasks TASK --include_path TASK_DIR --apply_chat_template
It answers only prompts it has candidates for, rendered with the same chat template.
"""
from __future__ import annotations

import hashlib

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from rlhf_eval.errors import UserError
from rlhf_eval.gen.transformers_backend import cut_at


def prompt_id(context: str) -> str:
    return hashlib.sha1(context.encode()).hexdigest()[:16]


class _ChatLM(LM):
    """Chat formatting with the policy's own template; remembers each rendered prompt's
    user turn so RMs can score (prompt, response) with their own templates."""

    def __init__(self, tokenizer):
        super().__init__()
        self.tok = tokenizer
        self.user_turns: dict[str, str] = {}

    @property
    def tokenizer_name(self) -> str:
        return self.tok.name_or_path.replace("/", "__")

    def chat_template(self, chat_template=False):
        return self.tok.chat_template

    def apply_chat_template(self, chat_history, add_generation_prompt=True) -> str:
        text = self.tok.apply_chat_template(chat_history, tokenize=False,
                                            add_generation_prompt=add_generation_prompt)
        users = [m["content"] for m in chat_history if m["role"] == "user"]
        self.user_turns[text] = users[-1] if users else ""
        return text

    def loglikelihood(self, requests):
        raise NotImplementedError(f"{type(self).__name__} answers generate_until tasks only; "
                                  "loglikelihood tasks cannot be scored by best-of-n")

    loglikelihood_rolling = loglikelihood


@register_model("rlhf_eval_sampler")
class CandidateSampler(_ChatLM):
    """Draws blocks `blocks` of `block_size` candidates per request; candidate k of a prompt is
    sample k % block_size of block k // block_size."""

    def __init__(self, sampler, block_size: int, blocks: list[int], max_new_tokens: int, progress=None):
        super().__init__(sampler.tok)
        self.sampler, self.block_size, self.blocks = sampler, block_size, list(blocks)
        self.max_new_tokens, self.progress = max_new_tokens, progress
        self.candidates: list[dict] = []

    def generate_until(self, requests):
        contexts = [r.args[0] for r in requests]
        until = requests[0].args[1].get("until") if requests else None
        max_toks = min(self.max_new_tokens, requests[0].args[1].get("max_gen_toks", self.max_new_tokens)) \
            if requests else self.max_new_tokens
        first = None
        for done, block in enumerate(self.blocks):
            def progress(i, total, done=done):
                if self.progress:
                    self.progress(done * total + i, total * len(self.blocks))
            samples = self.sampler.sample(contexts, self.block_size, max_toks, until, block=block,
                                          progress=progress)
            first = first or [texts[0] for texts in samples]
            for ctx, texts in zip(contexts, samples):
                pid = prompt_id(ctx)
                for k, text in enumerate(texts):
                    self.candidates.append({"prompt_id": pid, "sample_idx": block * self.block_size + k,
                                            "text": text, "prompt": self.user_turns.get(ctx, ctx),
                                            "context": ctx, "seed": self.sampler.seed, "block": block})
        # lm-eval needs one answer per request; nothing reads it.
        return first or ["" for _ in contexts]


@register_model("bon")
class BestOfN(_ChatLM):
    """pick="rm": the top-scored of the first n candidates (ties: lowest index);
    pick=k: candidate k."""

    def __init__(self, tokenizer, candidates: list[dict], scores: dict | None = None,
                 n: int | None = None, pick="rm"):
        super().__init__(tokenizer)
        self.by_prompt: dict[str, list[dict]] = {}
        for c in candidates:
            self.by_prompt.setdefault(c["prompt_id"], []).append(c)
        for rows in self.by_prompt.values():
            rows.sort(key=lambda c: c["sample_idx"])
        self.scores, self.n, self.pick = scores or {}, n, pick

    @classmethod
    def from_files(cls, tokenizer: str = "", candidates: str = "", scores: str = "", n=None, pick="rm", **_):
        """From a bon_generate node's candidates.jsonl and a bon_score node's scores.jsonl
        (lm-eval's own options such as batch_size and device are ignored)."""
        from transformers import AutoTokenizer

        from rlhf_eval import store
        if not tokenizer or not candidates or (pick == "rm" and not scores):
            raise UserError("bon model_args: give tokenizer=<policy path>, candidates=<candidates.jsonl> and, "
                             "for pick=rm, scores=<scores.jsonl> (optional: n=<int>, pick=rm|<candidate index>)")
        found = {(s["prompt_id"], s["sample_idx"]): s["score"] for s in store.read_jsonl(scores)} if scores else {}
        return cls(AutoTokenizer.from_pretrained(tokenizer), store.read_jsonl(candidates), found,
                   n=int(n) if n not in (None, "") else None, pick=pick if pick == "rm" else int(pick))

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None):
        from lm_eval.utils import simple_parse_args_string
        return cls.from_files(**simple_parse_args_string(arg_string))

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None):
        return cls.from_files(**arg_dict)

    def choose(self, pid: str) -> str:
        rows = self.by_prompt[pid]
        if self.pick != "rm":
            return rows[int(self.pick)]["text"]
        pool = rows[: self.n or len(rows)]
        best = max(range(len(pool)), key=lambda i: (self.scores[(pid, pool[i]["sample_idx"])], -i))
        return pool[best]["text"]

    def generate_until(self, requests):
        out = []
        for r in requests:
            pid = prompt_id(r.args[0])
            if pid not in self.by_prompt:
                raise KeyError(f"no stored candidates for a request of this task (prompt_id {pid}); "
                               "were the candidates generated with the same task and chat template?")
            out.append(cut_at(self.choose(pid), r.args[1].get("until")))
        return out
