"""An implicit (DPO) RM's model folder, made portable: its reward is beta * (log pi(y|x) - log
pi_ref(y|x)), so the folder carries its reference model (a hub id as is; a local model copied into
`reference/`, hard-linked where the filesystem allows) and `implicit_rm.json`, which says what
plain transformers needs to score as the project does (docs/rl.md, "An implicit RM's folder")."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from rlhf_eval import store
from rlhf_eval.errors import UserError

META = "implicit_rm.json"
REFERENCE = "reference"
FORMAT = 1


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


def _copy_folder(src: Path, dst: Path) -> None:
    """src's files into dst, linked where possible. File by file rather than shutil.copytree, so a
    full disk raises its own OSError (ENOSPC: a one-line user error) and not copytree's list."""
    for f in sorted(Path(src).rglob("*")):
        target = dst / f.relative_to(src)
        if f.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                _link_or_copy(f, target)
            except OSError as exc:  # copy2 names the source; the write that failed is the target's
                raise OSError(exc.errno, exc.strerror, str(target)) from None


def write_implicit_folder(model_dir: Path, reference: str, beta: float, max_length: int) -> str:
    """Write implicit_rm.json into model_dir (and the reference beside the weights, unless it is a
    hub id); returns the reference's path (or hub id) for the node's outputs."""
    model_dir = Path(model_dir)
    if reference.startswith("hf:") or not Path(reference).exists():  # a hub id: portable as it is
        ref, where = reference.removeprefix("hf:"), "hf:" + reference.removeprefix("hf:")
    else:
        target = model_dir / REFERENCE
        shutil.rmtree(target, ignore_errors=True)
        _copy_folder(Path(reference), target)
        ref, where = str(target), REFERENCE
    store.atomic_write_json(model_dir / META, {
        "format": FORMAT, "kind": "implicit", "beta": beta, "reference": where, "max_length": max_length,
        "reward": "beta * (sum over the response's tokens of log pi(token) - log pi_ref(token)); the response's "
                  "tokens are the assistant turn's ({% generation %} in the chat template)",
        "truncation": "an input longer than max_length tokens keeps its last max_length tokens"})
    return ref


def read_implicit_folder(path: str | Path) -> dict | None:
    """implicit_rm.json of a model folder, its reference resolved (a path, or a hub id without
    `hf:`); None where the folder has none. Its shape is checked: the folder is someone else's."""
    file = Path(path) / META
    if not file.is_file():
        return None
    try:
        meta = json.loads(file.read_text())
        beta, ref, max_length = meta["beta"], meta["reference"], meta["max_length"]
        if not (isinstance(beta, (int, float)) and beta > 0 and isinstance(ref, str) and isinstance(max_length, int)):
            raise ValueError("beta must be a positive number, reference a string, max_length an integer")
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{file}: not an implicit RM's description ({type(exc).__name__}: {exc})") from None
    if ref.startswith("hf:"):
        return meta | {"reference": ref[3:]}
    local = (Path(path) / ref).resolve()
    if not local.is_relative_to(Path(path).resolve()):  # the folder's own copy, never a file elsewhere
        raise UserError(f"{file}: reference {ref!r} is outside the model folder; it must be a folder inside it "
                        "or hf:<org>/<name>")
    return meta | {"reference": str(local)}
