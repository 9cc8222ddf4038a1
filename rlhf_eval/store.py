"""The run store: one folder per node, a manifest written atomically last.

A node whose manifest exists with the node's key, and whose files are still as the manifest
records them (size, and a hash for small files), is done. Any other state of its folder (partly
written, killed mid-way, a file deleted or truncated since) is wiped and redone from scratch, so
resume is: run again.

Paths inside the run folder are stored relative to it ("train_rm/<key>/model") and read back
joined to wherever the run folder is now, so a run can be moved, copied, and read from any
working directory.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def cache_root() -> Path:
    """What runs share across run folders: toy worlds, judge answers, logs ($RLHF_EVAL_CACHE)."""
    return Path(os.environ.get("RLHF_EVAL_CACHE", "~/.cache/rlhf_eval")).expanduser()


@contextmanager
def _writing(path: Path, tmp: Path):
    """Remove the temporary file on any failure (a full disk must not fill up further), and name
    `path` in an OSError that names no file (a failed write() on a full disk does not)."""
    try:
        yield
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not exc.filename and exc.errno:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with _writing(path, tmp):
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_jsonl(path: Path, rows) -> int:
    """Write rows to `path` through a temporary file; returns the row count."""
    count = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with _writing(path, tmp):
        with open(tmp, "w") as fh:
            for row in rows:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return count


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


HASH_MAX = 1 << 20  # files up to 1 MiB are hashed as well as sized: cheap to check on every run
# A path inside a run folder: <stage>/<12-hex key>[.keep][/...]. Hub ids never look like this.
NODE_KEY = re.compile(r"[0-9a-f]{12}")  # pipeline.node_key: a hash, never a path
RUN_PATH = re.compile(r"[a-z_]+/[0-9a-f]{12}(\.keep)?(/.*)?")
WATCHED = re.compile(r"/(?:[^/]+/)*toy_world/[0-9a-f]{12}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint_file(path: Path) -> str:
    """A file's short sha256 (16 hex digits), as the report's provenance shows it."""
    return _sha256(Path(path))[:16]


def fingerprint(obj) -> str:
    """A JSON-able value's short sha256 (16 hex digits)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_records(root: Path) -> dict[str, dict]:
    """Every file under `root` (or `root` itself, a file): {relative path: {size[, sha256]}}."""
    root = Path(root)
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    out = {}
    for p in paths:
        rel = "." if p == root else p.relative_to(root).as_posix()
        if rel == MANIFEST or p.name.endswith(".tmp"):
            continue
        size = p.stat().st_size
        out[rel] = {"size": size} | ({"sha256": _sha256(p)} if size <= HASH_MAX else {})
    return out


def _records_problem(records, what: str) -> str | None:
    if not isinstance(records, dict):
        return f"{what} is a {type(records).__name__}, not a mapping"
    for rel, rec in records.items():
        if rel != "." and (Path(rel).is_absolute() or ".." in Path(rel).parts):
            return f"{what} names {rel!r}, outside its folder"
        if not isinstance(rec, dict) or type(rec.get("size")) is not int or \
                not isinstance(rec.get("sha256", ""), str):
            return f"{what}[{rel!r}] is not a {{size, sha256}} record"
    return None


def shape_problem(manifest: dict, node_dir: Path) -> str | None:
    """Why a manifest read from disk does not have the shape this code writes, or None: a run
    folder is input, and a malformed manifest is a damaged node, never a crash or "done"."""
    if not isinstance(manifest.get("outputs", {}), dict):
        return f"{MANIFEST} outputs is a {type(manifest['outputs']).__name__}, not a mapping"
    if "files" in manifest and (why := _records_problem(manifest["files"], f"{MANIFEST} files")):
        return why
    watched = manifest.get("watched", {})
    if not isinstance(watched, dict):
        return f"{MANIFEST} watched is a {type(watched).__name__}, not a mapping"
    for root, records in watched.items():
        # What a node watches is a toy-world cache (toy.stage): <cache>/toy_world/<key>, in
        # whichever cache the run used, so that another $RLHF_EVAL_CACHE can still read the run.
        if not WATCHED.fullmatch(Path(root).as_posix()):
            return f"{MANIFEST} watches {root}, which is not a toy-world cache folder"
        if why := _records_problem(records, f"{MANIFEST} watched[{root!r}]"):
            return why
    for field in ("duration_s", "started", "finished"):
        if field in manifest and (type(manifest[field]) not in (int, float)):
            return f"{MANIFEST} {field} is not a number"
    return None


