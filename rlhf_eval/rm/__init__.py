"""Reward models: training (stage.py), scoring and serving.

Scoring backends are registered in SCORERS: `backend -> "module:load"`, where load(outputs) builds
a Scorer (rm.base) from a train_rm node's outputs. RM_KINDS says which backends score which kind
of RM; the config checks cards against it. A new backend is one module and one line in each.
"""
from rlhf_eval.registry import Registry

SCORERS = Registry("RM backend", {
    "transformers": "rlhf_eval.rm.transformers_scorer:load",  # the CPU default
    "vllm": "rlhf_eval.rm.vllm_scorer:load",  # pooling runner (classifiers) or generate (judges), GPU; [vllm]
    "remote": "rlhf_eval.rm.remote:load",  # an HTTP server speaking OpenRLHF's remote-RM protocol
    "openai": "rlhf_eval.rm.judge_openai:load",  # an OpenAI-compatible chat-completions endpoint (judges)
})
RM_KINDS = {
    "classifier": ("transformers", "vllm", "remote"),  # a scalar head on the last token
    "implicit": ("transformers",),  # a DPO-tuned policy: beta * log pi(y|x) / pi_ref(y|x)
    "generative": ("transformers", "vllm", "openai"),  # an LLM judge answering a prompt (rm/judge.py)
}


def kind_problem(kind: str, backend: str) -> str | None:
    """Why `backend` cannot score an RM of `kind` (RM_KINDS), or None: the one check the config
    runs on cards and load_scorer runs on trained RMs."""
    if backend in RM_KINDS.get(kind, ()):
        return None
    takes = [k for k, backends in RM_KINDS.items() if backend in backends]
    return (f"the {backend} backend cannot score {kind} RMs; set kind: {' or '.join(takes) or '-'}, "
            f"or backend: {' or '.join(RM_KINDS.get(kind, ())) or '-'}")
