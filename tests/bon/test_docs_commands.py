"""docs/best-of-n.md's pasteable lm-eval commands name the folders a quickstart run writes: the
toy world's cache key and the node keys of classifier-curated's best-of-n (planned here, as
`make quickstart` plans them)."""
import re

from conftest import ROOT
from rlhf_eval.config import load_recipe
from rlhf_eval.pipeline import expand


def test_the_docs_commands_name_the_quickstart_folders():
    text = (ROOT / "docs" / "best-of-n.md").read_text()
    block = re.search(r"<!-- quickstart-commands -->\n```bash\n(.*?)```", text, re.S).group(1)
    nodes = expand(load_recipe(ROOT / "recipes" / "quickstart.yaml"))
    key = {(n.stage, n.label): n.key for n in nodes}
    world = key["toy_world", "toy world"]
    generate = key["bon_generate", "policy=toy-policy task=toy_sort"]
    score = key["bon_score", "rm=classifier-curated rm_seed=0 policy=toy-policy task=toy_sort"]
    assert f"/toy_world/{world}\n" in block
    assert f"candidates=runs/quickstart/bon_generate/{generate}/candidates.jsonl" in block
    assert f"scores=runs/quickstart/bon_score/{score}/scores.jsonl,n=4" in block
    assert not re.search(r"POLICY|TASKS_DIR|\.\.\./", block)  # no placeholders left
