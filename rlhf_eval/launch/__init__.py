"""Executors decide where a node runs; every executor runs `run_node`, so files are the same.

To add an executor, write a module with `execute(run_dir, nodes, console, recipe, address)` that
runs `rlhf-eval node RUN_DIR NODE_ID` (or `run_node`) for each node that is not done, in dependency
order, and add it to EXECUTORS below. Slurm is not one: `rlhf-eval submit` hands the graph to Slurm
and returns (launch/slurm.py).
"""
from rlhf_eval.registry import Registry

EXECUTORS = Registry("executor", {"local": "rlhf_eval.launch.local:execute",
                                  "ray": "rlhf_eval.launch.ray_exec:execute"})

# Our rich bars replace the libraries' own tqdm bars and per-step log prints; Ray workers get the
# same settings.
QUIET_ENV = {"TQDM_DISABLE": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
             "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}

# Libraries whose warnings quiet_libraries silences (module names, as warnings.filterwarnings matches them).
LIBRARIES = r"(transformers|trl|datasets|torch|accelerate|lm_eval|peft|ray|sklearn|huggingface_hub|pyarrow)(\.|$)"


def quiet_libraries() -> None:
    """Our rich bars replace the libraries' own tqdm bars and per-step log prints; every process
    that runs nodes calls this (the CLI, the local executor's workers)."""
    import os
    import warnings

    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)
    # The libraries' deprecation and advice warnings, which users of this tool cannot act on; our
    # own warnings, and Python's, still show.
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=LIBRARIES)
