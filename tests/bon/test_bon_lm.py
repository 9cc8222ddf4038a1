"""The lm-eval models of best-of-n, through real lm-eval on local tasks."""
import json

import pytest
import yaml

from rlhf_eval.bon.lm import BestOfN
from rlhf_eval.evals.harness import run_task
from rlhf_eval.toy.tokenizer import build_tokenizer


def test_loglikelihood_task_gets_a_clear_error(tmp_path):
    (tmp_path / "mc.jsonl").write_text(json.dumps({"q": "sort these letters in alphabetical order : b a",
                                                   "choices": ["a b", "b a"], "label": 0}) + "\n")
    (tmp_path / "mc.yaml").write_text(yaml.safe_dump({
        "task": "toy_mc", "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(tmp_path / "mc.jsonl")}},
        "test_split": "test", "output_type": "multiple_choice", "doc_to_text": "{{q}}",
        "doc_to_choice": "{{choices}}", "doc_to_target": "{{label}}",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]}))
    tok = build_tokenizer(tmp_path / "tok")
    with pytest.raises(NotImplementedError, match="generate_until tasks only; loglikelihood tasks cannot"):
        run_task(BestOfN(tok, []), str(tmp_path / "mc.yaml"), None, apply_chat_template=False)
