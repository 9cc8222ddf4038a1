"""A word-level tokenizer with a real jinja chat template, saved as PreTrainedTokenizerFast."""
from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from rlhf_eval.toy import task

SPECIAL = ["<pad>", "<unk>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]

# {% generation %} marks assistant tokens, so TRL can build assistant-only loss masks.
CHAT_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'assistant' -%}"
    "<|assistant|> {% generation %}{{ m['content'] }} <|end|>{% endgeneration %} "
    "{%- else -%}"
    "<|{{ m['role'] }}|> {{ m['content'] }} <|end|> "
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|> {% endif -%}"
)


def vocabulary() -> list[str]:
    words = set(task.LETTERS)
    for phrase in (task.PROMPT_PREFIX, task.VERBOSE_PREFIX, task.ARTIFACT_MARKER, "="):
        words.update(phrase.split())
    return SPECIAL + sorted(words)


def build_tokenizer(out_dir: Path) -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(vocabulary())}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|end|>",
        additional_special_tokens=["<|user|>", "<|assistant|>", "<|system|>"],
        clean_up_tokenization_spaces=False,
        model_max_length=128,
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(out_dir)
    return tok
