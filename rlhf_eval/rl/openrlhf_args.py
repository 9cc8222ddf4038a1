"""The flags OpenRLHF's `train_ppo_ray` accepts, read from a released wheel's source with `ast`
(no import, no GPU). Flags built in loops (`f"--{prefix}.adam.lr"` for prefix in actor, critic) are
expanded. The result is cached as JSON, so checks against it run offline afterwards."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rlhf_eval.errors import UserError

ENTRY = "openrlhf/cli/train_ppo_ray.py"


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def _loop_values(tree: ast.AST) -> dict[int, dict[str, list]]:
    """For each add_argument call inside `for x in (<literals>)`, the loop variable's values."""
    out: dict[int, dict[str, list]] = {}

    def visit(node, env):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            try:
                env = env | {node.target.id: list(ast.literal_eval(node.iter))}
            except ValueError:
                pass
        if isinstance(node, ast.Call):
            out[id(node)] = env
        for child in ast.iter_child_nodes(node):
            visit(child, env)
    visit(tree, {})
    return out


def _names(arg, env: dict[str, list]) -> list[str]:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.JoinedStr):
        names = [""]
        for part in arg.values:
            if isinstance(part, ast.Constant):
                names = [n + part.value for n in names]
            elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name) and part.value.id in env:
                names = [n + str(v) for n in names for v in env[part.value.id]]
            else:
                return []
        return names
    return []


def argparse_flags(source: str) -> dict[str, dict]:
    """{flag: {type, choices, action, default, nargs}} of every add_argument call in `source`."""
    tree = ast.parse(source)
    env_of = _loop_values(tree)
    flags = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            kw = {k.arg: _literal(k.value) for k in node.keywords
                  if k.arg in ("type", "choices", "action", "default", "nargs")}
            for arg in node.args:
                for name in _names(arg, env_of.get(id(node), {})):
                    if name.startswith("-"):
                        flags[name] = kw
    return flags


def source_from_wheel(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        name = next((n for n in zf.namelist() if n.endswith(ENTRY)), None)
        if name is None:
            raise UserError(f"{wheel}: no {ENTRY} inside")
        return zf.read(name).decode()


def released_flags(version: str, cache_dir: Path) -> dict[str, dict]:
    """Flags of openrlhf==version: from the cache, else from `pip download --no-deps`."""
    cache = cache_dir / f"openrlhf-{version}-train_ppo_ray.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                               f"openrlhf=={version}"], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("openrlhf-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise UserError(f"pip download openrlhf=={version} failed: {proc.stderr.strip()[-300:]}")
        flags = argparse_flags(source_from_wheel(wheels[0]))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(flags, indent=1, sort_keys=True, default=str))
    return flags
