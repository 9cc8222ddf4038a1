"""Trust boundaries of a run folder (issue 30, items 1, 2, 5-10, 14, 15): a run folder (plan.json,
manifests) is input from someone else. docs/failure-modes.md keeps the same table.

| # | input | what happens now |
|---|---|---|
| 1 | a manifest says trust_remote_code: true (card: false) | the node is "damaged"; `run` redoes it, nothing loads |
| 1 | plan.json and manifest say it, plan not signed here | serve-rm/serve-judge --run: "the local card says False" |
| 1 | a manifest's model path points outside the run folder | the node is "damaged" |
| 1 | `node` on a plan.json edited by hand or from another account | "was edited, or signed with another plan key" |
| 2 | a node key "../../victim" in plan.json | refused: "is not a node key"; nothing outside removed |
| 2 | a node folder that is a symlink out of the run | refused before anything is removed |
| 5 | `rm-token --ttl` of 400 digits, 0, 0.5s or 400d | one line: "use e.g. 90s" / "ttl must be 1 s to 366 days" |
| 6 | a name like `$\\frac{a}$` on the report's plots | drawn as text, not parsed as mathtext |
| 7 | a run folder whose path holds rich markup (`[/]`) | `status` and `diff` print it as text |
| 8 | manifest `files` a string or list of non-dicts; `outputs` a list | `status`: damaged; serve-rm --run says why |
| 9 | `--out` naming an existing file | one line: "is a file, not a folder" |
| 10 | `--out` into a folder holding a manifest or plan.json | refused, naming the file that would be overwritten |
| 14 | a name starting with =, +, - or @ in a CSV export | written as text ('=...), not a formula |
| 14 | ESC/OSC control characters in an error message | printed escaped (\\x1b), never raw |
| 15 | `scored_as: toy_rewardbench` | "is a toy benchmark, a dataset; scored_as names the rules" |

Items 3, 4, 11 and 13 (requests, lengths, tokens) are in tests/rm/test_failures_serve_rm.py, 12
(serve-judge's fields) in tests/rm/test_judge_openai.py, 16 (the contamination audit's Unicode
normalisation) in tests/curate/test_curate.py; recall per perturbation: docs/curation.md.
"""
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT
from rlhf_eval import store, trust
from rlhf_eval.cli import app
from rlhf_eval.errors import is_user_error, one_line
from rlhf_eval.launch.node import todo_nodes
from rlhf_eval.pipeline import load_plan, node_done, rm_node


def copy_run(reference_run, tmp_path, name: str = "smoke") -> Path:
    dest = tmp_path / name
    shutil.copytree(reference_run[0], dest, symlinks=True)
    return dest


def edit_manifest(run_dir: Path, node, fn) -> None:
    path = run_dir / node.stage / node.key / store.MANIFEST
    m = json.loads(path.read_text())
    fn(m)
    path.write_text(json.dumps(m))


def edit_plan(run_dir: Path, fn) -> None:
    path = run_dir / "plan.json"
    plan = json.loads(path.read_text())
    fn(plan)
    path.write_text(json.dumps(plan))


