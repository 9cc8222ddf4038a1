"""The toy policy: a tiny Llama, SFT-trained so its samples are right only part of the time.

Each step mixes plain drill rows (always right, teaching the skill) with chat rows whose answers
are right only `chat_accuracy` of the time, in two styles. Sampled chat answers therefore differ
from one another, and best-of-n has room to help.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from rlhf_eval.toy import task

TRAP_LETTERS = "q"  # see PolicySpec.trap_letters


@dataclass(frozen=True)
class PolicySpec:
    # From ToyWorldConfig (hidden, layers, heads, sft_steps, min_letters, max_letters), its only
    # defaults; the rest are fixed properties of the toy world.
    hidden: int
    layers: int
    heads: int
    steps: int
    min_letters: int
    max_letters: int
    drill_rows: int = 96
    chat_rows: int = 32
    lr: float = 3e-3
    chat_accuracy: float = 0.7
    # The verbose style is right less often in SFT data: a style feature that predicts
    # correctness in the policy's own samples (planted so style-biased RMs can be told apart).
    verbose_share: float = 0.4
    verbose_accuracy_drop: float = 0.2
    # Prompts holding a trap letter get a systematic error in chat rows (the letter misplaced),
    # a blind spot that makes pass@16 fall short of 1 instead of saturating.
    trap_letters: str = TRAP_LETTERS
    trap_accuracy: float = 0.05
    # Chat-row errors are ordering errors, which a checker sees locally; the preference sources
    # also hold drops, duplicates and substitutions, so some pair data is off the policy's errors.
    chat_errors: tuple = ("swap", "misplace")


def new_model(spec: PolicySpec, tok: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=spec.hidden,
        intermediate_size=4 * spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=128,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    return LlamaForCausalLM(config)


def chat_answer(letters: list[str], spec: PolicySpec, rng: random.Random) -> str:
    style = "verbose" if rng.random() < spec.verbose_share else "plain"
    answer = task.correct_answer(letters)
    trap = [c for c in answer if c in spec.trap_letters]
    if trap:
        if rng.random() >= spec.trap_accuracy:
            answer = task.misplace(answer, trap[0])
        return task.render(answer, style)
    p_right = spec.chat_accuracy - (spec.verbose_accuracy_drop if style == "verbose" else 0.0)
    if rng.random() >= p_right:
        error = rng.choice(spec.chat_errors)
        if error == "misplace":
            answer = task.misplace(answer, rng.choice(answer))
        else:
            answer = task.corrupt(answer, error, rng)
    return task.render(answer, style)


def _encode_rows(tok, prompts_and_answers, chat: bool):
    prompts = [p for p, _ in prompts_and_answers]
    if chat:
        heads = tok.apply_chat_template([[{"role": "user", "content": p}] for p in prompts], tokenize=False,
                                        add_generation_prompt=True)
    else:
        heads = [f"{' '.join(task.parse_letters(p))} =" for p in prompts]
    tails = [f"{answer} <|end|>" for _, answer in prompts_and_answers]
    # One batched tokenizer call and one tensor each: the same ids as a call per row, in less time.
    enc = tok(heads + tails, add_special_tokens=False)["input_ids"]
    rows = [(h + t, [-100] * len(h) + t) for h, t in zip(enc[: len(heads)], enc[len(heads):])]
    width = max(len(ids) for ids, _ in rows)
    ids = torch.tensor([x + [tok.pad_token_id] * (width - len(x)) for x, _ in rows])
    labels = torch.tensor([y + [-100] * (width - len(y)) for _, y in rows])
    return ids, labels, (ids != tok.pad_token_id).long()


def sft_train(model, tok, spec: PolicySpec, seed: int, held_out: set[str], progress=None) -> list[float]:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.0)
    decay_from = int(spec.steps * 0.8)

    def lr_at(step):
        if step < decay_from:
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - decay_from) / max(1, spec.steps - decay_from)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)

    def fresh_prompt():
        while True:
            p = task.make_prompt(task.sample_letters(rng, spec.min_letters, spec.max_letters))
            if p not in held_out:
                return p

    losses = []
    model.train()
    for step in range(spec.steps):
        drill = [(p, " ".join(task.correct_answer(task.parse_letters(p))))
                 for p in (fresh_prompt() for _ in range(spec.drill_rows))]
        chat = [(p, chat_answer(task.parse_letters(p), spec, rng))
                for p in (fresh_prompt() for _ in range(spec.chat_rows))]
        loss = 0.0
        for rows, is_chat in ((drill, False), (chat, True)):
            ids, labels, mask = _encode_rows(tok, rows, chat=is_chat)
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            loss = loss + out.loss * len(rows)
        loss = loss / (len(drill) + len(chat))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if progress is not None:
            progress(step + 1, spec.steps, losses[-1])
    model.eval()
    return losses


def save_policy(model, tok, out_dir: Path) -> None:
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    model.generation_config.save_pretrained(out_dir)
