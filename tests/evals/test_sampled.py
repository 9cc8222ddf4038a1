"""Sampled evaluation: pass@k against brute force, and k responses per prompt drawn through real
lm-eval (the task's `repeats`) from a scripted model, scored per response against a hand count."""
import json
from itertools import combinations
from pathlib import Path

import pytest
import yaml
from lm_eval.api.model import LM

from rlhf_eval.config import ConfigError, load_recipe
from rlhf_eval.errors import UserError
from rlhf_eval.evals.harness import evaluate, primary_metric
from rlhf_eval.evals.sampled import pass_at_k, per_prompt, sampled_task
from rlhf_eval.pipeline import expand
from rlhf_eval.toy.task import ANSWER_REGEX

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "recipes" / "smoke.yaml"


@pytest.mark.parametrize("n", range(1, 7))
def test_pass_at_k_is_the_share_of_k_subsets_with_a_correct_response(n):
    for c in range(n + 1):
        responses = [1] * c + [0] * (n - c)
        for k in range(1, n + 1):
            subsets = list(combinations(responses, k))
            assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    with pytest.raises(ValueError, match="undefined"):
        pass_at_k(2, 1, 3)


# Each prompt's scripted responses, in the order the model is asked; 1 = the sorted answer.
SCRIPT = {
    "sort these letters in alphabetical order : b a": ["the sorted letters are : a b", "a b", "b a", "a b done"],
    "sort these letters in alphabetical order : d c": ["c", "d c", "c d c", "d"],
    "sort these letters in alphabetical order : f e": ["e f", "f e", "f", "e"],
}
CORRECT = {"b a": [1, 1, 0, 1], "d c": [0, 0, 0, 0], "f e": [1, 0, 0, 0]}


class Scripted(LM):
    """Answers each prompt with its next scripted response, so repeats get different ones."""

    def __init__(self):
        super().__init__()
        self.asked: dict[str, int] = {}

    def generate_until(self, requests):
        out = []
        for r in requests:
            prompt = r.args[0]
            i = self.asked.get(prompt, 0)
            self.asked[prompt] = i + 1
            out.append(SCRIPT[prompt][i])
        return out

    def loglikelihood(self, requests):
        raise NotImplementedError

    loglikelihood_rolling = loglikelihood


def letters_task(folder: Path, output_type: str = "generate_until") -> Path:
    rows = [{"prompt": p, "answer": " ".join(sorted(p.split(": ")[1].split()))} for p in SCRIPT]
    (folder / "letters.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"task": "letters", "dataset_path": "json",
           "dataset_kwargs": {"data_files": {"test": str(folder / "letters.jsonl")}}, "test_split": "test",
           "output_type": output_type, "doc_to_text": "{{prompt}}", "doc_to_target": "{{answer}}",
           "generation_kwargs": {"until": ["\n"], "max_gen_toks": 8, "do_sample": False},
           "filter_list": [{"name": "extract", "filter": [
               {"function": "regex", "regex_pattern": ANSWER_REGEX, "group_select": -1},
               {"function": "take_first"}]}],
           "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]}
    (folder / "letters.yaml").write_text(yaml.safe_dump(cfg))
    return folder / "letters.yaml"


def test_k_responses_per_prompt_are_each_scored_by_the_task(tmp_path):
    original = letters_task(tmp_path)
    derived = sampled_task("letters", str(original), tmp_path / "sampled", 4, 0.7, 0.9)
    cfg = yaml.safe_load(derived.read_text())
    assert cfg["include"] == str(original) and cfg["repeats"] == 4 and cfg["task"] == "letters_sampled"
    assert cfg["generation_kwargs"] == {"until": ["\n"], "max_gen_toks": 8, "do_sample": True,
                                        "temperature": 0.7, "top_p": 0.9}
    metrics, samples, task = evaluate(Scripted(), str(derived), None, apply_chat_template=False)
    assert len(samples) == 3 and [len(s["resps"][0]) for s in samples] == [4, 4, 4]
    metric = primary_metric(samples)
    rows = {r["doc_id"]: r for r in per_prompt(task, samples, metric, [2, 4])}
    for s in samples:
        want = CORRECT[s["doc"]["prompt"].split(": ")[1]]
        row = rows[s["doc_id"]]
        assert row[metric] == pytest.approx(sum(want) / 4) and row["correct"] == sum(want)
        assert row["pass@2"] == pytest.approx(pass_at_k(4, sum(want), 2))
        assert row["pass@4"] == float(any(want))
    # lm-eval itself scores only each prompt's first response (its take_first filter)
    assert metrics["exact_match,extract"] == pytest.approx(sum(w[0] for w in CORRECT.values()) / 3)


def test_sampling_needs_a_generation_task(tmp_path):
    original = letters_task(tmp_path, output_type="multiple_choice")
    with pytest.raises(UserError, match="is multiple_choice: eval.samples and eval.temperature apply to "
                                        "generate_until tasks only"):
        sampled_task("letters", str(original), tmp_path / "sampled", 4, 1.0, 1.0)


@pytest.mark.parametrize("samples, temperature, pass_at, error", [
    (4, 0, [], r"eval.samples=4 needs eval.temperature > 0"),
    (1, 0, [2], r"eval.pass_at needs sampled responses"),
    (4, 1.0, [2, 8], r"eval.pass_at has k=8 > eval.samples=4"),
])
def test_sampling_settings_are_checked(samples, temperature, pass_at, error):
    with pytest.raises(ConfigError, match=error):
        load_recipe(SMOKE, [f"eval.samples={samples}", f"eval.temperature={temperature}", f"eval.pass_at={pass_at}"])


def test_greedy_evaluations_keep_their_keys_and_sampled_ones_get_new_ones():
    greedy = [n for n in expand(load_recipe(SMOKE, ["eval.samples=1", "eval.temperature=0", "eval.pass_at=[]"]))
              if n.stage == "policy_eval"]
    assert greedy and all("sampling" not in n.params for n in greedy)  # the params greedy nodes always had
    sampled = [n for n in expand(load_recipe(SMOKE, ["eval.samples=4", "eval.temperature=1.0", "eval.pass_at=[]"]))
               if n.stage == "policy_eval"]
    assert {n.key for n in sampled}.isdisjoint({n.key for n in greedy})
    assert {json.dumps(n.params["sampling"]) for n in sampled} == {
        json.dumps({"samples": 4, "temperature": 1.0, "top_p": 1.0, "pass_at": []})}
