import random

from rlhf_eval.toy import task
from rlhf_eval.toy.tokenizer import build_tokenizer


def test_verifier_and_errors():
    rng = random.Random(0)
    letters = ["q", "d", "m", "a", "k"]
    prompt = task.make_prompt(letters)
    assert task.is_correct(prompt, "a d k m q")
    assert task.is_correct(prompt, "the sorted letters are : a d k m q done")
    for kind in task.ERROR_KINDS:
        wrong = task.corrupt(sorted(letters), kind, rng)
        assert not task.is_correct(prompt, " ".join(wrong)), kind
    assert task.misplace(["a", "d", "q"], "q") == ["q", "a", "d"]
    assert task.misplace(["a", "d", "q"], "d") == ["a", "q", "d"]


def test_tokenizer_chat_template_marks_assistant_tokens(tmp_path):
    tok = build_tokenizer(tmp_path)
    messages = [{"role": "user", "content": task.make_prompt(["c", "a"])},
                {"role": "assistant", "content": "a c"}]
    enc = tok.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    assistant = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tok.decode(assistant) == "a c <|end|>"
    assert tok.decode(enc["input_ids"], skip_special_tokens=True) == f"{task.make_prompt(['c', 'a'])} a c"
