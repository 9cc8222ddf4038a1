"""requirements.lock pins everything the set-up installs, and the report flags versions that differ."""
import re
import tomllib
from pathlib import Path

from rlhf_eval.report.provenance import against_lock, provenance, read_lock

ROOT = Path(__file__).resolve().parent.parent


def test_lock_pins_every_dependency_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    lock = read_lock(ROOT / "requirements.lock")
    names = {re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~ ;]", req)[0]).lower() for req in wanted}
    assert names - set(lock) == set()
    assert lock["torch"] == "2.13.0+cpu"
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        assert line.startswith("#") or re.fullmatch(r"[A-Za-z0-9_.\-]+==[^=\s]+", line), line


def test_against_lock_lists_only_the_differing_versions(tmp_path):
    lock = tmp_path / "cluster.lock"
    lock.write_text("# a cluster's own lock\nTransformers==5.0.0\ntorch==2.13.0+cpu\nlm-eval==0.4.13\n")
    seen = {"transformers": ["5.24.0"], "torch": ["2.13.0+cpu"], "lm_eval": ["0.4.13"], "python": ["3.11.7"]}
    found = against_lock(seen, lock)
    assert found["checked"] and found["differs"] == [{"package": "transformers", "run": ["5.24.0"], "lock": "5.0.0"}]
    assert against_lock(seen, tmp_path / "missing.lock") == {"lock": str(tmp_path / "missing.lock"),
                                                             "checked": False, "differs": []}


def test_provenance_of_a_real_run_against_a_lock(reference_run, tmp_path, monkeypatch):
    run_dir, _ = reference_run
    recorded = provenance(run_dir)["versions"]
    assert {"torch", "transformers", "trl", "numpy", "pyarrow"} <= set(recorded)
    lock = tmp_path / "other.lock"
    lock.write_text("".join(f"{pkg}=={v[0]}\n" for pkg, v in recorded.items() if pkg != "numpy") + "numpy==0.0.1\n")
    monkeypatch.setenv("RLHF_EVAL_LOCK", str(lock))
    assert provenance(run_dir)["lock"]["differs"] == [{"package": "numpy", "run": recorded["numpy"], "lock": "0.0.1"}]
