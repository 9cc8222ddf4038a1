"""Executors decide where a node runs; every executor runs `run_node`, so files are the same.

To add an executor, write a module with `execute(run_dir, nodes, console, recipe, address)` that
runs `rlhf-eval node RUN_DIR NODE_ID` (or `run_node`) for each node that is not done, in dependency
order, and add it to EXECUTORS below. Slurm is not one: `rlhf-eval submit` hands the graph to Slurm
and returns (launch/slurm.py).
"""
EXECUTORS = {"local": "rlhf_eval.launch.local:execute", "ray": "rlhf_eval.launch.ray_exec:execute"}

# Our rich bars replace the libraries' own tqdm bars and per-step log prints; Ray workers get the
# same settings.
QUIET_ENV = {"TQDM_DISABLE": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
             "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
