"""The generative judge on a real (tiny, random) transformers model with the toy tokenizer:
verdict-token scores equal the model's own next-token probabilities however rows are batched
and padded, every answer is cached on disk (a second judge with the same cache asks nothing),
parse failures are counted and score nan, and pairwise judgments come back in both orders."""
import math

import pytest
import torch

from rlhf_eval.config import JudgeConfig
from rlhf_eval.rm.judge import GenerativeJudge
from rlhf_eval.rm.judge_transformers import TransformersJudge
from rlhf_eval.rm.judgments import JudgmentCache

TEMPLATE = "{{ prompt }} = {{ response }}"
PROMPTS = ["sort these letters in alphabetical order : c a b", "sort these letters in alphabetical order : z y",
           "sort these letters in alphabetical order : d c b a e"]
RESPONSES = ["a b c done", "z y", "the sorted letters are : a b c d e done"]


def judge(model, tmp_path, **cfg):
    """A judge with the toy vocabulary's words as template and verdict tokens."""
    config = JudgeConfig(**{"template": TEMPLATE, "yes_token": "done", "no_token": "the"} | cfg)
    backend = TransformersJudge(model, batch_size=2)
    return GenerativeJudge("tiny", backend, config, JudgmentCache(tmp_path / "judgments.sqlite"))


def test_verdict_token_scores_are_the_models_next_token_probabilities(tiny_lm, tmp_path):
    j = judge(tiny_lm, tmp_path)
    scores = j.score(PROMPTS, RESPONSES)  # three lengths in batches of two: left padding in play
    tok, model = j.backend.tok, j.backend.model
    yes, no = tok.convert_tokens_to_ids(["done", "the"])
    for p, r, got in zip(PROMPTS, RESPONSES, scores):
        messages = [{"role": "user", "content": f"{p} = {r}"}]
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            probs = torch.softmax(model(input_ids=ids["input_ids"]).logits[0, -1].float(), -1)
        assert got == pytest.approx((probs[yes] / (probs[yes] + probs[no])).item(), abs=1e-5)
    assert j.counts["calls"] == 3 and j.counts["cached"] == 0 and j.counts["parse_failures"] == 0


def test_answers_are_cached_on_disk_and_never_asked_twice(tiny_lm, tmp_path):
    first = judge(tiny_lm, tmp_path)
    scores = first.score(PROMPTS, RESPONSES)
    assert first.score(PROMPTS[:2] + PROMPTS[:1], RESPONSES[:2] + RESPONSES[:1]) == scores[:2] + scores[:1]
    assert first.counts["calls"] == 3 and first.counts["cached"] == 3
    first.cache.close()
    again = judge(tiny_lm, tmp_path)  # a new process after a kill: same cache file
    assert again.score(PROMPTS, RESPONSES) == scores and again.counts["calls"] == 0
    other = judge(tiny_lm, tmp_path, yes_token="a", no_token="b")  # other settings are other questions
    other.score(PROMPTS[:1], RESPONSES[:1])
    assert other.counts["calls"] == 1 and len(other.cache) == 4


def test_unreadable_answers_score_nan_and_are_counted(tiny_lm, tmp_path):
    j = judge(tiny_lm, tmp_path, parser="rating", max_new_tokens=4)  # a random model writes no [[n]]
    scores = j.score(PROMPTS, RESPONSES)
    assert all(math.isnan(s) for s in scores) and j.counts["parse_failures"] == 3
    assert j.counts["tokens_out"] > 0 and j.counts["tokens_in"] > 0


def test_a_pairwise_judge_is_asked_in_both_orders(tiny_lm, tmp_path):
    j = judge(tiny_lm, tmp_path, mode="pairwise", template="{{ prompt }} = {{ response_a }} = {{ response_b }}",
              parser="decision", max_new_tokens=3)
    out = j.judge_pairs(PROMPTS, RESPONSES, RESPONSES[1:] + RESPONSES[:1])
    assert len(out) == 3 and j.counts["calls"] == 6  # two orders per pair
    assert j.counts["parse_failures"] == sum(d is None for pair in out for d in pair)
    with pytest.raises(ValueError, match="pairwise judge: it compares two responses"):
        j.score(PROMPTS, RESPONSES)