def damage(manifest: dict, node_dir: Path) -> str | None:
    """Why a finished node's files no longer match its manifest, or None. Manifests written
    before files were recorded are trusted."""
    if why := shape_problem(manifest, node_dir):
        return why
    roots = [(Path(node_dir), manifest.get("files"))] + [(Path(p), rec) for p, rec in
                                                          (manifest.get("watched") or {}).items()]
    for root, records in roots:
        for rel, rec in (records or {}).items():
            path = root if rel == "." else root / rel
            if not path.is_file():
                return f"{path} is missing"
            size = path.stat().st_size
            if size != rec["size"]:
                return f"{path} has {size} bytes, the manifest recorded {rec['size']}"
            if "sha256" in rec and size <= HASH_MAX and _sha256(path) != rec["sha256"]:
                return f"{path} changed since the node finished"
    return None


def _map_strings(obj, fn):
    if isinstance(obj, dict):
        return {k: _map_strings(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_map_strings(v, fn) for v in obj]
    return fn(obj) if isinstance(obj, str) else obj


def run_relative(obj, run_dir: Path):
    """Paths inside `run_dir` (absolute, or relative to the working directory) as run-relative."""
    base = Path(run_dir).resolve()

    def rel(s: str) -> str:
        if "/" not in s or "\n" in s or len(s) > 4096:
            return s
        try:
            r = Path(s).resolve().relative_to(base).as_posix()
        except (ValueError, OSError):
            return s
        return r if RUN_PATH.fullmatch(r) else s
    return _map_strings(obj, rel)


def from_run_relative(obj, run_dir: Path):
    return _map_strings(obj, lambda s: str(Path(run_dir) / s) if RUN_PATH.fullmatch(s) else s)


def write_manifest(node_dir: Path, manifest: dict, watched=()) -> dict:
    """Write a node's manifest last, recording its files (and those of `watched` paths outside
    it, such as a cache it points at); outputs' paths inside the run folder become run-relative."""
    node_dir = Path(node_dir)
    run_dir = node_dir.parent.parent
    record = dict(manifest)
    if "outputs" in record:
        record["outputs"] = run_relative(record["outputs"], run_dir)
    record["files"] = file_records(node_dir)
    if watched:
        record["watched"] = {str(Path(p).resolve()): file_records(p) for p in watched}
    atomic_write_json(node_dir / MANIFEST, record)
    return read_manifest(node_dir)


def read_manifest(node_dir: Path) -> dict | None:
    path = Path(node_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(manifest, dict):
        return None
    if isinstance(manifest.get("outputs"), dict):
        manifest["outputs"] = from_run_relative(manifest["outputs"], Path(node_dir).parent.parent)
    return manifest


def done_manifest(node_dir: Path, key: str) -> tuple[dict | None, str | None]:
    """(manifest, None) when the node is done; (None, why) when it finished once but its files
    were damaged since; (None, None) when it never finished."""
    manifest = read_manifest(node_dir)
    if manifest is None or manifest.get("key") != key:
        return None, None
    why = damage(manifest, node_dir)
    return (None, why) if why else (manifest, None)


def is_done(node_dir: Path, key: str) -> bool:
    return done_manifest(node_dir, key)[0] is not None


def fresh_dir(node_dir: Path, run_dir: Path) -> Path:
    """An empty folder for a node about to (re)run: leftovers of a killed attempt go. Only a
    folder two levels inside `run_dir` (<stage>/<key>) is ever removed."""
    node_dir, run_dir = Path(node_dir), Path(run_dir)
    if node_dir.is_symlink() or node_dir.resolve().parent.parent != run_dir.resolve():
        # EPERM: reported as the user's error, naming the folder (errors.one_line)
        raise PermissionError(errno.EPERM, f"not a node folder of {run_dir}; nothing was removed", str(node_dir))
    if node_dir.exists():
        shutil.rmtree(node_dir)
    node_dir.mkdir(parents=True)
    return node_dir
