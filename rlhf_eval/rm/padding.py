"""Token rows as padded tensors: the one padding rule of the transformers scorer and judge (a leaf,
so neither imports the other for it)."""
from __future__ import annotations

import torch


def pad(rows: list[list[int]], pad_id: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask) of rows padded to the longest; on the left for generation, so every
    row's next token is in the last column."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        cols = slice(width - len(r), width) if left else slice(0, len(r))
        ids[i, cols] = torch.tensor(r)
        mask[i, cols] = 1
    return ids, mask
