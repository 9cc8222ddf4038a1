"""The generation backend protocol, and how sampling seeds are derived (a leaf: backends import it,
it imports no backend).

Candidates are drawn in blocks of a fixed size. Block j of a prompt is seeded from (seed, j) and
nothing that depends on N_max, so a sweep that later raises N_max draws only the new blocks and
keeps the old candidates bit for bit.
"""
from __future__ import annotations

import hashlib
from typing import Any, Protocol


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
