"""An RM that scores inside a training process shares the GPU: behind vLLM it gets a memory share
that leaves room for training, unless its card sets one (vLLM would take 0.92 of the GPU)."""
import ast
from pathlib import Path

import pytest

from rlhf_eval.rm import SCORERS
from rlhf_eval.rm.base import SHARED_GPU_UTILIZATION, load_scorer

OUT = {"name": "v", "kind": "classifier", "backend": "vllm", "path": "/ckpt/rm", "batch_size": 8, "max_length": 64}


@pytest.fixture
def given(monkeypatch):
    monkeypatch.setitem(SCORERS, "vllm", "extension_examples:load_as_given")


def test_a_vllm_rm_in_a_training_process_leaves_the_gpu_room(given):
    shared = load_scorer({"outputs": OUT | {"engine_args": {"max_model_len": 4096}}}, shares_gpu=True)
    assert shared.engine_args == {"gpu_memory_utilization": SHARED_GPU_UTILIZATION, "max_model_len": 4096}
    own = load_scorer({"outputs": OUT | {"engine_args": {"gpu_memory_utilization": 0.5}}}, shares_gpu=True)
    assert own.engine_args == {"gpu_memory_utilization": 0.5}
    alone = load_scorer({"outputs": OUT | {"engine_args": {"max_model_len": 4096}}})
    assert alone.engine_args == {"max_model_len": 4096}


def test_the_trl_engine_loads_its_rm_as_sharing_the_gpu():
    source = (Path(__file__).resolve().parents[2] / "rlhf_eval" / "rl" / "trl_engine.py").read_text()
    calls = [n for n in ast.walk(ast.parse(source))
             if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "load_scorer"]
    assert calls and all({(k.arg, ast.unparse(k.value)) for k in c.keywords} == {("shares_gpu", "True")} for c in calls)
