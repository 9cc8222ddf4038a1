"""Issue 31, item 2: the reward is read at the same token by transformers (the last token that is
not padding), vLLM's last-token pooling and OpenRLHF's RewardModel (the last attended position),
also for a base whose pad token is its EOS and whose chat template ends with the EOS."""
import shutil

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rlhf_eval.config import RMTrainConfig
from rlhf_eval.rm.train_trl import RM_PAD, train_classifier

PAIRS = [{"id": str(i), "source": "s", "prompt": f"sort these letters : {a} {b}",
          "chosen": f"{min(a, b)} {max(a, b)} done", "rejected": f"{b} {a}", "meta": {}}
         for i, (a, b) in enumerate(zip("abcdefgh", "hgfedcba"))]


def pad_is_eos(tiny_lm, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_lm, base)
    tok = AutoTokenizer.from_pretrained(base)
    tok.pad_token = tok.eos_token  # as TRL does for Llama-3.1-Instruct, whose template ends with the EOS
    tok.save_pretrained(base)
    return str(base), tok


def readings(model, tok, texts):
    """(transformers, vLLM-style last token, OpenRLHF-style last attended position) per text; a
    batch left-padded with the tokenizer's pad token, as OpenRLHF's experience maker does."""
    rows = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in texts]
    width = max(map(len, rows))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    with torch.no_grad():
        hf = [model(input_ids=torch.tensor([r])).logits[0, 0].item() for r in rows]
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        values = model.score(hidden).squeeze(-1)
        last = [model.score(model.model(input_ids=torch.tensor([r])).last_hidden_state[0, -1]).item() for r in rows]
        eos_index = mask.size(1) - 1 - mask.long().fliplr().argmax(dim=1)  # OpenRLHF's RewardModel
        openrlhf = values.gather(1, eos_index.unsqueeze(1)).squeeze(1).tolist()
    return hf, last, openrlhf


def test_a_trained_rm_is_read_at_the_same_token_everywhere(tiny_lm, tmp_path):
    base, tok = pad_is_eos(tiny_lm, tmp_path)
    texts = ["sort these letters : c a b a b c done", "sort these letters : z y y z"]
    # the base as it is: transformers skips the trailing EOS (it equals the pad), the engines read it
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, pad_token_id=tok.pad_token_id)
    hf, last, _ = readings(model.eval(), tok, texts)
    assert hf != last
    info = train_classifier(base, PAIRS, RMTrainConfig(batch_size=4, max_pairs=8, epochs=1.0), tmp_path / "rm")
    trained_tok = AutoTokenizer.from_pretrained(info["path"])
    assert trained_tok.pad_token == RM_PAD and trained_tok.pad_token_id != trained_tok.eos_token_id
    model = AutoModelForSequenceClassification.from_pretrained(info["path"]).eval()
    assert model.config.pad_token_id == trained_tok.pad_token_id
    hf, last, openrlhf = readings(model, trained_tok, texts)
    assert hf == [pytest_approx(x) for x in last] and openrlhf == [pytest_approx(x) for x in last]


def pytest_approx(x):
    import pytest
    return pytest.approx(x, rel=1e-5, abs=1e-6)


def test_a_base_with_a_pad_of_its_own_keeps_it(tiny_lm, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_lm)
    assert tok.pad_token_id != tok.eos_token_id
    info = train_classifier(tiny_lm, PAIRS, RMTrainConfig(batch_size=4, max_pairs=8, epochs=1.0), tmp_path / "rm")
    trained = AutoTokenizer.from_pretrained(info["path"])
    assert trained.pad_token == tok.pad_token and len(trained) == len(tok)
