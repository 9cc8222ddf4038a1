"""Run `rlhf-eval node` in a process forked from a warm parent instead of a fresh interpreter.

A fresh `python -m rlhf_eval.cli node` spends seconds importing torch, transformers, TRL and
lm-eval before the node starts. Here each executor worker (a Ray worker) starts one forkserver
that imports them once; every node then runs in its own child forked from it. Isolation is kept:
a node's process, memory and global state (seeds, monkeypatches, CUDA context) end with it,
exactly as with a fresh interpreter. What the node shares with its siblings is the state of the
preloaded modules at import time, which no node writes back.
"""
from __future__ import annotations

import multiprocessing
import os
import sys

# Imported once per forkserver; a module that does not import (lm-eval absent, say) is skipped.
# transformers and TRL import their parts lazily, so the parts the stages use are named (the
# Trainer alone takes 1.5 s); the stages' own modules come last.
PRELOAD = ["rlhf_eval.cli", "rlhf_eval.launch.node", "numpy", "scipy.stats", "torch", "transformers",
           "transformers.trainer", "transformers.models.llama.modeling_llama", "datasets", "trl",
           "trl.trainer.reward_trainer", "trl.trainer.dpo_trainer", "trl.trainer.sft_trainer",
           "trl.trainer.grpo_trainer", "trl.trainer.rloo_trainer", "lm_eval", "lm_eval.evaluator",
           "sklearn.feature_extraction.text", "rlhf_eval.report.plots", "rlhf_eval.toy.stage", "rlhf_eval.curate.stage",
           "rlhf_eval.rm.train_trl", "rlhf_eval.rm.transformers_scorer", "rlhf_eval.bench.stage",
           "rlhf_eval.bon.generate_stage",
           "rlhf_eval.bon.eval_stage", "rlhf_eval.rl.trl_engine", "rlhf_eval.compare.stage", "rlhf_eval.report.stage"]

_context = None


def _forkserver(env: dict):
    """This process's forkserver, started on first use with `env` in its environment: libraries
    read settings such as TQDM_DISABLE when they are imported, so they must be set before."""
    global _context
    if _context is None:
        os.environ.update(env)
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _node_main(run_dir: str, node_id: str, log: str, cwd: str, env: dict) -> None:
    """The child: stdout and stderr to the node's log, then `rlhf-eval node RUN_DIR NODE_ID`."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    os.chdir(cwd)
    os.environ.update(env)
    if env.get("OMP_NUM_THREADS"):  # the forkserver's torch read its thread count when it was imported
        from rlhf_eval.device import use_threads
        use_threads(int(env["OMP_NUM_THREADS"]))
    sys.argv = ["rlhf-eval", "node", run_dir, node_id]
    from rlhf_eval.cli import main
    main()


def run_node_process(run_dir: str, node_id: str, log: str, cwd: str, env: dict) -> int:
    """Run the node in a child of the warm forkserver, its output appended to `log`; its exit code."""
    proc = _forkserver(env).Process(target=_node_main, args=(run_dir, node_id, log, cwd, env))
    proc.start()
    proc.join()
    return proc.exitcode
