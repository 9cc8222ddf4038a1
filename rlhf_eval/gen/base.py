"""The generation backend protocol, and how sampling seeds are derived (a leaf: backends import it,
it imports no backend).

Candidates are drawn in blocks of a fixed size. Block j of a prompt is seeded from (seed, j) and
nothing that depends on N_max, so a sweep that later raises N_max draws only the new blocks and
keeps the old candidates bit for bit.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Settings:
    """Every field that changes which token is drawn, passed explicitly to both engines, so neither
    falls back to a default of its own: transformers would cut at top_k=50 (vLLM does not cut),
    and either may read a checkpoint's generation_config.json. The defaults switch every filter off."""
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    top_k: int = 0  # 0: no cut-off
    min_p: float = 0.0
    repetition_penalty: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def for_transformers(self) -> dict:
        """Keyword arguments of `generate`. Greedy decoding applies no sampling filter in either
        engine, but the repetition penalty still acts."""
        if self.greedy:
            return {"do_sample": False, "repetition_penalty": self.repetition_penalty}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "min_p": self.min_p, "repetition_penalty": self.repetition_penalty}

    def for_vllm(self) -> dict:
        """Keyword arguments of vllm.SamplingParams (0.29.0: top_k 0 and min_p 0 switch the filter off)."""
        if self.greedy:
            return {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0,
                    "repetition_penalty": self.repetition_penalty}
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k, "min_p": self.min_p,
                "repetition_penalty": self.repetition_penalty}


class Sampler(Protocol):
    tok: Any  # the policy's tokenizer (chat template, token counts)
    seed: int

    def sample(self, contexts: list[str], n: int, max_new_tokens: int, until: list[str] | None = None,
               block: int = 0, progress=None) -> list[list[str]]:
        """n samples per context; `block` selects an independent, reproducible seed stream."""
        ...


def derive_seed(*parts) -> int:
    """A 31-bit seed from any parts (stable across processes, unlike hash())."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
