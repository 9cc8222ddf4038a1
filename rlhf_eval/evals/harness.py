"""lm-eval integration: find tasks (the toy world's, a task YAML path, or lm-eval's own) and run
them on any lm-eval model, keeping per-sample metrics."""
from __future__ import annotations

import contextlib
import logging
import shlex
from pathlib import Path

import yaml

from rlhf_eval.errors import UserError


def resolve_task(ref: str, toy: dict | None) -> tuple[str, list[str], bool]:
    """(task name, include paths, whether lm-eval's built-in tasks are needed)."""
    if toy is not None and ref in toy.get("tasks", []):
        return ref, [toy["tasks_dir"]], False
    path = Path(ref)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"task YAML {ref} does not exist")
        name = (yaml.safe_load(path.read_text()) or {}).get("task")
        if not name:
            raise UserError(f"{ref}: task YAML has no 'task' key")
        return name, [str(path.resolve().parent)], False
    return ref, [], True


def task_manager(includes: list[str], builtin: bool):
    from lm_eval.tasks import TaskManager
    return TaskManager(include_path=includes or None, include_defaults=builtin)


def task_yaml(task_ref: str, toy: dict | None) -> tuple[str, str]:
    """(task name, the path of the YAML that defines it)."""
    name, includes, builtin = resolve_task(task_ref, toy)
    entry = task_manager(includes, builtin).task_index.get(name)
    if entry is None or not getattr(entry, "yaml_path", None):
        raise UserError(f"lm-eval task {name!r} not found (or it is a group, not one task)")
    return name, str(entry.yaml_path)


def run_task(lm, task_ref: str, toy: dict | None, limit: int | None = None,
             apply_chat_template: bool = True, log: Path | None = None) -> tuple[dict, list[dict]]:
    """Run one task; returns (metrics of the task, per-sample records)."""
    metrics, samples, _ = evaluate(lm, task_ref, toy, limit, apply_chat_template, log)
    return metrics, samples


def evaluate(lm, task_ref: str, toy: dict | None, limit: int | None = None,
             apply_chat_template: bool = True, log: Path | None = None):
    """Run one task: (its metrics, the per-sample records of its first filter pipeline, the lm-eval
    Task). A task with several filter pipelines (gsm8k's strict and flexible matches) logs a
    record per pipeline; the first is the task's headline. lm-eval's own progress bars and
    warnings go to `log` (appended) instead of the terminal, where ours are."""
    import lm_eval

    logging.getLogger("lm-eval").setLevel(logging.WARNING)
    name, found, builtin = resolve_task(task_ref, toy)
    manager = task_manager(found, builtin)
    with open(log or "/dev/null", "a") as sink, contextlib.redirect_stderr(sink):
        task = manager.load([name])["tasks"][name]
        res = lm_eval.simple_evaluate(
            model=lm, tasks=[task], task_manager=manager, limit=limit,
            apply_chat_template=apply_chat_template, log_samples=True, bootstrap_iters=0,
            verbosity="WARNING")
    metrics = {k: v for k, v in res["results"][name].items() if isinstance(v, (int, float))}
    first = task._filters[0].name
    return metrics, [s for s in res["samples"][name] if s.get("filter", first) == first], task


def primary_metric(samples: list[dict]) -> str:
    for key in ("exact_match", "acc", "prompt_level_strict_acc"):
        if samples and key in samples[0]:
            return key
    raise UserError("no known metric in lm-eval samples; tasks must report exact_match or acc")


def lm_eval_command(model: str, model_args: dict, task_ref: str, toy: dict | None, limit: int | None = None,
                    batch_size: int | None = None, device: str | None = None, program: str = "lm_eval") -> str:
    """The `lm_eval` command line that reproduces an evaluation here. --apply_chat_template is
    part of it: chat policies answer through their template (without it the toy policy scores 0)."""
    name, includes, _ = resolve_task(task_ref, toy)
    argv = [program, "run", "--model", model,
            "--model_args", ",".join(f"{k}={v}" for k, v in model_args.items()),
            "--tasks", name, "--apply_chat_template"]
    argv += [a for inc in includes for a in ("--include_path", inc)]
    argv += ["--limit", str(limit)] if limit is not None else []
    argv += ["--batch_size", str(batch_size)] if batch_size is not None else []
    argv += ["--device", device] if device else []
    return shlex.join(argv)
