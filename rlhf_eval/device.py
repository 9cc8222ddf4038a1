"""Where the transformers paths put their models."""
from __future__ import annotations

import os
import sys


def gpu_visible() -> bool:
    """Whether nodes will run on a GPU (torch_device's answer), told without importing torch:
    RLHF_EVAL_DEVICE, else an NVIDIA or AMD driver's device file."""
    from pathlib import Path

    if os.environ.get("RLHF_EVAL_DEVICE"):
        return os.environ["RLHF_EVAL_DEVICE"] != "cpu"
    return os.environ.get("CUDA_VISIBLE_DEVICES") not in ("", "-1") and any(
        Path(p).exists() for p in ("/dev/nvidiactl", "/dev/kfd"))


def torch_device() -> str:
    """RLHF_EVAL_DEVICE, else the first GPU when there is one, else the CPU."""
    import torch
    return os.environ.get("RLHF_EVAL_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")


# Below this many parameters activations are small next to the weights and optimizer state, so
# recomputing them in the backward pass (TRL's default) buys no memory worth having and costs
# about a third more compute. On the toy models it was all cost: the same weights, bit for bit.
CHECKPOINTING_FROM = 1_000_000_000


def checkpointing_args(setting: bool | None, n_parameters: int | None) -> dict:
    """The trainer argument for activation (gradient) checkpointing: `setting`; when it is None,
    on from CHECKPOINTING_FROM parameters, and on (TRL's default) when the size is unknown."""
    from transformers import TrainingArguments

    if setting is None:
        setting = n_parameters is None or n_parameters >= CHECKPOINTING_FROM
    # transformers 5.x renamed it; the old name still works but warns once per trainer.
    name = ("activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
            else "gradient_checkpointing")
    return {name: setting}


def saved_parameters(model_dir: str) -> int | None:
    """Parameters in a local model folder's safetensors files, read from their headers (no weights
    loaded); None when it holds none (a hub id, say)."""
    from pathlib import Path

    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors")) if Path(model_dir).is_dir() else []
    if not files:
        return None
    total = 0
    for file in files:
        with safe_open(str(file), "pt") as f:
            for name in f.keys():
                n = 1
                for d in f.get_slice(name).get_shape():
                    n *= d
                total += n
    return total


THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_env(n: int | None) -> dict:
    """The environment that gives a process started from here `n` threads (empty for None)."""
    return {} if n is None else {k: str(n) for k in THREAD_ENV}


def use_threads(n: int | None) -> None:
    """Give torch, and numpy's BLAS, `n` threads in this process, and the processes it starts (lm-eval,
    a tokenizer's) the same through the environment; None leaves the libraries' defaults (every core).

    Results depend on the count (it sets the order of float sums). One thread also keeps a node fast
    on a busy machine: idle OpenMP threads spin-wait for work, so two of them beside another process
    on two cores ran the toy policy's SFT 6.5 times slower (benchmarks/busy_machine.py)."""
    if n is None:
        return
    os.environ.update(thread_env(n))
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    # torch takes OMP_NUM_THREADS when it is imported; importing it here would cost a fresh
    # interpreter (a Slurm job) over a second for nodes that never use it (compare, report)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def cpus() -> int:
    """CPUs this process may run on (its affinity mask, which Slurm and containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
