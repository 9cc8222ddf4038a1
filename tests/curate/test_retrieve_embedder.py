"""curate.retrieve.embedder=rm: hidden states on the model's own device and dtype, returned as
float32; a judge whose engine exposes no model (vLLM, remote, openai) is refused at load and at run."""
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ROOT
from rlhf_eval.config import ConfigError, load_recipe
from rlhf_eval.curate.retrieve import HiddenStateEmbedder
from rlhf_eval.errors import UserError

TEXTS = ["sort these letters : b a", "sort these letters : c b a", "a b c"]


def test_embeddings_come_back_as_float32_unit_rows_whatever_the_models_dtype(tiny_lm):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    full = HiddenStateEmbedder(SimpleNamespace(model=model, tok=tok)).embed(TEXTS)
    half = HiddenStateEmbedder(SimpleNamespace(model=model.to(torch.bfloat16), tok=tok)).embed(TEXTS)
    assert full.dtype == half.dtype == np.float32 and full.shape == (3, model.config.hidden_size)
    assert np.allclose(np.linalg.norm(half, axis=1), 1, atol=1e-5)
    assert (full * half).sum(1) == pytest.approx([1, 1, 1], abs=2e-2)


def test_a_scorer_without_a_model_is_refused_with_the_way_out():
    with pytest.raises(UserError, match="curate.retrieve.embedder=tfidf"):
        HiddenStateEmbedder(SimpleNamespace(tok=None))


def test_a_vllm_judge_with_the_rm_embedder_is_refused_at_load(tmp_path, monkeypatch):
    cards = tmp_path / "cards" / "reward_models"
    cards.mkdir(parents=True)
    card = (ROOT / "reward_models" / "judge-clean.yaml").read_text().replace("kind: implicit", "kind: classifier")
    (cards / "judge-clean.yaml").write_text(card + "backend: vllm\n")
    monkeypatch.setenv("RLHF_EVAL_CARDS", str(tmp_path / "cards"))
    steps = "curate.steps=[dedup,consistency,retrieve]"
    with pytest.raises(ConfigError, match="only backend transformers exposes; RM card 'judge-clean' has backend vllm"):
        load_recipe(ROOT / "recipes" / "quickstart.yaml", [steps, "curate.retrieve.embedder=rm"])
    load_recipe(ROOT / "recipes" / "quickstart.yaml", [steps, "curate.retrieve.embedder=tfidf"])
