"""Loading a recipe: its YAML and `key=value` overrides checked against the schema (with the
sections new stages declare), its cards found, and the checks that span sections and cards. A
stage's own refusals are its Stage.check, read through the registry."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path
from typing import Optional

from omegaconf import OmegaConf

from rlhf_eval.config.cards import card_dirs, load_card
from rlhf_eval.config.schema import (
    JUDGE_PARSERS,
    MODEL_REFS,
    ConfigError,
    PolicyCard,
    Recipe,
    RMCard,
)
from rlhf_eval.config.validate import (
    apply_appends,
    check_keys,
    check_name,
    check_values,
    closest,
    is_name,
    merge_schema,
    parse_overrides,
    read_yaml,
    split_appends,
)
from rlhf_eval.errors import UserError
from rlhf_eval.gen import SAMPLERS
from rlhf_eval.launch.address import head_address
from rlhf_eval.rm import SCORERS, kind_problem
from rlhf_eval.stages import STAGES, all_stages


@dataclass
class LoadedRecipe:
    recipe: Recipe
    path: Path
    reward_models: dict[str, RMCard]
    policies: dict[str, PolicyCard]
    judge: Optional[RMCard] = None
    # Policy cards an RM trains from (its `base`) that are not among the recipe's policies: a
    # static-only recipe (policies: []) still trains its RMs from the toy policy.
    bases: dict[str, PolicyCard] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return Path(self.recipe.run_root) / self.recipe.name

    def to_dict(self) -> dict:
        return {
            "recipe": OmegaConf.to_container(OmegaConf.structured(self.recipe)),
            "reward_models": {k: OmegaConf.to_container(OmegaConf.structured(v))
                              for k, v in self.reward_models.items()},
            "policies": {k: OmegaConf.to_container(OmegaConf.structured(v))
                         for k, v in self.policies.items()},
            "judge": None if self.judge is None else OmegaConf.to_container(OmegaConf.structured(self.judge)),
        }


def _check_stage_maps(recipe: Recipe, where: str) -> None:
    for section, stages in (("slurm", recipe.slurm.stages), ("ray", recipe.ray.stages)):
        for stage in stages:
            if stage not in STAGES:
                raise ConfigError(f"{where}: {section}.stages: unknown stage '{stage}'{closest(stage, STAGES)}")


def _check_judge(card: RMCard) -> None:
    judge, where = card.judge, f"RM card '{card.name}'"
    for name in ("yes_token", "no_token"):
        if getattr(judge, name) in ("True", "False"):
            raise ConfigError(f"{where}: judge.{name} is {getattr(judge, name)}: YAML reads an unquoted yes/no as a "
                              f"boolean; write {name}: \"yes\"")
    parsers = JUDGE_PARSERS[judge.mode]
    if judge.parser not in (None, *parsers):
        raise ConfigError(f"{where}: judge.parser={judge.parser} does not read {judge.mode} answers; use "
                          f"{' or '.join(parsers)}")


def recipe_schema() -> tuple[type, list]:
    """Recipe, plus the section of every registered stage whose section Recipe lacks (a new
    stage's settings are its own dataclass, declared beside it: stages.Stage.config), and the
    registered stages."""
    found = all_stages()
    have = {f.name for f in fields(Recipe)}
    extra = [(s.section, s.config, field(default_factory=s.config)) for s in found
             if s.section and s.config is not None and s.section not in have]
    return (make_dataclass("Recipe", extra, bases=(Recipe,)) if extra else Recipe), found


# Keys that moved: old dotted key -> new one. A recipe with the old key still loads (with a
# warning), so runs keep their node keys; both at once is refused.
RENAMED = {"seed": "bon.bootstrap_seed"}  # the top-level seed only ever seeded best-of-n's bootstrap


def _renamed(raw: dict, where: str) -> dict:
    for old, new in RENAMED.items():
        if isinstance(raw, dict) and old in raw:
            section, _, key = new.partition(".")
            target = raw.setdefault(section, {}) if isinstance(raw.get(section, {}), dict) else None
            if target is None or key in target:
                raise ConfigError(f"{where}: `{old}` is now `{new}`; give only `{new}`")
            warnings.warn(f"{where}: `{old}` is now `{new}` (it seeds best-of-n's bootstrap only); rename it",
                          FutureWarning, stacklevel=3)
            target[key] = raw.pop(old)
    return raw


def _read(path: Path, overrides: list[str], schema: type, found: list) -> Recipe:
    """The recipe file with its overrides, keys, types, choices and ranges checked."""
    raw = _renamed(read_yaml(path), str(path))
    check_keys(raw, schema, str(path))
    overrides, appends = split_appends(overrides)
    over = _renamed(parse_overrides(overrides), "override")
    check_keys(over, schema, "override")
    merged = apply_appends(OmegaConf.to_container(OmegaConf.merge(raw, over)), appends, schema)
    for s in found:
        if s.shorthand is not None and isinstance(merged.get(s.section), dict):
            merged[s.section] = s.shorthand(merged[s.section])
    cfg = merge_schema(schema, merged, str(path))
    recipe: Recipe = OmegaConf.to_object(cfg)
    check_name(recipe.name, "name", str(path))
    check_values(recipe, str(path))
    return recipe


def _check_sections(recipe: Recipe, path: Path) -> None:
    """Checks within the recipe's own sections."""
    if not recipe.reward_models:
        raise ConfigError(f"{path}: reward_models is empty; name at least one RM card")
    for key in ("reward_models", "policies"):
        names = getattr(recipe, key)
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise ConfigError(f"{path}: {key} names '{twice}' twice")
    if not recipe.policies and (recipe.bon.enabled or recipe.rl.enabled):
        on = " and ".join(n for n, s in (("bon", recipe.bon), ("rl", recipe.rl)) if s.enabled)
        raise ConfigError(f"{path}: policies is empty (no policies), but {on} start from a policy: name a policy "
                          "card, or for static benchmarks only set bon.enabled=false and rl.enabled=false")
    if not recipe.bon.n_grid:
        raise ConfigError(f"{path}: bon.n_grid is empty; list the n to report, e.g. [1, 4, 16]")
    w = recipe.toy_world
    if w is not None and w.min_letters > w.max_letters:
        raise ConfigError(f"{path}: toy_world.min_letters={w.min_letters} is above "
                          f"toy_world.max_letters={w.max_letters}")
    for n in recipe.bon.n_grid:
        if not 1 <= n <= recipe.bon.n_max:
            raise ConfigError(f"{path}: bon.n_grid has {n}, outside 1..bon.n_max={recipe.bon.n_max}")
    _check_stage_maps(recipe, str(path))
    if recipe.slurm.ray_head_address is not None:
        try:
            head_address(recipe.slurm.ray_head_address)
        except UserError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    if recipe.bon.n_max % recipe.bon.block:
        raise ConfigError(f"{path}: bon.n_max={recipe.bon.n_max} must be a multiple of bon.block={recipe.bon.block}")


def _curation_judge(recipe: Recipe, path: Path) -> Optional[RMCard]:
    """The curation judge's card, when the curation steps need one."""
    judge = recipe.curate.consistency.judge
    if "consistency" in recipe.curate.steps or "retrieve" in recipe.curate.steps or (
            "select" in recipe.curate.steps and recipe.curate.select.by == "judge_margin"):
        if judge is None:
            raise ConfigError(f"{path}: curate.consistency.judge must name an RM card for the "
                              "consistency and retrieve steps (and for select.by=judge_margin)")
    judge_card = None
    if judge is not None:
        judge_card = load_card(judge, "reward_models", RMCard, path, f"{path}: curate.consistency.judge")
        if "retrieve" in recipe.curate.steps and recipe.curate.retrieve.embedder == "rm" and \
                judge_card.backend != "transformers":
            raise ConfigError(f"{path}: curate.retrieve.embedder=rm reads the judge RM's hidden states, which only "
                              f"backend transformers exposes; RM card '{judge}' has backend {judge_card.backend}: "
                              "use curate.retrieve.embedder=tfidf, or a transformers judge card")
        if judge_card.path is None and judge_card.train.dataset != "raw":
            raise ConfigError(f"RM card '{judge}': a curation judge must train on raw data "
                              "(train.dataset: raw), since the curated data depends on it")
    return judge_card


def _check_rm_cards(cards: list[RMCard]) -> None:
    for card in cards:
        if card.backend not in SCORERS:
            raise ConfigError(f"RM card '{card.name}': backend '{card.backend}' cannot score "
                              f"({' or '.join(SCORERS)})")
        problem = kind_problem(card.kind, card.backend)
        if problem:
            raise ConfigError(f"RM card '{card.name}': {problem}")
        if card.kind == "generative":
            _check_judge(card)
        if card.backend in ("remote", "openai") and not card.url:
            raise ConfigError(f"RM card '{card.name}': backend {card.backend} needs `url`")


def _check_policy_cards(recipe: Recipe, pols: dict, path: Path) -> None:
    for card in pols.values():
        if card.backend not in SAMPLERS:
            raise ConfigError(f"policy card '{card.name}': backend '{card.backend}' cannot generate "
                              f"({' or '.join(SAMPLERS)})")
    if recipe.bon.enabled and recipe.bon.n_max > 1:
        for card in pols.values():
            if (recipe.bon.temperature if recipe.bon.temperature is not None else card.generation.temperature) == 0:
                where = "bon.temperature=0" if recipe.bon.temperature is not None else \
                    f"policy card '{card.name}': generation.temperature=0 (bon.temperature is null)"
                raise ConfigError(f"{path}: best-of-n samples bon.n_max={recipe.bon.n_max} candidates per prompt, "
                                  f"but {where} is greedy: every candidate would be the same (and vLLM refuses "
                                  "n > 1 when greedy); set a temperature above 0, or bon.n_max=1")


def _base_policies(rm_cards: list[RMCard], pols: dict, path: Path) -> dict[str, PolicyCard]:
    """The policy cards RM cards train from that the recipe's `policies` do not list."""
    out = {}
    for card in rm_cards:
        base = card.base
        if card.path is None and base not in pols and base not in out and is_name(base) and \
                not Path(base).exists() and any((d / f"{base}.yaml").is_file() for d in card_dirs(path, "policies")):
            out[base] = load_card(base, "policies", PolicyCard, path, f"RM card '{card.name}': base")
    return out


def _check_models(rm_cards: list[RMCard], pols: dict) -> None:
    """Every model a card names exists, or is a toy or hub reference."""
    for card in pols.values():
        if not card.path.startswith(MODEL_REFS) and not Path(card.path).exists():
            raise ConfigError(f"policy card '{card.name}': path '{card.path}' does not exist "
                              "(a hub model is written hf:<org>/<name>)")
    for card in rm_cards:
        if card.path is None and card.base not in pols and not card.base.startswith(MODEL_REFS):
            if not Path(card.base).exists():
                raise ConfigError(f"RM card '{card.name}': base '{card.base}' is neither a policy card "
                                  f"({', '.join(pols) or 'none found'}) nor an existing path")
        if card.path is not None and not card.path.startswith(MODEL_REFS) and not Path(card.path).exists():
            raise ConfigError(f"RM card '{card.name}': path '{card.path}' does not exist "
                              "(a hub model is written hf:<org>/<name>)")


def load_recipe(path: str | Path, overrides: list[str] = ()) -> LoadedRecipe:
    """A recipe, its cards found and everything checked, or a ConfigError naming the file and key."""
    path = Path(path)
    schema, found = recipe_schema()
    recipe = _read(path, list(overrides), schema, found)
    _check_sections(recipe, path)
    rms = {n: load_card(n, "reward_models", RMCard, path, f"{path}: reward_models")
           for n in recipe.reward_models}
    judge_card = _curation_judge(recipe, path)
    _check_rm_cards([*rms.values(), *([judge_card] if judge_card else [])])
    for s in found:  # each stage's own refusals (Stage.check)
        problems = s.check(recipe, rms) if s.check is not None else []
        if problems:
            raise ConfigError(f"{path}: " + "; ".join(problems))
    pols = {n: load_card(n, "policies", PolicyCard, path, f"{path}: policies") for n in recipe.policies}
    rm_cards = [*rms.values(), *([judge_card] if judge_card else [])]
    bases = _base_policies(rm_cards, pols, path)
    _check_policy_cards(recipe, pols, path)
    _check_models(rm_cards, pols | bases)
    if recipe.toy_world is None and any(c.path.startswith("toy:") for c in (pols | bases).values()):
        raise ConfigError(f"{path}: a policy uses the toy world but toy_world is null")
    return LoadedRecipe(recipe, path, rms, pols, judge_card, bases)
