"""requirements-gpu.lock is one set pip's resolver accepts: the project, vLLM, OpenRLHF and DeepSpeed.

Offline: the lock satisfies every requirement of this project and of OpenRLHF 0.11.2's own metadata
(the wheel installed under .venv/openrlhf-0.11.2). Online, where the registry answers: pip's
resolver, in dry-run mode, takes the lock as constraints and lands on exactly the lock, and refuses
the mix the issue found (the CPU lock's transformers with OpenRLHF's pins)."""
import tomllib
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from rlhf_eval.launch import gpu_lock
from rlhf_eval.report.provenance import read_lock

ROOT = Path(__file__).resolve().parents[2]
OPENRLHF_METADATA = ROOT / ".venv/openrlhf-0.11.2/openrlhf-0.11.2.dist-info/METADATA"


def _lock() -> dict[str, str]:
    return read_lock(gpu_lock.LOCK)


def _unmet(requirements: list[str], extras: set[str], lock: dict[str, str]) -> list[str]:
    unmet = []
    for text in requirements:
        req = Requirement(text)
        env = [{"extra": e} for e in extras or {""}]
        if req.marker is not None and not any(req.marker.evaluate(e) for e in env):
            continue
        version = lock.get(gpu_lock.norm(req.name))
        if version is None or not req.specifier.contains(Version(version), prereleases=True):
            unmet.append(f"{text} (lock: {version})")
    return unmet


def test_the_gpu_lock_meets_the_projects_own_requirements_and_pins():
    lock = _lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert _unmet(project["dependencies"], set(), lock) == []
    assert _unmet(extras["vllm"] + extras["openrlhf"] + extras["deepspeed"], set(), lock) == []
    assert (lock["vllm"], lock["openrlhf"], lock["transformers"], lock["torch"]) == ("0.29.0", "0.11.2", "5.15.0",
                                                                                      "2.13.0")
    assert gpu_lock.TORCH == "torch==" + lock["torch"]
    assert "rlhf-eval" not in lock


def test_the_gpu_lock_meets_every_requirement_of_openrlhfs_released_metadata():
    if not OPENRLHF_METADATA.is_file():
        pytest.skip(f"{OPENRLHF_METADATA} absent (make installs OpenRLHF 0.11.2 there)")
    requires = [line.split(":", 1)[1].strip() for line in OPENRLHF_METADATA.read_text().splitlines()
                if line.startswith("Requires-Dist:")]
    assert any("vllm==0.29.0" in r for r in requires)
    assert _unmet(requires, {"vllm"}, _lock()) == []
    # The CPU lock's transformers is one OpenRLHF's pins refuse: why the GPU route has its own lock.
    cpu = read_lock(ROOT / "requirements.lock")
    assert _unmet(requires, {"vllm"}, {**_lock(), "transformers": cpu["transformers"]}) != []


def _registry_answers() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/simple/openrlhf/", timeout=10).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_pips_resolver_accepts_the_gpu_lock_and_refuses_the_cpu_locks_transformers(tmp_path):
    if not _registry_answers():
        pytest.skip("pypi.org does not answer from here: pip's resolver cannot read the metadata")
    lock = _lock()
    resolved = {gpu_lock.norm(k): v.split("+")[0] for k, v in gpu_lock.resolve(gpu_lock.LOCK).items()}
    assert resolved == lock
    mixed = tmp_path / "mixed.lock"
    cpu = read_lock(ROOT / "requirements.lock")["transformers"]
    mixed.write_text(gpu_lock.LOCK.read_text().replace("transformers==5.15.0", f"transformers=={cpu}"))
    with pytest.raises(RuntimeError, match="refused the GPU set"):
        gpu_lock.resolve(mixed)
