"""Executors decide where a node runs; every executor runs `run_node`, so files are the same.

To add an executor, write a module with `execute(run_dir, nodes, console)` that runs (or submits)
`rlhf-eval node RUN_DIR NODE_ID` for each node that is not done, in dependency order, and add it
to EXECUTORS below.
"""
EXECUTORS = {"local": "rlhf_eval.launch.local:execute"}
