"""Row validation shared by the benchmark loaders: one-line errors naming file, row and field."""
from __future__ import annotations

from rlhf_eval.data.pairs import DataError


def required_field(row: dict, key: str, where: str, i: int, expect=None):
    if key not in row or row[key] is None:
        raise DataError(f"{where}: row {i}: field '{key}' missing")
    value = row[key]
    if expect is list and not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        raise DataError(f"{where}: row {i}: field '{key}': expected a non-empty list of strings")
    if expect is str and not isinstance(value, str):
        raise DataError(f"{where}: row {i}: field '{key}': expected a string, got {type(value).__name__}")
    return value


def prompt_of(row: dict, key: str, where: str, i: int):
    """A prompt is a string or a list of chat messages ({role, content})."""
    value = required_field(row, key, where, i)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m and "content" in m
                                                 for m in value):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise DataError(f"{where}: row {i}: field '{key}': expected a string or chat messages")
