"""Run OpenRLHF 0.11.2's own code in a subprocess: its wheel lives in <venv>/openrlhf-0.11.2
(installed by `make`, see tests/openrlhf-side.txt), off the test process's import path, so that
deepspeed's presence never changes what transformers or accelerate do in the other tests.

`run_openrlhf(code, payload)` runs `code` with OpenRLHF, the flash_attn stand-in and this project
importable; the code reads `payload` (JSON) from stdin and prints one JSON line last."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("RLHF_EVAL_OPENRLHF_SITE") or Path(sys.prefix) / "openrlhf-0.11.2")
STANDINS = ROOT / "tests" / "standins"


def need_openrlhf() -> None:
    if not (SITE / "openrlhf" / "__init__.py").is_file():
        pytest.skip(f"OpenRLHF 0.11.2 is not installed at {SITE}: run `make .venv/.installed` "
                    "(it needs the package index once)")


def openrlhf_env(**extra) -> dict:
    need_openrlhf()
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(SITE), str(STANDINS), str(ROOT)]),
                TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", **extra)


def run_openrlhf(code: str, payload: dict, timeout: float = 600) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(payload), capture_output=True,
                          text=True, timeout=timeout, env=openrlhf_env(), cwd=ROOT)
    if proc.returncode != 0:
        raise AssertionError(f"OpenRLHF side failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
