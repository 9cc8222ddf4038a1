"""Implicit RMs that share a reference share its log-probs (rm/reference_logprobs.py): the cached
scores are the very floats direct scoring gives, a second RM with that reference computes nothing
of it again, and a value is never used for another reference (other weights, even at another
path), another tokenisation (other ids) or another batch around the row."""
import shutil

import pytest
import torch
from test_batch_invariance import items_of

from conftest import rm_manifest
from rlhf_eval.rm.transformers_scorer import ImplicitScorer


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EVAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RLHF_EVAL_REFERENCE_CACHE", raising=False)
    return tmp_path / "cache" / "reference_logprobs"


def perturbed(src: str, dst, scale: float = 0.02):
    """A copy of a causal LM with its weights moved a little: another model of the same shape."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(src, use_safetensors=True)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    model.save_pretrained(dst, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        if (src_file := __import__("pathlib").Path(src) / name).is_file():
            shutil.copy(src_file, dst / name)
    return str(dst)


def test_shared_reference_scores_equal_direct_scoring_and_are_computed_once(reference_run, cache, tmp_path):
    run_dir, _ = reference_run
    prompts, texts = items_of(run_dir)
    out = rm_manifest(run_dir, "dpo-curated")["outputs"]
    direct = ImplicitScorer(out["path"], out["reference"], beta=out["beta"], share_reference=False)
    first = ImplicitScorer(out["path"], out["reference"], beta=out["beta"])
    want = direct.score(prompts, texts)
    got = first.score(prompts, texts)
    assert got == want
    assert (first.ref_cache.hits, first.ref_cache.misses) == (0, len(texts))
    assert len(list(cache.glob("*.sqlite"))) == 1

    # a second implicit RM (other weights) with the same reference, copied to another folder:
    # every reference log-prob comes from the cache, and its scores equal its direct ones
    other = perturbed(out["path"], tmp_path / "other-rm")
    ref_copy = shutil.copytree(out["reference"], tmp_path / "ref-copy")
    second = ImplicitScorer(other, str(ref_copy), beta=out["beta"])
    alone = ImplicitScorer(other, str(ref_copy), beta=out["beta"], share_reference=False)
    got2, want2 = second.score(prompts, texts), alone.score(prompts, texts)
    assert (second.ref_cache.hits, second.ref_cache.misses) == (len(texts), 0)
    assert got2 == want2
    assert max(abs(a - b) for a, b in zip(got, got2)) > 1e-3  # a different RM: the check can fail


def test_a_cached_value_is_never_used_for_another_reference_or_tokenisation(reference_run, cache, tmp_path):
    run_dir, _ = reference_run
    prompts, texts = items_of(run_dir)
    out = rm_manifest(run_dir, "dpo-curated")["outputs"]
    ImplicitScorer(out["path"], out["reference"], beta=out["beta"]).score(prompts, texts)

    # other reference weights: nothing is read from the first reference's cache
    other_ref = perturbed(out["reference"], tmp_path / "other-ref")
    scorer = ImplicitScorer(out["path"], other_ref, beta=out["beta"])
    got = scorer.score(prompts, texts)
    want = ImplicitScorer(out["path"], other_ref, beta=out["beta"], share_reference=False).score(prompts, texts)
    assert (scorer.ref_cache.hits, scorer.ref_cache.misses) == (0, len(texts))
    assert got == want
    assert len(list(cache.glob("*.sqlite"))) == 2

    # another tokenisation (a shorter max_length cuts the long rows): their batches are other
    # batches, computed again; the scores are still exactly the direct ones
    short = ImplicitScorer(out["path"], out["reference"], beta=out["beta"], max_length=24)
    got = short.score(prompts, texts)
    assert 0 < sum(short.cut) < len(texts) and short.ref_cache.misses > 0
    assert short.ref_cache.hits + short.ref_cache.misses == len(texts)
    want = ImplicitScorer(out["path"], out["reference"], beta=out["beta"], max_length=24,
                          share_reference=False).score(prompts, texts)
    assert got == want

    # the same rows in other batches (batch size 16, not 64): computed again, not read
    small = ImplicitScorer(out["path"], out["reference"], beta=out["beta"], batch_size=16)
    got = small.score(prompts, texts)
    assert (small.ref_cache.hits, small.ref_cache.misses) == (0, len(texts))
    assert got == ImplicitScorer(out["path"], out["reference"], beta=out["beta"], batch_size=16,
                                 share_reference=False).score(prompts, texts)


def test_a_reference_without_local_weights_or_a_switched_off_cache_is_not_cached(monkeypatch, tmp_path):
    from rlhf_eval.rm import reference_logprobs as rl
    monkeypatch.setenv("RLHF_EVAL_CACHE", str(tmp_path))
    assert rl.reference_fingerprint("org/some-hub-model") is None
    (tmp_path / "empty").mkdir()
    assert rl.open_for(str(tmp_path / "empty"), "float32") is None
    (tmp_path / "empty" / "model.safetensors").write_bytes(b"x")
    assert rl.open_for(str(tmp_path / "empty"), "float32") is not None
    monkeypatch.setenv("RLHF_EVAL_REFERENCE_CACHE", "0")
    assert rl.open_for(str(tmp_path / "empty"), "float32") is None


def test_rows_of_the_wrong_shape_in_the_cache_file_are_not_read(tmp_path):
    from rlhf_eval.rm.reference_logprobs import ReferenceLogprobs, batch_keys
    db = ReferenceLogprobs("f" * 64, "float32", tmp_path)
    good, bad = batch_keys([[1, 2, 3], [1, 2, 4]], [[0, 1, 1], [0, 1, 1]])
    db.put({good: -1.5})
    with db.db:
        db.db.execute("INSERT INTO logprobs (key, value) VALUES (?, ?)", (bad, "not a number"))
    assert db.get([good, bad]) == {good: -1.5}
