"""Every vLLM call the project makes, against the signatures of the release requirements-gpu.lock
pins, read from its source with ast (no import, no GPU): keyword arguments that release does not
take, engine_args of the cards it would not accept, and the defaults our settings rely on."""
import ast
from pathlib import Path

import pytest
import yaml

import vllm_release
from rlhf_eval.gen.base import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def src():
    try:
        return vllm_release.sources()
    except OSError as exc:
        pytest.skip(f"vLLM {vllm_release.VERSION}'s source is not cached and the index does not answer: {exc}")


def our_calls() -> dict[str, list[tuple[str, set[str], list[str]]]]:
    """{callee: [(file:line, keyword names, ** expressions)]} for vLLM's entry points in rlhf_eval/."""
    found: dict[str, list] = {}
    for path in sorted((ROOT / "rlhf_eval").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Name) and f.id in ("LLM", "SamplingParams", "PoolingParams"):
                name = f.id
            elif isinstance(f, ast.Attribute) and f.attr in ("generate", "encode") and \
                    ast.unparse(f.value) == "self.llm":
                name = f"LLM.{f.attr}"
            else:
                continue
            found.setdefault(name, []).append((f"{path.relative_to(ROOT)}:{node.lineno}",
                                               {k.arg for k in node.keywords if k.arg},
                                               [ast.unparse(k.value) for k in node.keywords if k.arg is None]))
    return found


def card_engine_args() -> dict[str, set[str]]:
    out = {}
    for folder in ("policies", "reward_models"):
        for card in sorted((ROOT / folder).glob("*.yaml")):
            args = (yaml.safe_load(card.read_text()) or {}).get("engine_args") or {}
            if args:
                out[f"{folder}/{card.name}"] = set(args)
    return out


def test_every_vllm_call_passes_only_what_the_pinned_release_takes(src):
    calls = our_calls()
    # The scan sees every call site (so a renamed receiver cannot hide one).
    assert {k: len(v) for k, v in calls.items()} == {"LLM": 3, "SamplingParams": 3, "PoolingParams": 1,
                                                      "LLM.generate": 3, "LLM.encode": 1}
    llm_params, llm_kwargs = vllm_release.parameters(src["vllm/entrypoints/llm.py"], "LLM", "__init__")
    engine = set(vllm_release.fields(src["vllm/engine/arg_utils.py"], "EngineArgs"))
    assert llm_kwargs and {"runner", "seed", "trust_remote_code", "gpu_memory_utilization"} <= llm_params
    sampling = set(vllm_release.fields(src["vllm/sampling_params.py"], "SamplingParams"))
    pooling = set(vllm_release.fields(src["vllm/pooling_params.py"], "PoolingParams"))
    takes = {"LLM": llm_params | engine, "SamplingParams": sampling, "PoolingParams": pooling,
             "LLM.generate": vllm_release.parameters(src["vllm/entrypoints/llm.py"], "LLM", "generate")[0],
             # LLM takes encode from PoolingOfflineMixin in that release.
             "LLM.encode": vllm_release.parameters(src["vllm/entrypoints/pooling/offline.py"], "PoolingOfflineMixin",
                                                   "encode")[0]}
    spread = {"self.engine_args": set().union(*card_engine_args().values()),
              "self.settings.for_vllm()": set(Settings(top_k=5).for_vllm()),
              "settings.for_vllm()": set(Settings(temperature=0).for_vllm())}
    unknown = []
    for callee, sites in calls.items():
        for where, keywords, stars in sites:
            names = keywords | set().union(*(spread[s] for s in stars))
            unknown += [f"{where}: {callee}({n}=...)" for n in sorted(names - takes[callee])]
    assert unknown == []
    assert "PoolingOfflineMixin" in ast.unparse(vllm_release._class(src["vllm/entrypoints/llm.py"], "LLM").bases[1])
    # A keyword the release does not take is caught (the check can fail).
    assert "top_k_cutoff" not in sampling and "pooling_task" in takes["LLM.encode"]


def test_the_cards_engine_args_are_engine_arguments_of_the_release(src):
    engine = set(vllm_release.fields(src["vllm/engine/arg_utils.py"], "EngineArgs"))
    llm_params, _ = vllm_release.parameters(src["vllm/entrypoints/llm.py"], "LLM", "__init__")
    cards = card_engine_args()
    assert cards, "no card sets engine_args"
    assert {card: sorted(args - engine - llm_params) for card, args in cards.items()} == {c: [] for c in cards}


def test_the_neutral_sampling_values_are_the_releases_off_switches(src):
    """top_k 0, min_p 0 and repetition_penalty 1 switch the filter off in that release, as they do
    in transformers; vLLM does not take top_k=None."""
    defaults = vllm_release.fields(src["vllm/sampling_params.py"], "SamplingParams")
    neutral = Settings().for_vllm()
    assert {k: defaults[k] for k in neutral} == {"temperature": "1.0", "top_p": "1.0", "top_k": "0", "min_p": "0.0",
                                                  "repetition_penalty": "1.0"}
    assert "Set to 0 (or -1) to\n    consider all tokens" in src["vllm/sampling_params.py"]
    assert "n must be 1 when using greedy sampling" in src["vllm/sampling_params.py"]
