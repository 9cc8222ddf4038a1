"""bon_generate stage: N_max candidates per prompt, sampled once through lm-eval (so any
generate_until task works), plus each candidate's gold value from the task's own metric.

Candidates are drawn in blocks (`bon.block`). Block j is seeded independently of N_max, so when a
node with the same policy, task and sampling settings but a smaller N_max already exists in the
run, its candidates and gold values are reused and only the missing blocks are sampled.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from rlhf_eval import store
from rlhf_eval.bon.artifacts import CandidateSet
from rlhf_eval.bon.lm import BestOfN, CandidateSampler, prompt_id
from rlhf_eval.config import PolicyCard, RayShardConfig, from_params
from rlhf_eval.evals.harness import primary_metric, run_task
from rlhf_eval.gen import SamplerSpec, make_sampler
from rlhf_eval.gen.base import Settings
from rlhf_eval.toy.stage import resolve


@dataclass(frozen=True)
class Sampling:
    """The bon.* sampling settings, each falling back to the policy card's (pipeline.expand)."""
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    repetition_penalty: float
    max_new_tokens: int
    seed: int

    @property
    def settings(self) -> Settings:
        return Settings(self.temperature, self.top_p, self.top_k, self.min_p, self.repetition_penalty)


@dataclass(frozen=True)
class GenerateJob:
    """A bon_generate node's params, typed."""
    policy: PolicyCard
    task: str
    n_max: int
    block: int
    sampling: Sampling
    limit: int | None
    batch_size: int
    ray: RayShardConfig

    @classmethod
    def from_params(cls, p: dict) -> GenerateJob:
        return cls(from_params(PolicyCard, p["policy"]), p["task"], p["n_max"], p["block"], Sampling(**p["sampling"]),
                   p["limit"], p["batch_size"], from_params(RayShardConfig, p["ray"]))


def sample_context(sample: dict) -> str:
    args = sample["arguments"]
    first = args[0] if isinstance(args, list) else args["gen_args_0"]["arg_0"]
    return first[0] if isinstance(first, (list, tuple)) else first


def gold_values(tok, candidates: list[dict], indices: list[int], task: str, toy, limit, update, log) -> list[dict]:
    """Answer the task with candidate k for each k in indices; the task's metric per (prompt, k)."""
    rows = []
    for done, k in enumerate(indices, 1):
        _, samples = run_task(BestOfN(tok, candidates, pick=k), task, toy, limit, log=log)
        metric = primary_metric(samples)
        for s in samples:
            rows.append({"prompt_id": prompt_id(sample_context(s)), "sample_idx": k,
                         "gold": float(s[metric]), "metric": metric})
        update(done)
    return rows


def pool_key(params: dict) -> str:
    """Everything that fixes the candidates except how many there are."""
    blob = json.dumps({k: v for k, v in params.items() if k != "n_max"}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def reusable(node_dir: Path, key: str) -> tuple[CandidateSet, str] | None:
    """The done sibling node (files intact) with the same pool and the most candidates, if any,
    and its key."""
    best = None
    for manifest in node_dir.parent.glob("*/manifest.json"):
        if manifest.parent == node_dir:
            continue
        m, _ = store.done_manifest(manifest.parent, manifest.parent.name)
        if m and m["outputs"].get("pool_key") == key:
            found = CandidateSet.from_outputs(m["outputs"])
            if best is None or found.n_max > best[0].n_max:
                best = found, manifest.parent.name
    return best


def build_sampler(job: GenerateJob, policy_path: str, ctx):
    s = job.sampling
    spec = SamplerSpec(job.policy.backend, policy_path, s.settings, s.seed, job.batch_size,
                       job.policy.trust_remote_code, job.policy.engine_args)
    if job.ray.enabled:
        from rlhf_eval.bon.sharded import ShardedSampler
        return ShardedSampler(spec, ctx.dir / "shards", job.ray)
    return make_sampler(spec)


def run(ctx) -> dict:
    job = GenerateJob.from_params(ctx.params)
    toy = ctx.out("toy") if ctx.has("toy") else None
    n_max, block = job.n_max, job.block
    key = pool_key(ctx.params)
    policy_path = resolve(job.policy.path, toy, "policy")
    old, old_key = reusable(ctx.dir, key) or (None, None)
    have = min(old.n_max, n_max) if old else 0
    candidates = [c for c in store.read_jsonl(old.candidates) if c["sample_idx"] < have] if old else []
    gold = [g for g in store.read_jsonl(old.gold) if g["sample_idx"] < have] if old else []
    sampler = build_sampler(job, policy_path, ctx)
    new_blocks = list(range(have // block, n_max // block))
    if new_blocks:
        with ctx.bar(f"sampling {len(new_blocks) * block} candidates per prompt "
                     f"({have} reused)" if have else f"sampling {n_max} candidates per prompt", None) as update:
            lm = CandidateSampler(sampler, block, new_blocks, job.sampling.max_new_tokens, progress=update)
            run_task(lm, job.task, toy, job.limit, log=ctx.dir / "lm_eval.log")
        new = [c | {"policy": job.policy.name} for c in lm.candidates]
        candidates += new
        indices = list(range(have, n_max))
        with ctx.bar("gold value of every new candidate (task metric)", len(indices)) as update:
            gold += gold_values(sampler.tok, candidates, indices, job.task, toy, job.limit, update,
                                ctx.dir / "lm_eval.log")
    else:
        new = []
    store.write_jsonl(ctx.dir / "candidates.jsonl", candidates)
    store.write_jsonl(ctx.dir / "gold.jsonl", gold)
    n_prompts = len({c["prompt_id"] for c in candidates})
    return {"candidates": str(ctx.dir / "candidates.jsonl"), "gold": str(ctx.dir / "gold.jsonl"),
            "policy": job.policy.name, "policy_path": policy_path, "task": job.task,
            "n_max": n_max, "block": block, "n_prompts": n_prompts, "sampling": ctx.params["sampling"],
            "backend": job.policy.backend, "metric": gold[0]["metric"], "pool_key": key,
            "reused_from": old_key if have else None, "reused_candidates": have * n_prompts,
            "sampled_candidates": len(new),
            "tokens_sampled": sum(len(sampler.tok(c["text"], add_special_tokens=False)["input_ids"]) for c in new),
            "shard_attempts": getattr(sampler, "attempts", None),
            "reproducibility": getattr(sampler, "reproducibility", None)}
