"""A table of per-RM numbers made elsewhere (a paper's leaderboard and its downstream table) as
the input of `verdict_table`: one row per RM, one column per metric, optional standard-error
columns named by a suffix (`rb2` and `rb2_se`). CSV, or JSON holding a list of row objects.

Every problem is one line naming the file, the row and the column. A blank cell means the RM
lacks that metric; a mean whose SE cell is blank counts as a mean alone.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from rlhf_eval.compare.family import MIN_RMS
from rlhf_eval.compare.measures import finite_number
from rlhf_eval.errors import UserError
from rlhf_eval.registry import did_you_mean


def _rows(path: Path) -> tuple[list[str], list[tuple[str, dict]]]:
    """(columns, [(where, row)]): `where` names the row as a person finds it in the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise UserError(f"{path}: expected a JSON list of row objects, one per RM")
        columns = list(dict.fromkeys(k for r in data for k in r))
        return columns, [(f"row {i}", r) for i, r in enumerate(data, 1)]
    reader = csv.DictReader(text.splitlines())
    columns = list(reader.fieldnames or [])
    rows = []
    for i, r in enumerate(reader, 1):
        if None in r:
            raise UserError(f"{path}: row {i} (line {reader.line_num}) has more cells than the header's "
                            f"{len(columns)} columns")
        rows.append((f"row {i} (line {reader.line_num})", r))
    return columns, rows


def _column(path: Path, name: str, columns: list[str]) -> None:
    if name not in columns:
        raise UserError(f"{path}: no column '{name}'{did_you_mean(name, columns)}; "
                        f"columns: {', '.join(columns) or 'none'}")


def _number(path: Path, where: str, column: str, value) -> float | None:
    """A cell's number; None for a blank cell (the RM lacks the metric)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return finite_number(value, f"{path}: {where}, column '{column}'")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def read_table(path: Path, rm: str, static: list[str], downstream: list[str],
               se_suffix: str | None = None) -> tuple[dict, dict]:
    """({metric: {rm: mean | (mean, se)}} for the static and the downstream columns)."""
    path = Path(path)
    columns, rows = _rows(path)
    both = set(static) & set(downstream)
    if both:
        raise UserError(f"{path}: column '{sorted(both)[0]}' is named both --static and --downstream")
    for name in [rm, *static, *downstream]:
        _column(path, name, columns)
    se_of = {m: f"{m}{se_suffix}" for m in [*static, *downstream] if se_suffix and f"{m}{se_suffix}" in columns}
    seen: dict[str, str] = {}
    out = {m: {} for m in [*static, *downstream]}
    for where, row in rows:
        name = row.get(rm)
        name = "" if name is None else str(name).strip()
        if not name:
            raise UserError(f"{path}: {where}, column '{rm}': no RM name")
        if name in seen:
            raise UserError(f"{path}: {where}, column '{rm}': RM '{name}' appears again (first in {seen[name]})")
        seen[name] = where
        for m in out:
            mean = _number(path, where, m, row.get(m))
            if mean is None:
                continue
            se = _number(path, where, se_of[m], row.get(se_of[m])) if m in se_of else None
            if se is not None and se < 0:
                raise UserError(f"{path}: {where}, column '{se_of[m]}': standard error {se} is negative")
            out[m][name] = (mean, se) if se is not None else mean
    if len(seen) < MIN_RMS:
        raise UserError(f"{path}: {len(seen)} RMs; a verdict needs at least {MIN_RMS} (one row per RM)")
    for m, values in out.items():
        if len(values) < 3:
            raise UserError(f"{path}: column '{m}' has numbers for {len(values)} RMs; a correlation needs at least 3")
    return {m: out[m] for m in static}, {m: out[m] for m in downstream}
