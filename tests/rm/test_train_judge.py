"""Training a generative judge with TRL's SFTTrainer on the card's own prompt: the examples it
learns from, words added to a word-level tokenizer, and a saved judge that loads and answers.
(What the toy judge learns on the toy world is measured end to end, not here.)"""
import pytest

from rlhf_eval.config import JudgeConfig, RMTrainConfig
from rlhf_eval.rm.judge import GenerativeJudge, training_examples
from rlhf_eval.rm.judge_transformers import TransformersJudge
from rlhf_eval.rm.judgments import JudgmentCache
from rlhf_eval.rm.train_trl import train_judge

PAIRS = [{"prompt": f"sort these letters in alphabetical order : {w}", "chosen": " ".join(sorted(w.split())),
          "rejected": w} for w in ("c a b", "z y", "d c b a", "q p", "m l k", "f e")]


def test_examples_teach_both_verdicts_and_both_orders():
    point = training_examples(JudgeConfig(template="{{ prompt }} = {{ response }}"), PAIRS[:1])
    assert point == [([{"role": "user", "content": "sort these letters in alphabetical order : c a b = a b c"}], "yes"),
                     ([{"role": "user", "content": "sort these letters in alphabetical order : c a b = c a b"}], "no")]
    pair = training_examples(JudgeConfig(mode="pairwise", template="{{ response_a }} | {{ response_b }}",
                                         system="judge"), PAIRS[:1])
    assert [(c[-1]["content"], a) for c, a in pair] == [("a b c | c a b", "A"), ("c a b | a b c", "B")]
    assert pair[0][0][0] == {"role": "system", "content": "judge"}
    raw = training_examples(JudgeConfig(template="{{ prompt }} : {{ response }}", chat=False), PAIRS[:1])
    assert raw[0] == ("sort these letters in alphabetical order : c a b : a b c", "yes")


@pytest.mark.parametrize("chat", [True, False])
def test_a_trained_judge_is_saved_with_its_new_words_and_answers(tiny_lm, tmp_path, chat):
    judge = JudgeConfig(template="<|user|> {{ prompt }} <|end|> <|assistant|> {{ response }}" if not chat else
                        "{{ prompt }} verdict {{ response }}", chat=chat)
    info = train_judge(tiny_lm, PAIRS, RMTrainConfig(batch_size=4, max_length=64), judge, tmp_path)
    # yes and no are words the toy tokenizer cannot spell; so is the chat template's "verdict".
    assert info["added_tokens"] == (["no", "yes"] if not chat else ["no", "verdict", "yes"]) and info["steps"] == 3
    j = GenerativeJudge("t", TransformersJudge(info["path"]), judge, JudgmentCache(tmp_path / "c.sqlite"))
    scores = j.score([p["prompt"] for p in PAIRS], [p["chosen"] for p in PAIRS])
    assert len(scores) == 6 and all(0 < s < 1 for s in scores) and j.counts["parse_failures"] == 0
