"""One card, the same sampling on both engines: every field set explicitly, so transformers'
own top_k=50 and a checkpoint's generation_config.json never apply (vLLM ignores that file once
SamplingParams are given)."""
import json
import shutil

import pytest

from rlhf_eval.config import GenerationConfig
from rlhf_eval.gen.base import Settings
from rlhf_eval.gen.transformers_backend import TransformersSampler, stop_ids

CARDS = [GenerationConfig(), GenerationConfig(temperature=0.7, top_p=0.9, top_k=5, min_p=0.05, repetition_penalty=1.2),
         GenerationConfig(temperature=0, repetition_penalty=1.3)]


def settings(card: GenerationConfig) -> Settings:
    return Settings(card.temperature, card.top_p, card.top_k, card.min_p, card.repetition_penalty)


def transformers_filters(model, card) -> dict:
    """What generate() applies: the config it builds from our keyword arguments, the checkpoint's
    generation config and its global defaults (transformers' own merge)."""
    config, _ = model._prepare_generation_config(None, **settings(card).for_transformers())
    if not config.do_sample:
        return {"greedy": True, "repetition_penalty": config.repetition_penalty}
    return {"greedy": False, "temperature": config.temperature, "top_p": config.top_p,
            "top_k": config.top_k or 0, "min_p": config.min_p or 0.0, "repetition_penalty": config.repetition_penalty}


def vllm_filters(card) -> dict:
    kw = settings(card).for_vllm()
    if kw["temperature"] == 0:
        return {"greedy": True, "repetition_penalty": kw["repetition_penalty"]}
    return {"greedy": False} | kw


@pytest.fixture
def checkpoint_with_defaults(tiny_lm, tmp_path):
    """The tiny model with a generation_config.json that would cut sampling to the argmax."""
    path = tmp_path / "lm"
    shutil.copytree(tiny_lm, path)
    (path / "generation_config.json").write_text(json.dumps({"top_k": 1, "typical_p": 0.2, "eos_token_id": [1, 2]}))
    return str(path)


@pytest.mark.parametrize("card", CARDS, ids=["default", "filters", "greedy"])
def test_both_engines_get_the_same_settings_from_one_card(checkpoint_with_defaults, card):
    sampler = TransformersSampler(checkpoint_with_defaults)
    assert transformers_filters(sampler.model, card) == vllm_filters(card)


def test_transformers_default_and_the_checkpoints_file_would_differ(checkpoint_with_defaults):
    """What the explicit settings replace: left to itself, generate() cuts at the checkpoint's top_k=1
    (and, with no file, at its own 50); vLLM takes top_k=0 from our SamplingParams."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(checkpoint_with_defaults)
    config, _ = model._prepare_generation_config(None, do_sample=True)
    assert (config.top_k, config.typical_p) == (1, 0.2)
    model.generation_config = type(model.generation_config)()
    assert model._prepare_generation_config(None, do_sample=True)[0].top_k == 50


def test_the_checkpoints_sampling_defaults_do_not_reach_the_samples(checkpoint_with_defaults):
    sampler = TransformersSampler(checkpoint_with_defaults, settings=Settings(temperature=1.0), seed=0)
    context = sampler.tok.decode(list(range(3, 9)))
    drawn = sampler.sample([context], 8, 6)[0]
    assert len(set(drawn)) > 1  # top_k=1 from the file would make all 8 equal
    def draw(settings, n):
        return TransformersSampler(checkpoint_with_defaults, settings=settings, seed=0).sample([context], n, 6)[0]
    argmax, greedy = draw(Settings(top_k=1), 8), draw(Settings(temperature=0), 1)
    assert set(argmax) == set(greedy)
    # Generation stops at every EOS the checkpoint lists, as vLLM's does, plus the tokenizer's.
    assert sampler.stop_ids == sorted({1, 2, sampler.tok.eos_token_id})
    assert stop_ids(5, None) == [5] and stop_ids(None, 7) == [7]


def test_greedy_ignores_the_filters_on_both_engines():
    greedy = Settings(temperature=0, top_p=0.5, top_k=3, min_p=0.2)
    assert greedy.for_transformers() == {"do_sample": False, "repetition_penalty": 1.0}
    assert greedy.for_vllm() == {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0}
