"""Reference log-probs shared by implicit (DPO) RMs.

An implicit RM scores a response as beta * (log pi(y|x) - log pi_ref(y|x)). RMs trained from one
base share that reference, and every static_bench and bon_score node of each of them would run it
over the same inputs. So log pi_ref(y|x) is cached on disk under
$RLHF_EVAL_CACHE/reference_logprobs, one SQLite file per reference, keyed by:

- the reference's content: sha256 of its config.json and weight files (a moved or hard-linked
  copy is the same reference; a retrained one at the same path is not), and the dtype it runs in;
- the batch the row was computed in: every row's exact token ids and response mask, in order (as
  the scoring RM's tokenizer made them: another tokenizer, chat template or max_length gives other
  ids, hence another key), and the row's place in it.

Keying by the whole batch makes a cached value the very float a fresh computation gives: the same
rows padded alike go through the same kernels (a row's log-prob moves by rounding, about 1e-7,
with the batch around it). RMs with one tokenizer and batch size that score the same inputs make
the same batches, so they share every value; a batch that differs in one row is computed again.
A reference that is not a local folder (a hub id) is not cached.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np

from rlhf_eval import store

_WEIGHTS = ("*.safetensors", "config.json")
_FILES: dict[tuple, str] = {}  # (path, inode, size, mtime_ns) -> sha256, for this process


def _file_sha(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _FILES:
        _FILES[key] = store._sha256(path)
    return _FILES[key]


def reference_fingerprint(reference: str) -> str | None:
    """A digest of what the reference computes with: its config and weights. None when the
    reference is not a local folder with safetensors weights."""
    root = Path(reference)
    if not root.is_dir():
        return None
    files = sorted({p for pattern in _WEIGHTS for p in root.glob(pattern) if p.is_file()})
    if not any(p.suffix == ".safetensors" for p in files):
        return None
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.name}\0{_file_sha(p)}\0".encode())
    return h.hexdigest()


def batch_keys(ids: list[list[int]], response_masks: list[list[int]]) -> list[bytes]:
    """One key per row of a batch: the batch's digest (every row's ids and response mask, in
    order) and the row's place in it."""
    h = hashlib.blake2b(digest_size=16)
    for row, mask in zip(ids, response_masks):
        h.update(np.int64(len(row)).tobytes() + np.asarray(row, np.int64).tobytes()
                 + np.asarray(mask, np.uint8).tobytes())
    digest = h.digest()
    return [hashlib.blake2b(digest + np.int64(i).tobytes(), digest_size=16).digest() for i in range(len(ids))]


class ReferenceLogprobs:
    """{row key (batch_keys): log pi_ref} for one reference in one dtype. The default rollback journal, not
    WAL, so the file works on shared (NFS) storage; nodes scoring at once may both compute a row,
    never read a half-written one."""

    def __init__(self, fingerprint: str, dtype: str, root: Path | None = None):
        root = Path(root) if root is not None else store.cache_root() / "reference_logprobs"
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / f"{fingerprint[:32]}-{dtype}.sqlite"
        self.db = sqlite3.connect(self.path, timeout=120, check_same_thread=False)
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS logprobs (key BLOB PRIMARY KEY, value REAL NOT NULL)")
        self.hits = self.misses = 0

    def get(self, keys: list[bytes]) -> dict[bytes, float]:
        found: dict[bytes, float] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):  # SQLite caps the parameters of one statement
            chunk = unique[i:i + 500]
            rows = self.db.execute(f"SELECT key, value FROM logprobs WHERE key IN ({','.join('?' * len(chunk))})",
                                   chunk)
            for key, value in rows:
                if isinstance(key, bytes) and len(key) == 16 and isinstance(value, float):
                    found[key] = value
        return found

    def put(self, values: dict[bytes, float]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO logprobs (key, value) VALUES (?, ?)",
                                [(k, float(v)) for k, v in values.items()])

    def close(self) -> None:
        self.db.close()


def open_for(reference: str, dtype: str) -> ReferenceLogprobs | None:
    """The cache of this reference, or None when it cannot be fingerprinted or
    $RLHF_EVAL_REFERENCE_CACHE is 0."""
    if os.environ.get("RLHF_EVAL_REFERENCE_CACHE", "1") == "0":
        return None
    fingerprint = reference_fingerprint(reference)
    return ReferenceLogprobs(fingerprint, dtype) if fingerprint else None
