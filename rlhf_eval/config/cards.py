"""Finding an RM or policy card by name: beside the recipe, in the current folder, or under
$RLHF_EVAL_CARDS, read and checked against its schema."""
from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from rlhf_eval.config.schema import ConfigError
from rlhf_eval.config.validate import (
    check_values,
    closest,
    is_name,
    merge_schema,
    read_yaml,
)


def card_dirs(recipe_path: Path, folder: str) -> list[Path]:
    dirs = [recipe_path.resolve().parent.parent / folder, Path.cwd() / folder]
    extra = os.environ.get("RLHF_EVAL_CARDS")
    if extra:
        dirs.insert(0, Path(extra) / folder)
    seen, out = set(), []
    for d in dirs:
        if d not in seen and d.is_dir():
            seen.add(d)
            out.append(d)
    return out


def load_card(name: str, folder: str, schema: type, recipe_path: Path, where: str):
    dirs = card_dirs(recipe_path, folder)
    if not is_name(name):
        searched = ", ".join(str(d) for d in dirs) or f"no {folder}/ folder found"
        raise ConfigError(f"{where}: card {name!r} is not a card name; cards are found by name in {folder}/ "
                          f"folders (searched: {searched}), and a name holds no path separators")
    for d in dirs:
        path = d / f"{name}.yaml"
        if path.is_file():
            raw = read_yaml(path)
            raw.setdefault("name", name)
            if raw["name"] != name:
                raise ConfigError(f"{path}: name '{raw['name']}' does not match the file name '{name}'")
            cfg = merge_schema(schema, raw, str(path))
            card = OmegaConf.to_object(cfg)
            check_values(card, str(path))
            return card
    known = sorted({p.stem for d in dirs for p in d.glob("*.yaml")})
    hint = closest(name, known) if known else f" (no {folder}/ folder found)"
    raise ConfigError(f"{where}: no card '{name}' in {folder}/{hint}")
