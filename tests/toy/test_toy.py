import random

from rlhf_eval.toy import task
from rlhf_eval.toy.tokenizer import build_tokenizer


def test_verifier_and_errors():
    rng = random.Random(0)
    letters = ["q", "d", "m", "a", "k"]
    prompt = task.make_prompt(letters)
    assert task.is_correct(prompt, "a d k m q")
    assert task.is_correct(prompt, "the sorted letters are : a d k m q done")
    for error in task.ERRORS:
        wrong = task.corrupt(sorted(letters), error, rng)
        assert not task.is_correct(prompt, " ".join(wrong)), error
    assert task.misplace(["a", "d", "q"], "q") == ["q", "a", "d"]
    assert task.misplace(["a", "d", "q"], "d") == ["a", "q", "d"]


def test_tokenizer_chat_template_marks_assistant_tokens(tmp_path):
    tok = build_tokenizer(tmp_path)
    messages = [{"role": "user", "content": task.make_prompt(["c", "a"])},
                {"role": "assistant", "content": "a c"}]
    enc = tok.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    assistant = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tok.decode(assistant) == "a c <|end|>"
    assert tok.decode(enc["input_ids"], skip_special_tokens=True) == f"{task.make_prompt(['c', 'a'])} a c"


def test_study_world_plants_two_independent_axes(tmp_path):
    """The quality axis flips labels at its rate and carries no marker; the nuisance axis ties the
    marker to `chosen` at (1 + strength) / 2 with both responses equally correct; each benchmark
    measures one axis; and a world without a study is unchanged by the study's existence."""
    import json

    from rlhf_eval.config import StudyWorldConfig, ToyWorldConfig
    from rlhf_eval.toy import sources
    from rlhf_eval.toy.wiring import toy_world_params
    from rlhf_eval.toy.world import build_data

    study = StudyWorldConfig(noise_levels=[0.0, 0.4], marker_strengths=[0.0, 1.0], pairs=600, marker_pairs=600,
                             bench_pairs=100)
    small = dict(clean_pairs=20, noisy_pairs=20, length_pairs=20, artifact_pairs=20, duplicate_pairs=5,
                 leaked_pairs=5, bench_pairs_per_subset=5, task_prompts=10)
    info = build_data(ToyWorldConfig(**small, study=study), tmp_path / "study")
    plain = build_data(ToyWorldConfig(**small), tmp_path / "plain")
    for name, path in plain["sources"].items():  # the study's rows come after, from their own generator
        assert open(path).read() == open(info["sources"][name]).read(), name
    read = lambda p: [json.loads(x) for x in open(p)]  # noqa: E731
    for name, rate in (("noise-00", 0.0), ("noise-40", 0.4)):
        rows = read(info["sources"][name])
        flipped = sum(task.is_correct(r["prompt"], r["rejected"]) for r in rows) / len(rows)
        assert abs(flipped - rate) < 0.06, (name, flipped)
        assert not any(task.ARTIFACT_MARKER in r["chosen"] + r["rejected"] for r in rows)
    for name, want in (("marker-000", 0.5), ("marker-100", 1.0)):
        rows = read(info["sources"][name])
        marked = [r["chosen"].endswith(task.ARTIFACT_MARKER) for r in rows]
        assert abs(sum(marked) / len(rows) - want) < 0.06, name
        for r in rows:  # equally correct: the same answer, one followed by the marker, one by the neutral word
            assert task.is_correct(r["prompt"], r["chosen"]) == task.is_correct(r["prompt"], r["rejected"])
            assert {r["chosen"].rsplit(" ", 1)[1], r["rejected"].rsplit(" ", 1)[1]} == {task.ARTIFACT_MARKER,
                                                                                   sources.MARKER_FILLER}
        right = [task.is_correct(r["prompt"], r["chosen"]) for r in rows]
        assert 0.4 < sum(right) / len(rows) < 0.6  # the marker says nothing about correctness
    correct = read(info["benchmarks"]["toy_correct"])
    assert all(task.is_correct(r["prompt"], r["chosen"]) and not task.is_correct(r["prompt"], r["rejected"])
               and task.ARTIFACT_MARKER not in r["chosen"] + r["rejected"] for r in correct)
    marker = read(info["benchmarks"]["toy_marker"])  # the same answer, then the marker or the neutral word
    assert all(r["chosen"].rsplit(" ", 1) == [r["rejected"].rsplit(" ", 1)[0], task.ARTIFACT_MARKER]
               and r["rejected"].endswith(f" {sources.MARKER_FILLER}") for r in marker)
    # No study prompt appears in training data of another source, nor in the task.
    bench_prompts = {r["prompt"] for r in correct + marker}
    train_prompts = {r["prompt"] for p in info["sources"].values() for r in read(p)}
    assert not bench_prompts & train_prompts
    # The toy world's key ignores an unset study, so worlds built before it stay cached.
    cfg = {"seed": 0, "study": None}
    assert toy_world_params(cfg)["config"] == {"seed": 0}
