"""The generation backend protocol, and how sampling seeds are derived.

Candidates are drawn in blocks of a fixed size. Block j of a prompt is seeded from (seed, j) and
nothing that depends on N_max, so a sweep that later raises N_max draws only the new blocks and
keeps the old candidates bit for bit.
"""
from __future__ import annotations

import hashlib
from typing import Any, Protocol

from rlhf_eval.errors import UserError


class Sampler(Protocol):
    tok: Any  # the policy's tokenizer (chat template, token counts)
    seed: int

    def sample(self, contexts: list[str], n: int, max_new_tokens: int, until: list[str] | None = None,
               block: int = 0, progress=None) -> list[list[str]]:
        """n samples per context; `block` selects an independent, reproducible seed stream."""
        ...


def torch_device() -> str:
    """Where the transformers backends put models: RLHF_EVAL_DEVICE, else the first GPU when
    there is one, else the CPU."""
    import os

    import torch
    return os.environ.get("RLHF_EVAL_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")


def derive_seed(*parts) -> int:
    """A 31-bit seed from any parts (stable across processes, unlike hash())."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def make_sampler(backend: str, path: str, temperature: float, top_p: float, seed: int, batch_size: int,
                 trust_remote_code: bool = False, engine_args: dict | None = None) -> Sampler:
    """The backend named in the policy card; GPU engines are imported only here, on use."""
    if backend == "transformers":
        from rlhf_eval.gen.transformers_backend import TransformersSampler
        return TransformersSampler(path, temperature, top_p, seed, batch_size, trust_remote_code)
    if backend == "vllm":
        from rlhf_eval.gen.vllm_backend import VLLMSampler
        return VLLMSampler(path, temperature, top_p, seed, trust_remote_code, engine_args or {})
    raise UserError(f"unknown generation backend '{backend}' (transformers or vllm)")
