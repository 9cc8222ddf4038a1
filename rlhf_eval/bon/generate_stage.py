"""bon_generate stage: N_max candidates per prompt, sampled once through lm-eval (so any
generate_until task works), plus each candidate's gold value from the task's own metric."""
from __future__ import annotations

from rlhf_eval import store
from rlhf_eval.bon.lm import BestOfN, CandidateSampler, prompt_id
from rlhf_eval.evals.harness import evaluate, primary_metric
from rlhf_eval.gen.transformers_backend import TransformersSampler
from rlhf_eval.toy.stage import resolve


def sample_context(sample: dict) -> str:
    args = sample["arguments"]
    first = args[0] if isinstance(args, list) else args["gen_args_0"]["arg_0"]
    return first[0] if isinstance(first, (list, tuple)) else first


def gold_values(tok, candidates: list[dict], n_max: int, task: str, toy, limit, update, log) -> list[dict]:
    """Answer the task with candidate k for k < n_max; the task's metric per (prompt, k)."""
    rows = []
    for k in range(n_max):
        _, samples = evaluate(BestOfN(tok, candidates, pick=k), task, toy, limit, log=log)
        metric = primary_metric(samples)
        for s in samples:
            rows.append({"prompt_id": prompt_id(sample_context(s)), "sample_idx": k,
                         "gold": float(s[metric]), "metric": metric})
        update(k + 1)
    return rows


def run(ctx) -> dict:
    p = ctx.params
    toy = ctx.out("toy") if ctx.has("toy") else None
    s = p["sampling"]
    policy_path = resolve(p["policy"]["path"], toy, "policy")
    sampler = TransformersSampler(policy_path, temperature=s["temperature"], top_p=s["top_p"],
                                  seed=s["seed"], batch_size=p["batch_size"],
                                  trust_remote_code=p["policy"]["trust_remote_code"])
    with ctx.bar(f"sampling {p['n_max']} candidates per prompt", None) as update:
        lm = CandidateSampler(sampler, p["n_max"], s["max_new_tokens"], progress=update)
        evaluate(lm, p["task"], toy, p["limit"], log=ctx.dir / "lm_eval.log")
    candidates = [c | {"policy": p["policy"]["name"]} for c in lm.candidates]
    store.write_jsonl(ctx.dir / "candidates.jsonl", candidates)
    with ctx.bar("gold value of every candidate (task metric)", p["n_max"]) as update:
        gold = gold_values(sampler.tok, candidates, p["n_max"], p["task"], toy, p["limit"], update,
                           ctx.dir / "lm_eval.log")
    store.write_jsonl(ctx.dir / "gold.jsonl", gold)
    n_prompts = len({c["prompt_id"] for c in candidates})
    return {"candidates": str(ctx.dir / "candidates.jsonl"), "gold": str(ctx.dir / "gold.jsonl"),
            "policy": p["policy"]["name"], "policy_path": policy_path, "task": p["task"],
            "n_max": p["n_max"], "n_prompts": n_prompts, "sampling": s, "metric": gold[0]["metric"],
            "tokens_sampled": sum(len(sampler.tok(c["text"])["input_ids"]) for c in candidates)}
