"""The toy_world stage's wiring: one node that builds (or finds in the cache) the embedded world."""
from __future__ import annotations

from rlhf_eval.stages import Stage, no_gpu

NAME = "toy_world"
# Bump when the stage's outputs change shape for the same config, so cached worlds are redone.
TOY_WORLD_FORMAT = 2
STUDY_FORMAT = 3  # 2: the unmarked response of a marker pair ends with a filler word; 3: so does toy_marker's


def toy_world_params(config: dict) -> dict:
    # A world without a study keeps the key it had before `study` existed, so caches stay valid.
    if config.get("study") is None:
        return {"config": {k: v for k, v in config.items() if k != "study"}, "format": TOY_WORLD_FORMAT}
    study = config["study"]
    if not study.get("shift_shares"):  # and a study without the shift axis keeps its key too
        study = {k: v for k, v in study.items() if not k.startswith("shift_")}
    return {"config": config | {"study": study}, "format": TOY_WORLD_FORMAT, "study_format": STUDY_FORMAT}


def world(plan):
    """The toy-world node, or None when the recipe has no toy world."""
    from rlhf_eval.pipeline import plain

    w = plan.recipe.toy_world
    return None if w is None else plan.add(NAME, "toy world", toy_world_params(plain(w)))


def default_world_key() -> str:
    """The key of the world the default config builds (the quickstart's)."""
    from omegaconf import OmegaConf

    from rlhf_eval.config import ToyWorldConfig
    from rlhf_eval.pipeline import node_key

    return node_key(NAME, toy_world_params(OmegaConf.to_container(OmegaConf.structured(ToyWorldConfig()))), {})


def provenance(manifest: dict) -> dict:
    return {"what": "toy world", "fingerprint": manifest["key"], "detail": "node key (its config)"}


def seeds(config: dict) -> dict:
    w = config["recipe"].get(NAME)
    return {NAME: w["seed"]} if w else {}


STAGE = Stage(NAME, "rlhf_eval.toy.stage:run", provides={"toy": world}, section=NAME, cost=no_gpu,
              provenance=provenance, seeds=seeds)


def cache_dir(key: str):
    """Where the world of node key `key` is kept (the cache is shared by runs)."""
    from rlhf_eval import store

    return store.cache_root() / NAME / key