class Scripted:
    """A judge backend that answers from a table (our own protocol, for the order logic)."""
    model_id = "scripted"

    def __init__(self, table):
        self.table = table

    def answer(self, conversations, sampling, verdict_tokens=None):
        return [{"text": self.table[c[-1]["content"]], "probs": None} for c in conversations]


def test_pairwise_decisions_are_read_back_onto_the_callers_order(tmp_path):
    table = {"q x y": "[[A]]", "q y x": "[[A]]",  # prefers whatever is shown first: a position flip
             "q u v": "[[A>>B]]", "q v u": "[[B>A]]",  # consistent: u wins both ways
             "q s t": "no idea", "q t s": "[[C]]"}
    config = JudgeConfig(mode="pairwise", template="{{ prompt }} {{ response_a }} {{ response_b }}")
    j = GenerativeJudge("scripted", Scripted(table), config, JudgmentCache(tmp_path / "c.sqlite"))
    assert j.judge_pairs(["q", "q", "q"], ["x", "u", "s"], ["y", "v", "t"]) == \
        [("A>B", "B>A"), ("A>B", "A>B"), (None, "A=B")]
    assert j.counts["parse_failures"] == 1


def test_a_progress_bar_follows_the_new_answers(tiny_lm, tmp_path):
    from contextlib import contextmanager

    from rlhf_eval.rm.judge import judge_progress

    seen = []

    class Node:  # the part of a stage's NodeContext that draws bars
        @contextmanager
        def bar(self, description, total):
            seen.append(description)
            yield lambda done, total=None: seen.append((done, total))

    j = judge(tiny_lm, tmp_path)
    with judge_progress(j, Node().bar, "toy_rewardbench"):
        j.score(PROMPTS, RESPONSES)
        j.score(PROMPTS, RESPONSES)  # all cached: nothing new to show
    assert seen == ["toy_rewardbench: judge answers not in the cache", (3, 3)] and j.progress is None


def test_openrlhf_shaped_rows_are_read_back_into_prompt_and_response(tiny_lm, tmp_path):
    """serve-rm hands a judge OpenRLHF's formatted prompt and decoded query; the judge scores the
    user turn and the response in them, as it scores them locally (special tokens and the spaces
    decoding puts between them aside)."""
    from rlhf_eval.rm.judge import after_prefix
    j = judge(tiny_lm, tmp_path)
    tok = j.backend.tok
    prompts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
               for p in PROMPTS]
    queries = [tok.decode(tok(p, add_special_tokens=False)["input_ids"] + tok(r, add_special_tokens=False)["input_ids"]
                          + [tok.eos_token_id]) for p, r in zip(prompts, RESPONSES)]
    assert j.score_texts(queries, prompts) == j.score(PROMPTS, RESPONSES)
    assert after_prefix("<|user|> a <|end|> <|assistant|> b", "<|user|> a <|end|><|assistant|>") == " b"
    assert after_prefix("<|user|> x", "<|user|> a") is None
    with pytest.raises(ValueError, match="'query'\\[0\\] does not start with 'prompts'\\[0\\]"):
        j.score_texts(["something else"], prompts[:1])


def test_answer_tokens_are_counted_one_way_in_every_backend():
    """issue 31, item 12: tokens_out stops before the first EOS (not counted) and skips padding,
    in the transformers judge and (through the same function) the vLLM judge."""
    from rlhf_eval.rm.judge_transformers import answer_ids
    assert answer_ids([5, 6, 2], eos=2, pad=0) == [5, 6]  # vLLM's token_ids end with the EOS
    assert answer_ids([5, 6, 2, 0, 0], eos=2, pad=0) == [5, 6]  # a padded batch row
    assert answer_ids([5, 6, 7], eos=2, pad=None) == [5, 6, 7]  # cut by max_tokens
    assert answer_ids([2], eos=2, pad=0) == []