def invoke(*args, cwd=ROOT, monkeypatch=None):
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def run_copy(reference_run, toy_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EVAL_CACHE", str(toy_cache))
    return copy_run(reference_run, tmp_path)


# 1
def test_a_manifest_cannot_grant_remote_code_its_card_does_not(run_copy, monkeypatch):
    rm = rm_node(load_plan(run_copy), "classifier-curated")
    assert node_done(run_copy, rm)[0] is not None
    edit_manifest(run_copy, rm, lambda m: m["outputs"].update(trust_remote_code=True))
    manifest, why = node_done(run_copy, rm)
    assert manifest is None and why == "its manifest says trust_remote_code=True where the card says False"
    # `run` redoes it (and everything downstream) instead of loading it: it is in the todo list
    said = []
    assert rm in todo_nodes(run_copy, load_plan(run_copy), said.append)
    assert said == [f"{rm.id} ({rm.label}): {why}; redoing it"]
    r = invoke("serve-rm", "classifier-curated", "--run", run_copy, "--port", "0", monkeypatch=monkeypatch)
    assert r.exit_code == 2 and "no finished train_rm node for RM 'classifier-curated' (its manifest says " \
        "trust_remote_code=True" in " ".join(r.output.split())
    r = invoke("status", run_copy, monkeypatch=monkeypatch)
    assert r.exit_code == 0 and "damaged" in r.output


@pytest.mark.parametrize("field, value", [("url", "http://attacker.example/get_reward"),
                                          ("api_key_env", "OPENAI_API_KEY"), ("engine_args", {"x": 1})])
def test_a_manifest_cannot_point_an_rm_elsewhere(run_copy, field, value):
    rm = rm_node(load_plan(run_copy), "classifier-curated")
    edit_manifest(run_copy, rm, lambda m: m["outputs"].update({field: value}))
    assert node_done(run_copy, rm) == (None, f"its manifest says {field}={value!r} where the card says "
                                             f"{trust.CODE_FIELDS[field]!r}")


@pytest.mark.parametrize("path", ["/etc", "../../elsewhere/model"])
def test_a_manifest_model_path_stays_in_the_run_folder(run_copy, path):
    rm = rm_node(load_plan(run_copy), "classifier-curated")
    edit_manifest(run_copy, rm, lambda m: m["outputs"].update(path=path))
    manifest, why = node_done(run_copy, rm)
    assert manifest is None and why.startswith("its manifest's path") and "outside the run folder" in why


def test_serve_rm_refuses_remote_code_that_only_a_foreign_plan_grants(run_copy, tmp_path, monkeypatch):
    rm = rm_node(load_plan(run_copy), "classifier-curated")

    def grant(plan):
        card = next(n for n in plan["nodes"] if n["key"] == rm.key)["params"]["card"]
        card["trust_remote_code"] = True
    edit_plan(run_copy, grant)
    edit_manifest(run_copy, rm, lambda m: (m["outputs"].update(trust_remote_code=True),
                                           m["params"]["card"].update(trust_remote_code=True)))
    for cmd in ("serve-rm", "serve-judge"):
        r = invoke(cmd, "classifier-curated", "--run", run_copy, "--port", "0", monkeypatch=monkeypatch)
        out = " ".join(r.output.split())
        assert r.exit_code == 2 and "sets trust_remote_code=True for 'classifier-curated', but the local card says " \
            "False" in out, out
    # from a folder with no card of that name: the same refusal, saying so
    r = invoke("serve-rm", "classifier-curated", "--run", run_copy, "--port", "0", cwd=tmp_path,
               monkeypatch=monkeypatch)
    assert r.exit_code == 2 and "there is no local card 'classifier-curated' in reward_models/" in \
        " ".join(r.output.split())


def test_node_runs_only_a_plan_signed_here(run_copy, monkeypatch, tmp_path):
    report = next(n for n in load_plan(run_copy) if n.stage == "report")
    shutil.rmtree(run_copy / "report" / report.key)
    edit_plan(run_copy, lambda p: p["config"]["recipe"].update(name="edited"))
    r = invoke("node", run_copy, report.id, monkeypatch=monkeypatch)
    assert r.exit_code == 2 and "was edited, or signed with another plan key" in " ".join(r.output.split())
    assert not (run_copy / "report" / report.key).exists()
    # another account's plan key: the plan's signature does not verify here
    edit_plan(run_copy, lambda p: p["config"]["recipe"].update(name="smoke"))
    monkeypatch.setenv("RLHF_EVAL_PLAN_KEY", "another account's key")
    r = invoke("node", run_copy, report.id, monkeypatch=monkeypatch)
    assert r.exit_code == 2 and "signed with another plan key" in " ".join(r.output.split())
    monkeypatch.delenv("RLHF_EVAL_PLAN_KEY")
    r = invoke("node", run_copy, report.id, monkeypatch=monkeypatch)
    assert r.exit_code == 0, r.output
    assert (run_copy / "report" / report.key / store.MANIFEST).is_file()


# 2
@pytest.mark.parametrize("key", ["../../victim", "report/../../victim", "ABCDEF012345", "0" * 11])
def test_a_node_key_is_a_hash_and_nothing_outside_is_removed(run_copy, key, monkeypatch):
    victim = run_copy.parent / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    edit_plan(run_copy, lambda p: p["nodes"][-1].update(key=key))
    for args in (("node", run_copy, f"report/{key}"), ("status", run_copy)):
        r = invoke(*args, monkeypatch=monkeypatch)
        assert r.exit_code == 2 and f"nodes[{len(load_plan_raw(run_copy)) - 1}].key {key!r} is not a node key" in \
            " ".join(r.output.split()), r.output
    assert (victim / "precious.txt").read_text() == "keep me"


def load_plan_raw(run_dir: Path) -> list:
    return json.loads((run_dir / "plan.json").read_text())["nodes"]


@pytest.mark.parametrize("field, value, expected", [
    ("stage", "../x", "nodes[0].stage '../x' is not a stage"),
    ("label", "a\x1b]52;c;bad\x07", "nodes[0].label is not a printable string"),
    ("deps", {"rm": "train_rm/../../x"}, "is not a node id"),
    ("params", "x", "params and deps must be mappings"),
])
def test_plan_fields_are_checked(run_copy, field, value, expected, monkeypatch):
    edit_plan(run_copy, lambda p: p["nodes"][0].update({field: value}))
    r = invoke("status", run_copy, monkeypatch=monkeypatch)
    assert r.exit_code == 2 and expected in " ".join(r.output.split()), r.output


def test_only_a_node_folder_inside_the_run_is_ever_wiped(tmp_path):
    run_dir, outside = tmp_path / "run", tmp_path / "outside"
    (outside / "k").mkdir(parents=True)
    (outside / "k" / "precious.txt").write_text("keep me")
    (run_dir / "report").mkdir(parents=True)
    (run_dir / "report" / "0123456789ab").symlink_to(outside / "k")
    for folder in (run_dir / "report" / "0123456789ab", run_dir / "report" / ".." / ".." / "outside" / "k",
                   run_dir / "report"):
        with pytest.raises(PermissionError, match="not a node folder of .*; nothing was removed") as caught:
            store.fresh_dir(folder, run_dir)
        assert is_user_error(caught.value) and one_line(caught.value).startswith(f"{folder}: not a node folder")
    assert (outside / "k" / "precious.txt").read_text() == "keep me"
    assert store.fresh_dir(run_dir / "report" / "ba9876543210", run_dir).is_dir()


# 8
@pytest.mark.parametrize("edit, why", [
    (lambda m: m.update(files="abc"), "manifest.json files is a str, not a mapping"),
    (lambda m: m.update(files={"x": "y"}), "manifest.json files['x'] is not a {size, sha256} record"),
    (lambda m: m.update(files={"../../../etc/passwd": {"size": 1}}),
     "manifest.json files names '../../../etc/passwd', outside its folder"),
    (lambda m: m.update(outputs=["a"]), "manifest.json outputs is a list, not a mapping"),
    (lambda m: m.update(watched={"/etc": {}}), "manifest.json watches /etc, which is not a toy-world cache folder"),
    (lambda m: m.update(duration_s="1"), "manifest.json duration_s is not a number"),
])
def test_a_malformed_manifest_is_damaged_not_a_crash(run_copy, edit, why, monkeypatch):
    rm = rm_node(load_plan(run_copy), "classifier-curated")
    edit_manifest(run_copy, rm, edit)
    assert node_done(run_copy, rm) == (None, why)
    r = invoke("status", run_copy, monkeypatch=monkeypatch)
    assert r.exit_code == 0 and "damaged" in r.output and "Traceback" not in r.output
    r = invoke("serve-rm", "classifier-curated", "--run", run_copy, "--port", "0", monkeypatch=monkeypatch)
    assert r.exit_code == 2 and why in " ".join(r.output.split()), r.output


# 5
BOUNDS = "ttl must be 1 s to 366 days"


@pytest.mark.parametrize("ttl, error", [("9" * 400, "use e.g. 90s"), ("99999999", BOUNDS), ("0", BOUNDS),
                                        ("0.5s", BOUNDS), ("400d", BOUNDS),
                                        ("1e9", "use e.g. 90s"), ("\u00b2h", "use e.g. 90s")])
def test_rm_token_ttl_is_bounded(ttl, error, monkeypatch):
    monkeypatch.setenv("SIGNING_KEY", "k")
    r = CliRunner().invoke(app, ["rm-token", "--signing-key-env", "SIGNING_KEY", "--job", "j", "--ttl", ttl])
    assert r.exit_code == 2 and error in r.output and "Traceback" not in r.output, r.output


# 6 and 14
def hostile_names(text: str) -> str:
    """Every RM, benchmark and task name of a smoke run's results renamed to hostile text."""
    for old, new in (("classifier-curated", '=HYPERLINK("http://x")'), ("toy_sort", "$\\frac{a}$"),
                     ("toy_rewardbench", "@SUM(1)[/]"), ("dpo-curated", "+dpo $x^$")):
        text = text.replace(old, json.dumps(new)[1:-1])
    return text


def test_the_report_shows_hostile_names_as_text(reference_run, tmp_path):
    from rlhf_eval.report.stage import render
    run_dir = reference_run[0]
    cmp = next(n for n in load_plan(run_dir) if n.stage == "compare")
    result = json.loads(hostile_names(json.dumps(store.read_manifest(run_dir / "compare" / cmp.key)["outputs"])))
    written = render(result, {}, "$\\frac{a}$ [/]", tmp_path / "out", [], [])
    html = Path(written["report"]).read_text()
    assert "$\\frac{a}$" in html and "<img" in html  # the plots were drawn
    import csv
    rows = list(csv.DictReader(open(tmp_path / "out" / "static.csv")))
    rms = {r["rm"] for r in rows}
    assert rms == {"'=HYPERLINK(\"http://x\")", "'+dpo $x^$"}
    assert any(r["benchmark"].startswith("'@SUM(1)") for r in rows)
    for name in written["csv"]:
        for line in (tmp_path / "out" / name).read_text().splitlines():
            assert not line.startswith(("=", "+", "@")) and ",=" not in line and ",@" not in line


def test_a_negative_number_stays_a_number_in_a_csv():
    from rlhf_eval.compare.tables import cell_text
    assert cell_text("-0.25") == "-0.25" and cell_text(-0.25) == -0.25 and cell_text("-x") == "'-x"
    assert cell_text("=1+1") == "'=1+1" and cell_text("a=1") == "a=1"


# 7 and 14
def test_paths_with_markup_or_escapes_print_as_text(reference_run, tmp_path, monkeypatch, toy_cache):
    monkeypatch.setenv("RLHF_EVAL_CACHE", str(toy_cache))
    odd = tmp_path / "a[/]b [red]x\x1b]0;pwned\x07"
    odd.mkdir(parents=True)
    run_dir = copy_run(reference_run, odd)
    for args in (("status", run_dir), ("diff", run_dir, reference_run[0])):
        r = invoke(*args, monkeypatch=monkeypatch)
        assert r.exit_code == 0, r.output
        assert "[/]b [red]x" in " ".join(r.output.split()) and "\x1b" not in r.output and "\\x1b" in r.output
    r = invoke("status", odd / "nothing", monkeypatch=monkeypatch)
    assert r.exit_code == 2 and "\x1b" not in r.output and "\\x1b]0;pwned\\x07" in r.output


# 9 and 10
def test_out_is_a_folder_that_holds_no_run(reference_run, tmp_path, monkeypatch):
    run_dir = copy_run(reference_run, tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    node = next(n for n in load_plan(run_dir) if n.stage == "report")
    for out, expected in ((a_file, f"--out {a_file} is a file, not a folder"),
                          (run_dir, f"--out {run_dir} holds plan.json: it is a run or node folder"),
                          (run_dir / "report" / node.key, "holds manifest.json: it is a run or node folder")):
        r = invoke("compare", reference_run[0], "--out", out, monkeypatch=monkeypatch)
        assert r.exit_code == 2 and expected in " ".join(r.output.split()), r.output
        r = invoke("bench", "score", "rewardbench", "--data", "x.jsonl", "--scores", "y.jsonl", "--out", out,
                   monkeypatch=monkeypatch)
        assert r.exit_code == 2 and expected in " ".join(r.output.split()), r.output
    assert a_file.read_text() == "x" and (run_dir / "plan.json").is_file()
    for args in (("power", reference_run[0], "--out", run_dir / "plan.json"),
                 ("diff", reference_run[0], run_dir, "--json", tmp_path)):
        r = invoke(*args, monkeypatch=monkeypatch)
        assert r.exit_code == 2 and ("marks a run or node folder" in r.output or "is a folder; name a file" in
                                     r.output), r.output


# 15
def test_scored_as_a_toy_benchmark_says_what_is_wrong():
    from rlhf_eval.bench import benchmark_for
    with pytest.raises(ValueError, match="scored_as: 'toy_rewardbench' is a toy benchmark, a dataset; scored_as "
                                         "names the rules that score one: a real benchmark \\('rewardbench' scores"):
        benchmark_for("mine", "toy_rewardbench")
