"""What makes vLLM sampling reproducible is set where vLLM allows it, and every bon_generate
manifest says when its candidates come back the same."""
import json

from rlhf_eval.gen.vllm_backend import deterministic_env, reproducibility


def test_vllm_scheduling_is_made_deterministic_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    monkeypatch.delenv("VLLM_BATCH_INVARIANT", raising=False)
    env = deterministic_env()
    assert env == {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_BATCH_INVARIANT": "0"}
    assert "prompts per call" in reproducibility(env)["same_when"]
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    env = deterministic_env()
    assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1"
    assert reproducibility(env)["same_when"].startswith("not guaranteed")
    monkeypatch.setenv("VLLM_BATCH_INVARIANT", "1")
    assert "whatever the batching" in reproducibility(deterministic_env())["same_when"]


def test_the_bon_generate_manifest_records_it(reference_run):
    run_dir, _ = reference_run
    manifests = [json.loads(p.read_text()) for p in (run_dir / "bon_generate").glob("*/manifest.json")]
    assert manifests
    for m in manifests:
        record = m["outputs"]["reproducibility"]
        assert record["engine"] == "transformers" and "batch_size (64)" in record["same_when"]
        assert m["outputs"]["sampling"]["top_k"] == 0 and m["outputs"]["sampling"]["repetition_penalty"] == 1.0
