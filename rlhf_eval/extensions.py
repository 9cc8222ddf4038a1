"""Lazy registries: every extension point is a table `name -> "module:object"`, kept in its
package's __init__ (gen.SAMPLERS, rm.SCORERS, rl.ENGINES, launch.EXECUTORS; pipeline.STAGES for
stages). A table holds only strings, so config validation, help texts and planning read the names
without importing torch or a GPU engine; the object is imported when it is used. Adding a
backend, engine or executor is one module and one line in its table.
"""
from __future__ import annotations

import difflib
import importlib

from rlhf_eval.errors import UserError


def load(table: dict[str, str], name: str, what: str):
    """The object `table` registers under `name`, imported now."""
    if name not in table:
        close = difflib.get_close_matches(name, list(table), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserError(f"unknown {what} '{name}'{hint}; registered: {', '.join(table)}")
    module, attr = table[name].split(":")
    return getattr(importlib.import_module(module), attr)


def listing(table, sep: str = ", ", last: str = " or ") -> str:
    """The registered names for a help text: 'a, b or c'."""
    names = list(table)
    return names[0] if len(names) == 1 else sep.join(names[:-1]) + last + names[-1]
