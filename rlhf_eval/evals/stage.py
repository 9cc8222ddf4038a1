"""policy_eval stage: lm-eval's own `hf` backend on the base policy or an RL checkpoint."""
from __future__ import annotations

from rlhf_eval import store
from rlhf_eval.config import PolicyCard, from_params
from rlhf_eval.device import torch_device
from rlhf_eval.evals.harness import lm_eval_command, primary_metric, run_task
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
    lm = HFLM(pretrained=path, batch_size=p["batch_size"], device=torch_device(),
              trust_remote_code=policy.trust_remote_code)
    command = lm_eval_command("hf", {"pretrained": path, "trust_remote_code": policy.trust_remote_code},
                              p["task"], toy, p["limit"], p["batch_size"], torch_device())
    with ctx.bar(f"lm-eval {p['task']}", 1) as update:
        metrics, samples = run_task(lm, p["task"], toy, p["limit"], log=ctx.dir / "lm_eval.log")
        update(1)
    metric = primary_metric(samples)
    per_doc = [{"doc_id": s["doc_id"], metric: float(s[metric])} for s in samples]
    store.write_jsonl(ctx.dir / "samples.jsonl", per_doc)
    return {"policy": policy.name, "rm": p["rm"], "task": p["task"], "path": path,
            "step": p["step"], "final": p["final"], "seed": p.get("seed"),
            "metric": metric, "value": sum(d[metric] for d in per_doc) / len(per_doc),
            "metrics": metrics, "n": len(per_doc), "samples": str(ctx.dir / "samples.jsonl"),
            "lm_eval_command": command}
