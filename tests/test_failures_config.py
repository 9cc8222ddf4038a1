"""Failure modes of recipes, overrides, cards and input files (issue 16, items 10-15, and the
input-file half of 13). Every row is a case below, run through `rlhf-eval plan` or `bench score`:
one line on stderr, exit code 2, no traceback. docs/failure-modes.md keeps the same table.

| #  | input                                             | what happens now                                      |
|----|---------------------------------------------------|-------------------------------------------------------|
| 10 | name=../../../../tmp/x, name=/etc/evil, name=..    | refused: "is not a name ... names are not paths"      |
| 11 | rl.steps=-1, rl.save_every=0, bon.block=0, ...     | refused naming the key and its range                  |
| 11 | bon.n_max=0 with bon.n_grid=[]; bon.n_grid=[]      | refused (n_max at least 1; n_grid empty)              |
| 12 | slurm.setup: [[echo, hi]]                          | refused: slurm.setup[0] must be a str                 |
| 12 | a YAML alias bomb                                  | refused in under a second: "expands to over 100,000"  |
| 13 | a recipe with non-UTF-8 bytes                      | refused naming the file and line                      |
| 13 | a malformed override bon.n_grid=[1,2               | refused naming the override                           |
| 13 | "swapped": 5 / ["a","b"] in a scores file          | refused naming file, row and field                    |
| 13 | a non-UTF-8 row in a source; a malformed .json     | refused naming file and row (line, column)            |
| 14 | policies=[]                                        | "no policies"                                         |
| 14 | an empty source file                               | "the file is empty"                                   |
| 15 | reward_models=[../../cfg/x]                        | refused: not a card name; names the folders searched  |
"""
import json
import time

import pytest
from typer.testing import CliRunner

from conftest import ROOT
from rlhf_eval.cli import app
from rlhf_eval.config import Recipe, check_values, load_recipe

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def plan(*args):
    return CliRunner().invoke(app, ["plan", *map(str, args)])


def one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.output


# 10
@pytest.mark.parametrize("name", ["../../../../tmp/x", "/etc/evil", "..", ".", "a/b", "a b"])
def test_a_recipe_name_cannot_leave_the_run_root(name):
    one_line_error(plan(QUICKSTART, f"name={name}"), "is not a name")


def test_a_good_name_keeps_the_run_folder_under_the_run_root(tmp_path):
    loaded = load_recipe(QUICKSTART, [f"run_root={tmp_path}", "name=my-run_2.v1"])
    assert loaded.run_dir.resolve().parent == tmp_path.resolve()


# 11
@pytest.mark.parametrize("override, expected", [
    ("rl.steps=-1", "rl.steps=-1 must be at least 1"),
    ("rl.save_every=0", "rl.save_every=0 must be at least 1"),
    ("bon.block=0", "bon.block=0 must be at least 1"),
    ("bon.n_max=0", "bon.n_max=0 must be at least 1"),
    ("bon.n_grid=[]", "bon.n_grid is empty"),
    ("bon.n_grid=[0,1]", "bon.n_grid[0]=0 must be at least 1"),
    ("rl.learning_rate=-0.1", "rl.learning_rate=-0.1 must be above 0"),
    ("eval.batch_size=0", "eval.batch_size=0 must be at least 1"),
    ("static_bench.bootstrap=-5", "static_bench.bootstrap=-5 must be at least 0"),
    ("compare.bootstrap=0", "compare.bootstrap=0 must be at least 100"),
    ("bon.top_p=1.5", "bon.top_p=1.5 must be within (0, 1]"),
    ("toy_world.noise_rate=2", "toy_world.noise_rate=2.0 must be within [0, 1]"),
    ("curate.select.fraction=0", "curate.select.fraction=0.0 must be within (0, 1]"),
    ("rl.openrlhf.zero_stage=4", "rl.openrlhf.zero_stage=4 must be within [0, 3]"),
    ("slurm.defaults.cpus=0", "slurm.defaults.cpus=0 must be at least 1"),
])
def test_counts_and_sizes_have_ranges(override, expected):
    one_line_error(plan(QUICKSTART, override), expected)


def test_n_max_zero_with_an_empty_grid_is_refused_not_an_index_error():
    one_line_error(plan(QUICKSTART, "bon.n_max=0", "bon.n_grid=[]"), "bon.n_max=0 must be at least 1")


