"""requirements-gpu.lock: one set of versions for the GPU route (vLLM, OpenRLHF, DeepSpeed) that
pip's resolver accepts together with this project's own dependencies.

OpenRLHF 0.11.2's `vllm` extra pins vllm==0.29.0 and transformers==5.15.0; vLLM 0.29.0 pins
torch==2.13.0. Newer vLLM releases need another torch and transformers than OpenRLHF allows, so the
cluster route is that one set, not the newest of each. `make lock-gpu` re-resolves it here (pip's
resolver in dry-run mode: metadata only, no wheel is installed) and tests/launch/test_gpu_lock.py
checks that the resolver still accepts the committed file.

flash-attn is published only as an sdist whose setup.py imports torch and looks for CUDA: its
metadata is built against the torch already installed here, with its CUDA build skipped.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-gpu.lock"
EXTRA = "gpu"
TORCH = "torch==2.13.0"
HEADER = """\
# Exact versions for the GPU route: `pip install -c requirements-gpu.lock -e ".[gpu]"` (README,
# "Running on a GPU cluster"). Linux x86_64, CPython 3.11; torch is PyPI's build (CUDA), flash-attn
# builds against it. Resolved by `make lock-gpu` (pip's resolver, dry run); tests/launch/test_gpu_lock.py
# checks the resolver still accepts it.
"""


def resolve(constraints: Path | None = None, timeout: float = 600) -> dict[str, str]:
    """{name: version} pip would install for this project's `gpu` extra on this machine's Python,
    optionally under a constraints file. Raises RuntimeError with pip's last lines when it refuses."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--no-build-isolation", "--report", str(report), TORCH, "-e", f"{ROOT}[{EXTRA}]"]
        if constraints is not None:
            cmd += ["-c", str(constraints)]
        env = {**os.environ, "FLASH_ATTENTION_SKIP_CUDA_BUILD": "TRUE", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        if done.returncode != 0:
            tail = [ln for ln in (done.stderr + done.stdout).splitlines() if "is ignored" not in ln][-12:]
            raise RuntimeError("pip's resolver refused the GPU set:\n" + "\n".join(tail))
        installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in installs
            if norm(item["metadata"]["name"]) != "rlhf-eval"}


def lock_lines(versions: dict[str, str]) -> list[str]:
    """`name==version` lines, sorted by name; a local version label (torch's +cpu here) is dropped,
    since the cluster takes PyPI's build of the same release."""
    return [f"{name}=={version.split('+')[0]}"
            for name, version in sorted(versions.items(), key=lambda kv: kv[0].lower())]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    versions = resolve()
    LOCK.write_text(HEADER + "\n".join(lock_lines(versions)) + "\n")
    print(f"{LOCK.name}: {len(versions)} packages")


if __name__ == "__main__":
    main()
