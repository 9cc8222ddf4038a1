"""policy_eval stage: lm-eval's own `hf` backend on the base policy or an RL checkpoint, greedy
(one response per prompt) or sampled (evals.sampled: k responses per prompt, scored each)."""
from __future__ import annotations

from rlhf_eval import store
from rlhf_eval.config import PolicyCard, from_params
from rlhf_eval.device import torch_device
from rlhf_eval.evals.harness import evaluate, lm_eval_command, primary_metric, task_yaml
from rlhf_eval.evals.sampled import per_prompt, sampled_task
from rlhf_eval.rl.base import checkpoint_at
from rlhf_eval.toy.stage import resolve


def run(ctx) -> dict:
    from lm_eval.models.huggingface import HFLM

    p = ctx.params
    policy = from_params(PolicyCard, p["policy"])
    toy = ctx.out("toy") if ctx.has("toy") else None
    if ctx.has("rl"):
        path = checkpoint_at(ctx.out("rl"), p["step"]).path
    else:
        path = resolve(policy.path, toy, "policy")
    sampling = p.get("sampling")
    task = p["task"]
    if sampling:
        task = str(sampled_task(*task_yaml(task, toy), ctx.dir / "tasks", sampling["samples"],
                                sampling["temperature"], sampling["top_p"]))
    lm = HFLM(pretrained=path, batch_size=p["batch_size"], device=torch_device(),
              trust_remote_code=policy.trust_remote_code)
    command = lm_eval_command("hf", {"pretrained": path, "trust_remote_code": policy.trust_remote_code},
                              task, toy, p["limit"], p["batch_size"], torch_device())
    with ctx.bar(f"lm-eval {p['task']}" + (f" ({sampling['samples']} samples per prompt)" if sampling else ""),
                 1) as update:
        metrics, samples, lm_task = evaluate(lm, task, toy, p["limit"], log=ctx.dir / "lm_eval.log")
        update(1)
    metric = primary_metric(samples)
    if sampling:
        per_doc = per_prompt(lm_task, samples, metric, sampling["pass_at"])
    else:
        per_doc = [{"doc_id": s["doc_id"], metric: float(s[metric])} for s in samples]
    store.write_jsonl(ctx.dir / "samples.jsonl", per_doc)

    def mean(key):
        return sum(d[key] for d in per_doc) / len(per_doc)
    return {"policy": policy.name, "rm": p["rm"], "task": p["task"], "path": path,
            "step": p["step"], "final": p["final"], "seed": p.get("seed"), "rm_seed": p.get("rm_seed"),
            "metric": metric, "value": mean(metric), "metrics": metrics, "n": len(per_doc),
            "samples": str(ctx.dir / "samples.jsonl"), "lm_eval_command": command,
            "responses_per_prompt": sampling["samples"] if sampling else 1, "sampling": sampling,
            "pass_at": {str(k): mean(f"pass@{k}") for k in sampling["pass_at"]} if sampling else {}}
