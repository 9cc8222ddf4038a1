"""Sampling with transformers `generate` (the CPU default).

Seeds are set per batch from (seed, block, first context of the batch), so a rerun after a kill
draws the same candidates as an uninterrupted run, and block j is the same whichever other blocks
are drawn.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rlhf_eval.device import torch_device
from rlhf_eval.gen.base import Settings, derive_seed


def cut_at(text: str, until: list[str]) -> str:
    for stop in until or ():
        if stop and stop in text:
            text = text[: text.index(stop)]
    return text


def token_ids_only(config):
    """The checkpoint's generation config without its sampling defaults (typical_p, top_k, ... from
    generation_config.json): the card's settings are the only ones, as with vLLM, which ignores that
    file once SamplingParams are given. Its special tokens stay."""
    from transformers import GenerationConfig
    keep = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
    return GenerationConfig(**{k: getattr(config, k) for k in keep if getattr(config, k, None) is not None})


def stop_ids(tokenizer_eos: int | None, config_eos) -> list[int]:
    """The tokenizer's EOS and every EOS of the checkpoint's generation config (Llama-3.1-Instruct
    lists three): vLLM stops at all of them, so generation here does too."""
    ids = {config_eos} if isinstance(config_eos, int) else set(config_eos or ())
    return sorted(ids | ({tokenizer_eos} if tokenizer_eos is not None else set()))


def reproducibility(batch_size: int, device) -> dict:
    """The manifest's account of when these candidates come back the same."""
    return {"engine": "transformers", "seeded": "per batch: (seed, block, first prompt of the batch)",
            "same_when": f"the same batch_size ({batch_size}), device type ({torch.device(device).type}) "
                         "and library versions"}


@dataclass
class TransformersSampler:
    path: str
    settings: Settings = field(default_factory=Settings)
    seed: int = 0
    batch_size: int = 64
    trust_remote_code: bool = False
    engine_args: dict = field(default_factory=dict)  # vLLM's engine settings; unused here

    def __post_init__(self):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        self.tok = AutoTokenizer.from_pretrained(self.path, trust_remote_code=self.trust_remote_code)
        self.tok.padding_side = "left"
        self.device = torch_device()
        self.model = AutoModelForCausalLM.from_pretrained(
            self.path, use_safetensors=True, trust_remote_code=self.trust_remote_code).eval().to(self.device)
        self.model.generation_config = token_ids_only(self.model.generation_config)
        self.stop_ids = stop_ids(self.tok.eos_token_id, self.model.generation_config.eos_token_id)
        self.reproducibility = reproducibility(self.batch_size, self.device)

    def render_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    @torch.no_grad()
    def sample(self, contexts: list[str], n: int, max_new_tokens: int, until: list[str] | None = None,
               block: int = 0, progress=None) -> list[list[str]]:
        """n samples for each context (greedy when the temperature is 0)."""
        out: list[list[str]] = []
        prompts_per_batch = max(1, self.batch_size // max(1, n))
        for b in range(0, len(contexts), prompts_per_batch):
            chunk = contexts[b:b + prompts_per_batch]
            enc = self.tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            torch.manual_seed(derive_seed(self.seed, block, chunk[0]))
            gen = self.model.generate(
                **enc, max_new_tokens=max_new_tokens, **self.settings.for_transformers(),
                num_return_sequences=n, pad_token_id=self.tok.pad_token_id,
                eos_token_id=self.stop_ids)
            texts = self.tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            texts = [cut_at(t, until).strip() for t in texts]
            out.extend(texts[i * n:(i + 1) * n] for i in range(len(chunk)))
            if progress:
                progress(len(out), len(contexts))
        return out
