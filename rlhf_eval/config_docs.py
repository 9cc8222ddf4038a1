"""docs/config.md, generated from the config classes' fields (their types, defaults, ranges and
help), so the reference cannot drift from the code. tests/test_config_docs.py fails when it does;
`make docs` (python -m rlhf_eval.config_docs) writes it again."""
from __future__ import annotations

import sys
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import get_type_hints

from omegaconf import MISSING

from rlhf_eval.config import PolicyCard, Recipe, RMCard, allowed, dataclass_of
from rlhf_eval.registry import listing

PIPE = "\\|"  # a literal | inside a table cell
DOC = Path(__file__).resolve().parent.parent / "docs" / "config.md"
HEADER = """# Configuration reference

Generated from `rlhf_eval/config/schema.py` by `make docs`; do not edit by hand (a test compares the two).
Every key is typed and checked at load: an unknown key names the closest valid one, a value out of
its range names the range. Overrides on the command line are `key=value` (e.g. `rl.steps=10`).
"""


def _type_name(tp) -> str:
    if getattr(tp, "__args__", None) is None:
        return tp.__name__
    text = str(tp).replace("typing.", "")
    return text[len("Optional["):-1] + " or null" if text.startswith("Optional[") else text


def _default(f) -> str:
    if f.default_factory is not NO_DEFAULT:
        value = f.default_factory()
        if is_dataclass(value):
            return "(section)"
    else:
        value = f.default
    if value == MISSING:
        return "required"
    if value is None:
        return "null"
    return f"`{value!r}`".replace("|", PIPE)


def _range(f) -> str:
    r = f.metadata.get("range")
    if not r:
        return ""
    lo, hi, open_lo, each = r
    text = f"> {lo}" if open_lo and hi is None else f">= {lo}" if hi is None else \
        f"{'(' if open_lo else '['}{lo}, {hi}]"
    return ("each " if each else "") + text


def _help(f) -> str:
    """The field's help, and for a choice the values it allows now (read from the registries)."""
    text, choices = f.metadata.get("help", ""), allowed(f)
    return text if choices is None else f"{text} One of: {listing([f'`{c}`' for c in choices])}."


def rows(cls: type, prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    out, sections = [], []
    hints = get_type_hints(cls)
    for f in fields(cls):
        sub = dataclass_of(hints[f.name])
        key = f"{prefix}{f.name}"
        type_name = _type_name(hints[f.name]).replace("rlhf_eval.config.schema.", "").replace("rlhf_eval.config.", "")
        if sub is not None and "dict" not in type_name and "list" not in type_name:
            sections.append((key, type_name, sub, f))
            continue
        out.append((key, type_name, _default(f), _range(f), _help(f)))
        if sub is not None and type_name.startswith("list"):  # one mapping per entry
            out += rows(sub, f"{key}[].")
    for key, type_name, sub, f in sections:
        default = "null" if f.default is None else "(section)"
        out.append((key, type_name, default, "", f.metadata.get("help", "")))
        out += rows(sub, f"{key}.")
    return out


def table(cls: type, title: str, intro: str) -> str:
    lines = [f"## {title}", "", intro, "", "| key | type | default | range | what it is |", "|---|---|---|---|---|"]
    for key, type_name, default, rng, help_text in rows(cls):
        cells = [f"`{key}`", type_name.replace("|", " or "), default, rng, help_text.replace("|", PIPE)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown() -> str:
    return "\n".join([
        HEADER,
        table(Recipe, "Recipe (`recipes/*.yaml`)", "Lists of sections (`sources`, `static_bench.benchmarks`, "
              "`static_bench.probes`) hold one mapping per entry, with the keys listed under them."),
        table(RMCard, "RM card (`reward_models/<name>.yaml`)", "A reward model: trained here from `base`, or used as "
              "published from `path`."),
        table(PolicyCard, "Policy card (`policies/<name>.yaml`)", "A policy that best-of-n samples from and RL starts "
              "from."),
    ])


def main() -> None:
    text = markdown()
    if "--check" in sys.argv:
        sys.exit(0 if DOC.is_file() and DOC.read_text() == text else 1)
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
