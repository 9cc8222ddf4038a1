"""Sampled evaluation: k responses per prompt drawn by lm-eval itself (the task's `repeats` and
generation kwargs, as lm-eval's own humaneval_64 does), each scored by the task's own filters and
metric, and summarised per prompt as the mean (pass@1 estimated from k samples) and pass@k."""
from __future__ import annotations

from math import comb
from pathlib import Path

import yaml

from rlhf_eval.errors import UserError


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k from n responses of which c are correct (Chen et al.
    2021): 1 - C(n-c, k) / C(n, k), the chance that k responses drawn without replacement from
    the n include a correct one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@{k} from n={n} responses with c={c} correct is undefined")
    return 1.0 - comb(n - c, k) / comb(n, k)


def sampled_task(name: str, yaml_path: str, out: Path, samples: int, temperature: float, top_p: float) -> Path:
    """A task YAML in `out` that includes the task's own YAML and asks for `samples` responses
    per prompt with these settings; its name is the task's plus `_sampled`."""
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = load_yaml(yaml_path, resolve_func=False)
    kind = cfg.get("output_type", "generate_until")
    if kind != "generate_until":
        raise UserError(f"task {name} ({yaml_path}) is {kind}: eval.samples and eval.temperature apply to "
                        "generate_until tasks only")
    gen = dict(cfg.get("generation_kwargs") or {}, do_sample=True, temperature=temperature, top_p=top_p)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}_sampled.yaml"
    path.write_text(yaml.safe_dump({"include": str(Path(yaml_path).resolve()), "task": f"{name}_sampled",
                                    "repeats": samples, "generation_kwargs": gen}, sort_keys=False))
    return path


def score_each(task, record: dict, metric: str) -> list[float]:
    """The task's metric on each of a logged sample's responses, through the task's first filter
    pipeline (the one lm-eval reports first), one response at a time; lm-eval itself scores
    only the first response of each prompt when a task repeats (its take_first filter)."""
    [responses] = record["resps"]
    filtered = [[r] for r in responses]
    for make in task._filters[0].filters:
        filtered = list(make().apply(filtered, [record["doc"]] * len(filtered)))
    return [float(task.process_results(record["doc"], [r])[metric]) for r in filtered]


def per_prompt(task, records: list[dict], metric: str, pass_at: list[int]) -> list[dict]:
    """Per prompt: the mean of the metric over its responses, the count correct, and pass@k.
    pass@k needs a 0/1 metric."""
    rows = []
    for rec in records:
        scores = score_each(task, rec, metric)
        row = {"doc_id": rec["doc_id"], metric: sum(scores) / len(scores), "responses": len(scores)}
        if pass_at:
            if any(s not in (0.0, 1.0) for s in scores):
                raise UserError(f"eval.pass_at needs a 0/1 metric; {metric} of task {task.task_name} gave "
                                f"{sorted(set(scores))[:5]}")
            row["correct"] = int(sum(scores))
            row |= {f"pass@{k}": pass_at_k(len(scores), row["correct"], k) for k in pass_at}
        rows.append(row)
    return rows
