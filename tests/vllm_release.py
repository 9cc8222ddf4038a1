"""vLLM's own source, for contract tests that must not import it (no GPU, no 300 MB wheel): the
released sdist of the version requirements-gpu.lock pins, checked against the index's sha256, and
the few files the tests read kept under $RLHF_EVAL_CACHE/contracts/, so later runs are offline."""
from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import tarfile
import urllib.request
from pathlib import Path

from rlhf_eval.launch.gpu_lock import LOCK
from rlhf_eval.report.provenance import read_lock

VERSION = read_lock(LOCK)["vllm"]
FILES = ("vllm/sampling_params.py", "vllm/pooling_params.py", "vllm/entrypoints/llm.py", "vllm/engine/arg_utils.py",
         "vllm/entrypoints/pooling/offline.py")
CACHE = Path(os.environ.get("RLHF_EVAL_CACHE", "~/.cache/rlhf_eval")).expanduser() / "contracts" / f"vllm-{VERSION}"


def sources() -> dict[str, str]:
    """{path: text} of FILES; raises OSError where neither the cache nor the index has them."""
    if not all((CACHE / f).is_file() for f in FILES):
        request = urllib.request.Request("https://pypi.org/simple/vllm/",
                                         headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        index = json.load(urllib.request.urlopen(request, timeout=30))
        sdist = next(f for f in index["files"] if f["filename"] == f"vllm-{VERSION}.tar.gz")
        blob = urllib.request.urlopen(sdist["url"], timeout=300).read()
        if hashlib.sha256(blob).hexdigest() != sdist["hashes"]["sha256"]:
            raise OSError(f"vllm-{VERSION}.tar.gz: sha256 differs from the index's")
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            for f in FILES:
                (CACHE / f).parent.mkdir(parents=True, exist_ok=True)
                (CACHE / f).write_bytes(tar.extractfile(f"vllm-{VERSION}/{f}").read())
    return {f: (CACHE / f).read_text() for f in FILES}


def _class(source: str, name: str) -> ast.ClassDef:
    return next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef) and n.name == name)


def fields(source: str, cls: str) -> dict[str, str]:
    """{field: default as written} of a dataclass or msgspec Struct (annotated class attributes)."""
    return {n.target.id: ast.unparse(n.value) if n.value is not None else None for n in _class(source, cls).body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and not n.target.id.startswith("_")}


def parameters(source: str, cls: str, method: str) -> tuple[set[str], bool]:
    """(parameter names, whether **kwargs is taken) of cls.method."""
    fn = next(n for n in _class(source, cls).body if isinstance(n, ast.FunctionDef) and n.name == method)
    a = fn.args
    return {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs} - {"self"}, a.kwarg is not None
