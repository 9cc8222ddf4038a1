"""Sampling from a policy. Backends are registered in SAMPLERS: a class taking SamplerSpec's fields
as keyword arguments and implementing gen.base.Sampler. A new backend is one module and one line."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from rlhf_eval.gen.base import Settings
from rlhf_eval.registry import Registry

SAMPLERS = Registry("generation backend", {
    "transformers": "rlhf_eval.gen.transformers_backend:TransformersSampler",  # the CPU default
    "vllm": "rlhf_eval.gen.vllm_backend:VLLMSampler",  # GPU; pip install rlhf-eval[vllm]
})


@dataclass(frozen=True)
class SamplerSpec:
    """Everything a sampler is built from; picklable, so Ray shards build their own."""
    backend: str
    path: str
    settings: Settings
    seed: int
    batch_size: int
    trust_remote_code: bool = False
    engine_args: dict = field(default_factory=dict)


def reproducibility(spec: SamplerSpec) -> dict:
    """What a Ray-sharded sampler's manifest says: each shard builds its own engine with the
    spec's settings, and the shard boundaries are one more batching."""
    if spec.backend == "vllm":
        from rlhf_eval.gen.vllm_backend import deterministic_env
        from rlhf_eval.gen.vllm_backend import reproducibility as vllm_account
        return vllm_account(deterministic_env()) | {"sharded": True}
    if spec.backend == "transformers":
        from rlhf_eval.device import torch_device
        from rlhf_eval.gen.transformers_backend import reproducibility as hf_account
        return hf_account(spec.batch_size, torch_device()) | {"sharded": True}
    return {"engine": spec.backend, "sharded": True}


def make_sampler(spec: SamplerSpec):
    """The backend the spec names; its engine is imported only now."""
    cls = SAMPLERS.load(spec.backend)
    return cls(**{f.name: getattr(spec, f.name) for f in fields(spec) if f.name != "backend"})
