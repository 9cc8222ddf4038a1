"""An implicit RM's model folder carries its reference and beta (rm.implicit_folder): moved
elsewhere, it scores as the project did, through a card that names only its path and through the
plain-transformers example in docs/rl.md."""
import json
import re
import shutil

import pytest
import yaml

from conftest import ROOT, cli_env
from rlhf_eval.pipeline import node_manifests


def example_code() -> str:
    text = (ROOT / "docs" / "rl.md").read_text()
    return re.search(r"<!-- implicit-rm-example -->\n```python\n(.*?)```", text, re.S).group(1)


@pytest.fixture(scope="module")
def moved(reference_run, tmp_path_factory):
    """The smoke run's DPO RM folder, copied to a folder of its own (the run could be deleted)."""
    run_dir, _ = reference_run
    [m] = node_manifests(run_dir, "train_rm", "rm=dpo-curated")
    [node] = [b for b in node_manifests(run_dir, "static_bench")
              if b["outputs"]["rm"] == "dpo-curated" and b["outputs"]["benchmark"] == "toy_rewardbench"]
    target = tmp_path_factory.mktemp("elsewhere") / "my-dpo-rm"
    shutil.copytree(m["outputs"]["path"], target)
    return m, node, target


def test_the_folder_holds_its_reference_and_beta(moved):
    m, _, target = moved
    meta = json.loads((target / "implicit_rm.json").read_text())
    assert meta["beta"] == m["outputs"]["beta"] == 0.1 and meta["reference"] == "reference"
    assert meta["max_length"] == m["outputs"]["max_length"]
    assert (target / "reference" / "model.safetensors").is_file()
    # the node scores with the folder's own copy, not a path into the cache
    assert m["outputs"]["reference"] == str(m["outputs"]["path"]) + "/reference"


def test_the_docs_example_reproduces_the_project_scores(moved):
    _, node, target = moved
    from rlhf_eval.bench.loading import load_items
    from rlhf_eval.data.pairs import prompt_text

    code = example_code()
    assert '"runs/quickstart/train_rm/KEY/model"' in code
    code = code.replace('"runs/quickstart/train_rm/KEY/model"', repr(str(target)))
    space: dict = {}
    exec(compile(code, "docs/rl.md", "exec"), space)
    scores = {r["id"]: r["scores"] for r in map(json.loads, open(node["outputs"]["scores"]))}
    _, items, _ = load_items("toy_rewardbench", data=node["outputs"]["data"])
    checked = 0
    for it in items[:40]:
        for text, want in zip(it.candidates, scores[it.id]):
            assert space["reward"](prompt_text(it.prompt), text) == pytest.approx(want, abs=1e-4)
            checked += 1
    assert checked == 80


def test_a_card_naming_only_the_folder_scores_the_same(moved, toy_cache, tmp_path):
    _, node, target = moved
    cards = tmp_path / "cards" / "reward_models"
    cards.mkdir(parents=True)
    # base names a model that does not exist: the folder's reference is used, not the base
    (cards / "my-dpo.yaml").write_text(yaml.safe_dump({"kind": "implicit", "path": str(target), "base": "nowhere"}))
    out = tmp_path / "out"
    import subprocess

    from conftest import cli
    proc = subprocess.run(cli("score", "my-dpo", "--benchmark", "toy_rewardbench", "--data", node["outputs"]["data"],
                              "--out", out, "--bootstrap", "0"), cwd=tmp_path,
                          env=cli_env(toy_cache) | {"RLHF_EVAL_CARDS": str(tmp_path / "cards")},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    mine = [json.loads(line) for line in open(out / "scores.jsonl")]
    theirs = [json.loads(line) for line in open(node["outputs"]["scores"])]
    assert max(abs(a - b) for x, y in zip(mine, theirs) for a, b in zip(x["scores"], y["scores"])) < 1e-5


def test_a_folder_description_that_points_outside_is_refused(tmp_path):
    from rlhf_eval.errors import UserError
    from rlhf_eval.rm.implicit_folder import read_implicit_folder

    (tmp_path / "implicit_rm.json").write_text(json.dumps({"beta": 0.1, "reference": "../../etc", "max_length": 8}))
    with pytest.raises(UserError, match="outside the model folder"):
        read_implicit_folder(tmp_path)
    (tmp_path / "implicit_rm.json").write_text(json.dumps({"beta": "x", "reference": "r", "max_length": 8}))
    with pytest.raises(UserError, match="not an implicit RM's description"):
        read_implicit_folder(tmp_path)
