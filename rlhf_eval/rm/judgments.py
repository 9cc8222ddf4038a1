"""Every judge answer, cached on disk under $RLHF_EVAL_CACHE/judgments, one SQLite file per judge
model. An answer is keyed by the model, the messages sent and the sampling settings, so a rerun,
a larger N or another run with the same judge asks nothing twice. Each batch of answers is
committed as it arrives: a killed run keeps what it paid for.
"""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path

from rlhf_eval import store


def judgment_key(model: str, messages: list[dict], sampling: dict) -> str:
    blob = json.dumps({"model": model, "messages": messages, "sampling": sampling}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_path(model: str) -> Path:
    """The cache file of a judge model: a readable stem plus a digest of the full id."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[-60:].strip("_") or "judge"
    return store.cache_root() / "judgments" / f"{stem}-{hashlib.sha256(model.encode()).hexdigest()[:10]}.sqlite"


class JudgmentCache:
    """{key: answer}, where an answer is a JSON object (text, verdict-token probabilities, token
    counts). The default rollback journal, not WAL, so the file works on shared (NFS) storage."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=120, check_same_thread=False)
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, answer TEXT NOT NULL)")

    def get(self, keys: list[str]) -> dict[str, dict]:
        found = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):  # SQLite caps the parameters of one statement
            chunk = unique[i:i + 500]
            rows = self.db.execute(f"SELECT key, answer FROM judgments WHERE key IN ({','.join('?' * len(chunk))})",
                                   chunk)
            found.update((k, json.loads(v)) for k, v in rows)
        return found

    def put(self, answers: dict[str, dict]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO judgments (key, answer) VALUES (?, ?)",
                                [(k, json.dumps(v)) for k, v in answers.items()])

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]

    def close(self) -> None:
        self.db.close()
