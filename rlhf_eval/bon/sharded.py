"""Generation and RM scoring split into shards that run as Ray tasks. Both wrappers keep the
plain backends' interfaces (`sample`, `score`), so the stages do not change with them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rlhf_eval.config import RayShardConfig
from rlhf_eval.gen import SamplerSpec, reproducibility
from rlhf_eval.launch.ray_shards import run_shards, split


def _sample_piece(spec, contexts, n, max_new_tokens, until, block):
    from rlhf_eval.gen import make_sampler
    return make_sampler(spec).sample(contexts, n, max_new_tokens, until, block=block)


def _score_piece(rm_manifest: dict, prompts, responses):
    from rlhf_eval.rm.base import load_scorer
    scorer = load_scorer(rm_manifest)
    return {"scores": scorer.score(prompts, responses), "truncated": scorer.truncated}


@dataclass
class ShardedSampler:
    """Each shard builds its own sampler from `spec` in its worker."""
    spec: SamplerSpec
    work_dir: Path
    ray: RayShardConfig  # shards, and what each reserves
    attempts: dict = field(default_factory=dict)

    def __post_init__(self):
        from transformers import AutoTokenizer
        self.tok = AutoTokenizer.from_pretrained(self.spec.path, trust_remote_code=self.spec.trust_remote_code)
        self.seed = self.spec.seed
        self.reproducibility = reproducibility(self.spec)

    def sample(self, contexts, n, max_new_tokens, until=None, block=0, progress=None):
        pieces = split(len(contexts), self.ray.shards)
        args = [(self.spec, contexts[r.start:r.stop], n, max_new_tokens, until, block) for r in pieces]
        results, attempts = run_shards(_sample_piece, args, self.work_dir, f"block-{block:04d}", self.ray,
                                       progress=lambda d, t: progress(d * len(contexts) // t, len(contexts))
                                       if progress else None)
        self.attempts.update({f"block-{block}-shard-{i}": a for i, a in attempts.items()})
        out = [texts for piece in results for texts in piece]
        if len(out) != len(contexts):
            raise RuntimeError(f"shards returned {len(out)} prompts' samples for {len(contexts)} prompts")
        return out


@dataclass
class ShardedScorer:
    rm_manifest: dict
    work_dir: Path
    ray: RayShardConfig
    truncated: int = 0
    attempts: dict = field(default_factory=dict)

    def score(self, prompts, responses, progress=None):
        pieces = split(len(prompts), self.ray.shards)
        args = [(self.rm_manifest, prompts[r.start:r.stop], responses[r.start:r.stop]) for r in pieces]
        results, attempts = run_shards(_score_piece, args, self.work_dir, "score", self.ray, progress)
        self.attempts.update({f"score-shard-{i}": a for i, a in attempts.items()})
        self.truncated += sum(r["truncated"] for r in results)
        out = [s for r in results for s in r["scores"]]
        if len(out) != len(prompts):
            raise RuntimeError(f"shards returned {len(out)} scores for {len(prompts)} inputs")
        return out
