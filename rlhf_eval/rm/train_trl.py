"""Local RM training with TRL: RewardTrainer for classifier RMs, DPOTrainer for implicit RMs.

Both start from the policy's SFT weights, as real RMs start from the SFT model. The
classifier is saved as *ForSequenceClassification (num_labels=1, head `score`, safetensors),
the one format transformers, TRL, vLLM and OpenRLHF all load.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from datasets import Dataset
from transformers.trainer_callback import PrinterCallback

from rlhf_eval.config import JudgeConfig, RMTrainConfig
from rlhf_eval.data.pairs import trl_rows
from rlhf_eval.device import checkpointing_args, torch_device


def conversational(pairs: list[dict]) -> Dataset:
    return Dataset.from_list(trl_rows(pairs))


def _common_args(train: RMTrainConfig, out_dir: Path, n_pairs: int, n_parameters: int | None = None) -> dict:
    steps = max(1, math.ceil(n_pairs * train.epochs / train.batch_size))
    # Rounded down, as the fixed steps // 20 of earlier versions was (1e-9: 0.05 is not exact in binary).
    warmup = max(1, math.floor(steps * train.warmup_ratio + 1e-9))
    return dict(
        output_dir=str(out_dir / "trainer"),
        per_device_train_batch_size=train.batch_size,
        max_steps=steps,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler,
        warmup_steps=warmup,
        use_cpu=torch_device() == "cpu",
        bf16=False,
        report_to="none",
        save_strategy="no",
        logging_steps=max(1, steps // 20),
        disable_tqdm=True,
        seed=train.seed,
        data_seed=train.seed,
        dataloader_num_workers=0,
        max_length=train.max_length,
        **checkpointing_args(train.gradient_checkpointing, n_parameters),
    )


def _train_and_save(trainer, tok, out_dir: Path):
    """Train (our bar replaces the trainer's printed logs), then save the model and its tokenizer
    to out_dir/model in safetensors."""
    trainer.remove_callback(PrinterCallback)
    result = trainer.train()
    model_dir = out_dir / "model"
    trainer.save_model(str(model_dir))
    tok.save_pretrained(model_dir)
    return result, model_dir


RM_PAD = "<|rm_pad|>"


def own_pad_token(tok, model) -> None:
    """Give a classifier RM a pad token of its own when its base has none or pads with its EOS.
    transformers' *ForSequenceClassification reads the last token that is not the pad token;
    vLLM's last-token pooling and OpenRLHF's RewardModel read the very last token. With pad =
    EOS and a chat template ending in EOS, training would score the token before the EOS while
    the GPU engines score the EOS itself; with a pad of its own every backend reads the same one."""
    if tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id:
        return
    tok.add_special_tokens({"pad_token": RM_PAD})
    model.resize_token_embeddings(len(tok))


def train_classifier(base: str, pairs: list[dict], train: RMTrainConfig, out_dir: Path, callbacks=()) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    torch.manual_seed(train.seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=1, use_safetensors=True, trust_remote_code=False)
    own_pad_token(tok, model)
    model.config.pad_token_id = tok.pad_token_id
    args = RewardConfig(**_common_args(train, out_dir, len(pairs), model.num_parameters()),
                        center_rewards_coefficient=train.center_rewards_coefficient)
    trainer = RewardTrainer(model=model, args=args, train_dataset=conversational(pairs),
                            processing_class=tok, callbacks=list(callbacks))
    result, model_dir = _train_and_save(trainer, tok, out_dir)
    return {"path": str(model_dir), "train_loss": result.training_loss, "steps": result.global_step,
            "log": trainer.state.log_history}


def train_judge(base: str, pairs: list[dict], train: RMTrainConfig, judge: JudgeConfig, out_dir: Path,
                callbacks=()) -> dict:
    """Supervised fine-tuning of `base` into a generative judge on the card's own prompt
    (rm.judge.training_examples), the loss on the answer only (TRL's prompt-completion format).
    Answer and template words the tokenizer cannot spell (a word-level tokenizer's <unk>) are
    added to it first; a subword tokenizer spells every word and adds nothing."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from rlhf_eval.rm.judge import TEMPLATES, training_examples

    torch.manual_seed(train.seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, use_safetensors=True, trust_remote_code=False)
    examples = training_examples(judge, pairs)
    words = {w for _, answer in examples for w in answer.split()}
    # Template words outside the {{ fields }} and {% tags %}.
    literal = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", judge.template or TEMPLATES[judge.mode])
    words |= set(literal.split()) | set((judge.system or "").split())
    unk = tok.unk_token_id
    unknown = sorted(w for w in words if unk is not None and tok(w, add_special_tokens=False)["input_ids"] == [unk])
    if unknown:
        tok.add_tokens(unknown)
        model.resize_token_embeddings(len(tok))
    # A completion-style judge (chat: false) continues its raw prompt, after a space.
    data = Dataset.from_list([{"prompt": conv, "completion": f" {answer}" if isinstance(conv, str) else
                               [{"role": "assistant", "content": answer}]} for conv, answer in examples])
    args = SFTConfig(**_common_args(train, out_dir, len(examples), model.num_parameters()), completion_only_loss=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok,
                         callbacks=list(callbacks))
    result, model_dir = _train_and_save(trainer, tok, out_dir)
    return {"path": str(model_dir), "train_loss": result.training_loss, "steps": result.global_step,
            "added_tokens": unknown, "log": trainer.state.log_history}


def train_implicit(base: str, pairs: list[dict], train: RMTrainConfig, out_dir: Path, callbacks=(),
                   max_length: int = 256) -> dict:
    """max_length: the card's (where scores cut inputs), recorded in the model folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(train.seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, use_safetensors=True, trust_remote_code=False)
    args = DPOConfig(**_common_args(train, out_dir, len(pairs), model.num_parameters()), beta=train.beta)
    trainer = DPOTrainer(model=model, args=args, train_dataset=conversational(pairs),
                         processing_class=tok, callbacks=list(callbacks))
    result, model_dir = _train_and_save(trainer, tok, out_dir)
    from rlhf_eval.rm.implicit_folder import write_implicit_folder
    reference = write_implicit_folder(model_dir, base, train.beta, max_length)
    return {"path": str(model_dir), "reference": reference, "beta": train.beta,
            "train_loss": result.training_loss, "steps": result.global_step,
            "log": trainer.state.log_history}
