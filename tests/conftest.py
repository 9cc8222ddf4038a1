import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def toy_cache(tmp_path_factory):
    """One toy-world cache per test session, shared by every end-to-end run."""
    path = Path(os.environ.get("RLHF_EVAL_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    return path


def cli_env(cache: Path) -> dict:
    env = dict(os.environ, RLHF_EVAL_CACHE=str(cache), PYTHONUNBUFFERED="1")
    return env


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "rlhf_eval.cli", *map(str, args)]
