"""Sampling from a policy. Backends are registered in SAMPLERS: a class taking SamplerSpec's fields
as keyword arguments and implementing gen.base.Sampler. A new backend is one module and one line."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

SAMPLERS = {
    "transformers": "rlhf_eval.gen.transformers_backend:TransformersSampler",  # the CPU default
    "vllm": "rlhf_eval.gen.vllm_backend:VLLMSampler",  # GPU; pip install rlhf-eval[vllm]
}


@dataclass(frozen=True)
class SamplerSpec:
    """Everything a sampler is built from; picklable, so Ray shards build their own."""
    backend: str
    path: str
    temperature: float
    top_p: float
    seed: int
    batch_size: int
    trust_remote_code: bool = False
    engine_args: dict = field(default_factory=dict)


def make_sampler(spec: SamplerSpec):
    """The backend the spec names; its engine is imported only now."""
    from rlhf_eval.extensions import load
    cls = load(SAMPLERS, spec.backend, "generation backend")
    return cls(**{k: v for k, v in asdict(spec).items() if k != "backend"})