def test_card_values_have_ranges_too(tmp_path, monkeypatch):
    cards = tmp_path / "cards"
    (cards / "reward_models").mkdir(parents=True)
    (cards / "reward_models" / "neg.yaml").write_text(
        "kind: classifier\ntrain: {epochs: -1, batch_size: 0}\nmax_length: -5\n")
    monkeypatch.setenv("RLHF_EVAL_CARDS", str(cards))
    one_line_error(plan(QUICKSTART, "reward_models=[neg]"), "neg.yaml: train.epochs=-1.0 must be above 0")


def test_every_bounded_default_is_in_range():
    check_values(Recipe(name="x"), "defaults")  # raises if a default broke its own range


# 12
def test_list_elements_are_type_checked(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: t\nreward_models: [classifier-curated]\nslurm:\n  setup: [[echo, hi]]\n")
    one_line_error(plan(recipe), "slurm.setup[0] must be a str, got list ['echo', 'hi']")


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["name: t", "reward_models: [classifier-curated]", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        ref = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([ref] * 9)}]")
    lines.append("slurm: {setup: *a8}")  # 9**9 = 387 million strings once expanded
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text("\n".join(lines) + "\n")
    t0 = time.monotonic()
    one_line_error(plan(recipe), "expands to over 100,000 values through YAML aliases")
    assert time.monotonic() - t0 < 5


# 13 (input files)
def test_a_non_utf8_recipe_names_file_and_line(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes(b"name: t\nreward_models: [classifier-curated]\nseed: 1 \xe9\n")
    one_line_error(plan(recipe), "r.yaml: line 3: not UTF-8 text (byte 0xe9)")


def test_a_malformed_override_names_the_override():
    one_line_error(plan(QUICKSTART, "bon.n_grid=[1,2"), "override 'bon.n_grid=[1,2': cannot parse the value")


def _pairwise(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "prompt": "q", "chosen": "a", "rejected": "b"}) + "\n"
                            for i in range(2)))
    return data


@pytest.mark.parametrize("swapped, expected", [
    (5, "row 1: field 'swapped': expected a list of numbers"),
    (["a", "b"], "row 1: field 'swapped': expected a list of numbers"),
])
def test_a_bad_swapped_field_names_file_row_and_field(tmp_path, swapped, expected):
    data = _pairwise(tmp_path)
    scores = tmp_path / "scores.jsonl"
    scores.write_text(json.dumps({"id": "p0", "scores": [1, 0], "swapped": swapped}) + "\n"
                      + json.dumps({"id": "p1", "scores": [1, 0]}) + "\n")
    r = CliRunner().invoke(app, ["bench", "score", "pairwise", "--data", str(data), "--scores", str(scores)])
    one_line_error(r, f"scores.jsonl: {expected}")


@pytest.mark.parametrize("name, content, expected", [
    ("bad.jsonl", b'{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "\xff"}\n',
     "bad.jsonl: row 2: not UTF-8 text (byte 0xff"),
    ("bad.json", b'[{"prompt": "q",\n  "chosen": }]', "bad.json: line 2, column 13: not valid JSON"),
    ("empty.jsonl", b"", "empty.jsonl: the file is empty (no rows)"),
    ("blank.jsonl", b"\n\n", "blank.jsonl: the file is empty (no rows)"),
])
def test_bad_source_files_name_file_and_row(tmp_path, name, content, expected):
    from rlhf_eval.data.pairs import DataError, load_pairs
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        load_pairs(str(path), "mine")
    assert expected in str(err.value)


# 14
def test_no_policies_says_so():
    one_line_error(plan(QUICKSTART, "policies=[]"), "policies is empty (no policies)")


# 15
@pytest.mark.parametrize("ref", ["../../cfg/x", "/etc/x", "sub/x", ".."])
def test_card_names_are_names_not_paths(ref):
    r = plan(QUICKSTART, f"reward_models=[{ref}]")
    one_line_error(r, "is not a card name; cards are found by name in reward_models/ folders (searched:")


# issue 31, item 4: greedy best-of-n is refused at load (vLLM raises "n must be 1" on a GPU)
def test_greedy_best_of_n_is_refused_at_load():
    one_line_error(plan(QUICKSTART, "bon.temperature=0"),
                   "best-of-n samples bon.n_max=16 candidates per prompt, but bon.temperature=0 is greedy")
    # one candidate per prompt may be greedy
    result = plan(QUICKSTART, "bon.temperature=0", "bon.n_max=1", "bon.block=1", "bon.n_grid=[1]")
    assert result.exit_code == 0, result.output
