"""Where the transformers paths put their models."""
from __future__ import annotations

import os


def torch_device() -> str:
    """RLHF_EVAL_DEVICE, else the first GPU when there is one, else the CPU."""
    import torch
    return os.environ.get("RLHF_EVAL_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
