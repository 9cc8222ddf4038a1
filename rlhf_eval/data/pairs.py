"""Preference pairs: the contract `{id, source, prompt, chosen, rejected, margin?, meta}`,
loaded from local jsonl/json/parquet and checked row by row."""
from __future__ import annotations

import json
from pathlib import Path

REQUIRED = ("prompt", "chosen", "rejected")


class DataError(ValueError):
    """A bad input row: names the file, the row and the field."""


def _text(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
        return value[-1]["content"]
    return None


def problem(row: dict) -> tuple[str, str] | None:
    """(field, reason) of the first thing wrong with a row, or None."""
    for key in REQUIRED:
        if key not in row or row[key] is None:
            return key, "missing"
        if _text(row[key]) is None:
            return key, f"expected a string or chat messages, got {type(row[key]).__name__}"
    for key in ("chosen", "rejected"):
        if not _text(row[key]).strip():
            return key, "empty response"
    if " ".join(_text(row["chosen"]).split()) == " ".join(_text(row["rejected"]).split()):
        return "chosen", "identical to rejected"
    return None


def read_rows(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".jsonl":
        rows = []
        with open(path) as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}: row {i}: not valid JSON ({exc.msg})") from None
        return rows
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of rows")
        return data
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        return pq.read_table(path).to_pylist()
    raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .jsonl, .json or .parquet)")


def normalize(row: dict, source: str, index: int) -> dict:
    out = {"id": str(row.get("id", f"{source}-{index:06d}")), "source": source,
           "prompt": _text(row["prompt"]), "chosen": _text(row["chosen"]),
           "rejected": _text(row["rejected"]), "meta": row.get("meta") or {}}
    if row.get("margin") is not None:
        out["margin"] = float(row["margin"])
    return out


def load_pairs(path: Path, source: str, on_bad_row: str = "error", dropped: dict | None = None) -> list[dict]:
    """Rows of one source. A bad row raises DataError (file, row, field), or with
    on_bad_row="drop" is counted in `dropped[reason]` and skipped."""
    out = []
    for i, row in enumerate(read_rows(path), 1):
        bad = problem(row) if isinstance(row, dict) else ("row", "not an object")
        if bad:
            field, reason = bad
            if on_bad_row == "error":
                raise DataError(f"{path}: row {i}: field '{field}': {reason}")
            if dropped is not None:
                dropped[reason] = dropped.get(reason, 0) + 1
            continue
        out.append(normalize(row, source, i))
    return out
