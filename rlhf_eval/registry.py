"""One kind of registry for every extension point: a table `name -> "module:object"`, kept in its
package's __init__ (gen.SAMPLERS, rm.SCORERS, rl.ENGINES, launch.EXECUTORS, bench.BENCHMARKS,
stages.STAGES). A table holds only strings, so config validation, help texts and planning read
the names without importing torch or a GPU engine; the object is imported when it is used, and
checked against what its table expects. Adding a backend, engine, executor, benchmark or stage is
one module and one line in its table.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Iterable

from rlhf_eval.errors import UserError


def did_you_mean(word: str, options: Iterable[str], cutoff: float = 0.6, valid: bool = False) -> str:
    """" (did you mean 'x'?)" for the closest option; else " (valid: a, b)" when `valid`, or "":
    the one hint every lookup and config check gives."""
    options = [str(o) for o in options]
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=cutoff)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (valid: {', '.join(sorted(options))})" if valid else ""


def is_callable(obj: Any) -> str | None:
    return None if callable(obj) else f"is not callable (a {type(obj).__name__})"


def instance_of(ref: str) -> Callable[[Any], str | None]:
    """A table's check that its objects are instances of the class "package.module:Class",
    imported when an entry is loaded (so the table's module imports nothing heavy); the message
    names it as module.Class without the package."""
    module, _, name = ref.partition(":")
    shown = f"{module.split('.', 1)[-1]}.{name}"

    def check(obj: Any) -> str | None:
        cls = getattr(importlib.import_module(module), name)
        return None if isinstance(obj, cls) else f"is not a {shown} (a {type(obj).__name__})"
    return check


class Registry(dict):
    """`name -> "module:object"`. A dict, so `in`, iteration and tests' monkeypatch.setitem work
    as on the plain tables it replaces; `load` is the one lookup."""

    def __init__(self, what: str, entries: dict[str, str], check: Callable[[Any], str | None] = is_callable):
        super().__init__(entries)
        self.what, self.check = what, check

    def load(self, name: str) -> Any:
        """The object registered under `name`, imported now; an unknown name or an object of the
        wrong shape is a one-line error naming the table."""
        if name not in self:
            raise UserError(f"unknown {self.what} '{name}'{did_you_mean(name, self)}; "
                            f"registered: {', '.join(self)}")
        module, _, attr = self[name].partition(":")
        obj = getattr(importlib.import_module(module), attr)
        problem = self.check(obj)
        if problem:
            raise UserError(f"{self.what} '{name}' ({self[name]}) {problem}")
        return obj

    def listing(self, sep: str = ", ", last: str = " or ") -> str:
        """The registered names for a help text: 'a, b or c'."""
        return listing(self, sep, last)


def listing(names: Iterable[str], sep: str = ", ", last: str = " or ") -> str:
    names = list(names)
    return names[0] if len(names) == 1 else sep.join(names[:-1]) + last + names[-1]
