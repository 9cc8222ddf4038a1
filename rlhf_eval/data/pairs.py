"""Preference pairs: the contract `{id, source, prompt, chosen, rejected, margin?, label?, meta}`.

`label` is the task's reference answer where a dataset has one (map it with `columns`, e.g.
{label: answer}); it travels to RL prompt files, where remote RMs and reward functions see it.

`prompt` is a string (one user turn) or a list of chat messages (multi-turn history ending with
a user turn); `chosen` and `rejected` are the final assistant responses as strings. Accepted
input shapes, after the source's column mapping:
- plain strings: prompt, chosen, rejected;
- prompt as chat messages, chosen/rejected as strings or assistant message lists;
- TRL's implicit-prompt shape: no prompt, chosen/rejected are whole conversations sharing a prefix
  (the shared prefix becomes the prompt);
- OpenRLHF's keys are mapped with `columns` (e.g. {prompt: input, chosen: chosen, rejected: rejected}).
"""
from __future__ import annotations

import json
from pathlib import Path

from rlhf_eval.errors import UserError


class DataError(UserError):
    """A bad input row: names the file, the row and the field."""


class RowProblem(Exception):
    def __init__(self, field: str, reason: str):
        super().__init__(f"field '{field}': {reason}")
        self.field, self.reason = field, reason


def _is_messages(value) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(m, dict) and "role" in m and isinstance(m.get("content"), str) for m in value)


def _response(value, field: str) -> str:
    if isinstance(value, str):
        return value
    if _is_messages(value):
        if value[-1]["role"] != "assistant":
            raise RowProblem(field, "last message is not from the assistant")
        return value[-1]["content"]
    raise RowProblem(field, f"expected a string or chat messages, got {type(value).__name__}")


def _prompt(value):
    if isinstance(value, str):
        return value
    if _is_messages(value):
        if value[-1]["role"] != "user":
            raise RowProblem("prompt", "last message is not from the user")
        if len(value) == 1:
            return value[0]["content"]
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise RowProblem("prompt", f"expected a string or chat messages, got {type(value).__name__}")


def _split_implicit(chosen, rejected):
    """TRL's implicit prompt: the conversations' shared prefix is the prompt."""
    if not (_is_messages(chosen) and _is_messages(rejected)):
        raise RowProblem("prompt", "missing")
    k = 0
    while k < min(len(chosen), len(rejected)) - 1 and chosen[k] == rejected[k]:
        k += 1
    if k == 0:
        raise RowProblem("prompt", "missing, and chosen/rejected share no conversation prefix")
    return chosen[:k], chosen[k:], rejected[k:]


def parse_row(row, columns: dict | None = None) -> dict:
    """The contract fields of one input row; raises RowProblem naming the field."""
    if not isinstance(row, dict):
        raise RowProblem("row", "not an object")
    if columns:
        row = row | {field: row[col] for field, col in columns.items() if col in row}
    for key in ("chosen", "rejected"):
        if row.get(key) is None:
            raise RowProblem(key, "missing")
    prompt, chosen, rejected = row.get("prompt"), row["chosen"], row["rejected"]
    if prompt is None:
        prompt, chosen, rejected = _split_implicit(chosen, rejected)
    out = {"prompt": _prompt(prompt), "chosen": _response(chosen, "chosen"),
           "rejected": _response(rejected, "rejected")}
    for key in ("chosen", "rejected"):
        if not out[key].strip():
            raise RowProblem(key, "empty response")
    if " ".join(out["chosen"].split()) == " ".join(out["rejected"].split()):
        raise RowProblem("chosen", "identical to rejected")
    if row.get("margin") is not None:
        try:
            out["margin"] = float(row["margin"])
        except (TypeError, ValueError):
            raise RowProblem("margin", f"not a number: {row['margin']!r}") from None
    if row.get("label") is not None:
        if not isinstance(row["label"], (str, int, float)):
            raise RowProblem("label", f"expected a string, got {type(row['label']).__name__}")
        out["label"] = str(row["label"])
    return out


def trl_rows(pairs: list[dict], keep: tuple[str, ...] = ()) -> list[dict]:
    """TRL's conversational preference format: prompt, chosen and rejected all message lists
    (TRL refuses a mix of strings and messages), plus the `keep` fields as they are."""
    return [{"prompt": prompt_messages(p["prompt"]),
             "chosen": [{"role": "assistant", "content": p["chosen"]}],
             "rejected": [{"role": "assistant", "content": p["rejected"]}],
             **{k: p[k] for k in keep}} for p in pairs]


def prompt_messages(prompt) -> list[dict]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def first_user_turn(prompt) -> str:
    return prompt if isinstance(prompt, str) else next(m["content"] for m in prompt if m["role"] == "user")


def prompt_text(prompt) -> str:
    """All turns of a prompt as one text (for n-gram matching and shingles)."""
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)


def json_lines(path: Path):
    """(row number, value) of each non-blank line of a JSON-lines file; a line that is not UTF-8
    or not JSON is a DataError naming the file and row."""
    with open(path, "rb") as fh:
        yield from json_values(path, fh)


def json_values(path, raw_lines, first: int = 1):
    """(line number, value) of each non-blank raw line (bytes), numbered from `first`; a line that
    is not UTF-8 or not JSON is a DataError naming the file and line."""
    for i, raw in enumerate(raw_lines, first):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: row {i}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                            f"{exc.start + 1})") from None
        if not line.strip():
            continue
        try:
            yield i, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: row {i}: not valid JSON ({exc.msg})") from None


def read_rows(path: Path) -> list[dict]:
    """Rows of a .jsonl, .json or .parquet file, or of a folder of .jsonl shards (the Ray curate
    engine's curated/ folder), read in name order."""
    path = Path(path)
    if path.is_dir():
        return [row for shard in sorted(path.glob("*.jsonl")) for row in read_rows(shard)]
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".jsonl":
        return [row for _, row in json_lines(path)]
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                            f"{exc.start})") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of rows")
        return data
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        try:
            return pq.read_table(path).to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .jsonl, .json or .parquet)")


def read_source(path: str, split: str = "train") -> list[dict]:
    """Rows of a local file, or of a hub dataset given as `hf:<id>`."""
    path = str(path)
    if path.startswith("hf:"):
        import datasets
        try:
            return datasets.load_dataset(path[3:], split=split).to_list()
        except Exception as exc:  # offline machines, unknown ids, gated sets
            raise DataError(f"{path}: cannot load split '{split}' from the hub: "
                            f"{str(exc).splitlines()[0]}") from None
    return read_rows(Path(path))


def load_pairs(path: str, source: str, on_bad_row: str = "error", dropped: list | None = None,
               columns: dict | None = None, split: str = "train") -> list[dict]:
    """Rows of one source in the contract. A bad row raises DataError (file, row, field), or
    with on_bad_row="drop" is appended to `dropped` (with file, row, field, reason) and skipped."""
    out = []
    rows = read_source(path, split)
    if not rows:
        raise DataError(f"{path}: the file is empty (no rows)" if not str(path).startswith("hf:")
                        else f"{path}: split '{split}' has no rows")
    for i, row in enumerate(rows, 1):
        try:
            pair = parse_row(row, columns)
        except RowProblem as bad:
            if on_bad_row == "error":
                raise DataError(f"{path}: row {i}: {bad}") from None
            if dropped is not None:
                dropped.append({"source": source, "file": str(path), "row": i, "field": bad.field,
                                "reason": bad.reason})
            continue
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        out.append({"id": str(row.get("id", f"{source}-{i:06d}")), "source": source, **pair, "meta": meta})
    return out
