"""Finding an RM or policy card by name, read and checked against its schema. Searched in this
order, the first card of the name wins:
1. each folder of $RLHF_EVAL_CARDS (several are separated by ':'): its reward_models/ or
   policies/ subfolder, or the folder itself when it is named reward_models or policies;
2. the reward_models/ or policies/ folder beside the recipe's folder (recipes/../reward_models);
3. the reward_models/ or policies/ folder of the current folder."""
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

ENV = "RLHF_EVAL_CARDS"


def env_dirs(folder: str) -> list[Path]:
    """The folders $RLHF_EVAL_CARDS names for `folder` (reward_models or policies)."""
    out = []
    for entry in filter(None, os.environ.get(ENV, "").split(os.pathsep)):
        base = Path(entry).expanduser()
        out.append(base if base.name == folder and not (base / folder).is_dir() else base / folder)
    return out


def card_dirs(recipe_path: Path, folder: str) -> list[Path]:
    """The folders searched for `folder`'s cards, in order (existing ones only)."""
    dirs = env_dirs(folder) + [recipe_path.resolve().parent.parent / folder, Path.cwd() / folder]
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
    searched = ", ".join(str(d) for d in dirs) or "none exists"
    env = os.environ.get(ENV)
    raise ConfigError(f"{where}: no card '{name}' in {folder}/{hint}. Searched, in order: {searched}. A card is "
                      f"{folder}/{name}.yaml beside the recipe's folder or in the current folder, or in a folder "
                      f"${ENV} names ({'now ' + repr(env) if env else 'unset'}; README, 'Where cards are found')")
