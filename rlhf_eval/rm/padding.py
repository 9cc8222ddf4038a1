"""Token rows as padded tensors: the one padding rule of the transformers scorer and judge (a leaf,
so neither imports the other for it)."""
from __future__ import annotations

import itertools

import numpy as np
import torch


def pad(rows: list[list[int]], pad_id: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask) of rows padded to the longest; on the left for generation, so every
    row's next token is in the last column."""
    lengths = np.fromiter(map(len, rows), np.int64, len(rows))
    width = int(lengths.max())
    cols = np.arange(width)
    # the cells holding tokens, row by row: a boolean assignment fills them in that order, so the
    # rows' tokens concatenated land where they belong (a tensor per row costs about 10x more)
    valid = cols >= (width - lengths)[:, None] if left else cols < lengths[:, None]
    ids = np.full((len(rows), width), pad_id, np.int64)
    ids[valid] = np.fromiter(itertools.chain.from_iterable(rows), np.int64, int(lengths.sum()))
    return torch.from_numpy(ids), torch.from_numpy(valid.astype(np.int64))
