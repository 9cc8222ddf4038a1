"""Generic checks of a recipe or card against its schema: unknown keys (naming the closest valid
one), types, ranges and choices, YAML that is too large, names that may become paths; and reading
a node's params back as the typed config they were made from."""
from __future__ import annotations

import functools
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Optional, get_args, get_origin, get_type_hints

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rlhf_eval.config.schema import ConfigError, allowed
from rlhf_eval.registry import did_you_mean


def closest(word: str, options) -> str:
    return did_you_mean(word, options, cutoff=0.5, valid=True)


def dataclass_of(tp) -> Optional[type]:
    if is_dataclass(tp):
        return tp
    if get_origin(tp) is not None:
        for arg in get_args(tp):
            found = dataclass_of(arg)
            if found:
                return found
    return None


def check_keys(raw: Any, schema: type, where: str, prefix: str = "") -> None:
    """Reject unknown keys anywhere in `raw`, naming the closest valid key."""
    if not isinstance(raw, dict):
        return
    hints = get_type_hints(schema)
    names = [f.name for f in fields(schema)]
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"{where}: unknown key '{dotted}'{closest(str(key), names)}")
        sub = dataclass_of(hints[key])
        if sub is None:
            continue
        if get_origin(hints[key]) is dict and isinstance(value, dict):  # name -> dataclass
            for name, item in value.items():
                check_keys(item, sub, where, f"{dotted}.{name}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                check_keys(item, sub, where, f"{dotted}[{i}].")
        else:
            check_keys(value, sub, where, f"{dotted}.")


def _range_problem(v, lo, hi, open_lo: bool) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None  # types are OmegaConf's and _element_problem's to check
    if lo is not None and (v <= lo if open_lo else v < lo) or hi is not None and v > hi:
        if hi is None:
            return f"must be {'above' if open_lo else 'at least'} {lo}"
        return f"must be within {'(' if open_lo else '['}{lo}, {hi}]"
    return None


SCALARS = {str: (str,), int: (int,), float: (int, float), bool: (bool,)}


def _element_problem(value, hint) -> str | None:
    """Element types of list[X] and dict[str, X] fields, which OmegaConf lets through nested."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is list and args and args[0] in SCALARS:
        items, expected = enumerate(value or []), args[0]
    elif origin is dict and len(args) == 2 and args[1] in SCALARS:
        items, expected = (value or {}).items(), args[1]
    else:
        return None
    for k, v in items:
        ok = isinstance(v, SCALARS[expected]) and (expected is bool or not isinstance(v, bool))
        if not ok:
            shown = repr(v) if len(repr(v)) < 60 else repr(v)[:57] + "..."
            return f"[{k!r}] must be a {expected.__name__}, got {type(v).__name__} {shown}"
    return None


def check_values(obj, where: str, prefix: str = "") -> None:
    """Every field with choices set to one of them, every field with a range within it, and list
    and mapping elements of the declared type, recursively; the error names the dotted key."""
    hints = get_type_hints(type(obj))
    for f in fields(obj):
        value, dotted = getattr(obj, f.name), f"{prefix}{f.name}"
        problem = _element_problem(value, hints[f.name])
        if problem:
            raise ConfigError(f"{where}: {dotted}{problem}")
        choices = allowed(f)
        for v in (value if isinstance(value, list) else [value]) if choices is not None else []:
            if v is not None and v not in choices:
                raise ConfigError(f"{where}: {dotted}={v!r} is not one of {', '.join(choices)}"
                                  + did_you_mean(v, choices, cutoff=0.5))
        if f.metadata.get("range") and value is not None:
            lo, hi, open_lo, each = f.metadata["range"]
            items = (value.items() if isinstance(value, dict) else enumerate(value)) if each else [(None, value)]
            for k, v in items:
                why = _range_problem(v, lo, hi, open_lo)
                if why:
                    name = dotted if k is None else f"{dotted}[{k!r}]"
                    raise ConfigError(f"{where}: {name}={v!r} {why}")
        if is_dataclass(value):
            check_values(value, where, f"{dotted}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if is_dataclass(item):
                    check_values(item, where, f"{dotted}[{i}].")
        elif isinstance(value, dict):
            for k, item in value.items():
                if is_dataclass(item):
                    check_values(item, where, f"{dotted}.{k}.")


MAX_VALUES = 100_000  # a recipe is a few hundred values; YAML aliases must not blow it up


def expanded_size(obj, limit: int = MAX_VALUES) -> int:
    """How many values `obj` holds once YAML aliases are copied out, as OmegaConf will; counted
    with memoization over shared objects, so a billion-laugh document is measured, not expanded."""
    memo: dict[int, int] = {}

    def size(x) -> int:
        if not isinstance(x, (dict, list)):
            return 1
        if id(x) not in memo:
            memo[id(x)] = 0  # a self-referencing alias counts once
            children = x.values() if isinstance(x, dict) else x
            memo[id(x)] = min(limit + 1, 1 + sum(size(c) for c in children))
        return memo[id(x)]
    return size(obj)


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                          "save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if expanded_size(data) > MAX_VALUES:
        raise ConfigError(f"{path}: expands to over {MAX_VALUES:,} values through YAML aliases (&/*); "
                          "write the values out instead")
    return data


def merge_schema(schema: type, raw: dict, where: str):
    check_keys(raw, schema, where)
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema), raw)
        missing = sorted(OmegaConf.missing_keys(cfg))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        msg = str(exc).splitlines()[0]
        raise ConfigError(f"{where}: {key + ': ' if key else ''}{msg}") from None
    if missing:
        raise ConfigError(f"{where}: required key '{missing[0]}' is not set")
    return cfg


def split_appends(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(key=value overrides, key+=value appends)."""
    appends = [o for o in overrides if "=" in o and o.split("=", 1)[0].endswith("+")]
    return [o for o in overrides if o not in appends], appends


def apply_appends(merged: dict, appends: list[str], schema: type) -> dict:
    """`key+=[a,b]` (or `key+=a`) adds to the list `key` holds after the recipe and the key=value
    overrides, or to its default: `reward_models+=[my-rm]` adds one RM to a recipe's list."""
    defaults = OmegaConf.structured(schema)
    for item in appends:
        key, value = item.split("=", 1)
        key = key[:-1]
        try:
            new = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={value}"]))["v"]
        except (OmegaConfBaseException, yaml.YAMLError) as exc:
            raise ConfigError(f"override '{item}': cannot parse the value ({str(exc).splitlines()[0]}); "
                              "write key+=[a,b] or key+=a") from None
        parts = key.split(".")
        check_keys(functools.reduce(lambda inner, k: {k: inner}, reversed(parts), None), schema, "override")
        holder = merged
        for k in parts[:-1]:
            holder = holder.setdefault(k, {})
            if not isinstance(holder, dict):
                raise ConfigError(f"override '{item}': '{k}' is not a section")
        current = holder.get(parts[-1], OmegaConf.select(defaults, key))
        current = OmegaConf.to_container(current) if OmegaConf.is_config(current) else current
        if not isinstance(current, list):
            raise ConfigError(f"override '{item}': {key} is not a list (it is {current!r}); `+=` adds to lists, "
                              f"`{key}=VALUE` sets a value")
        holder[parts[-1]] = current + (new if isinstance(new, list) else [new])
    return merged


def parse_overrides(overrides: list[str]) -> dict:
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected key=value")
        try:
            OmegaConf.from_dotlist([item])
        except (OmegaConfBaseException, yaml.YAMLError) as exc:
            raise ConfigError(f"override '{item}': cannot parse the value ({str(exc).splitlines()[0]}); "
                              "lists are written key=[1,2,4], strings with spaces key='a b'") from None
    out = OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides)))
    if expanded_size(out) > MAX_VALUES:
        raise ConfigError(f"overrides hold over {MAX_VALUES:,} values")
    return out


NAME = re.compile(r"[A-Za-z0-9_.+-]+")


def is_name(name) -> bool:
    """Names become file and folder names: no separators, no '.' or '..'."""
    return isinstance(name, str) and bool(NAME.fullmatch(name)) and name not in (".", "..")


def check_name(name, what: str, where: str) -> None:
    if not is_name(name):
        raise ConfigError(f"{where}: {what} {name!r} is not a name: use only letters, digits, '_', '-', '+' and '.' "
                          "(not '.' or '..'); names are not paths")


def from_params(schema: type, params: dict):
    """A section of a node's params (plain JSON in plan.json) as the typed config it was made
    from, so that stage code reads checked attributes instead of string keys."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), params))
