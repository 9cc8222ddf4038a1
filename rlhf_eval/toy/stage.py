"""toy_world stage: build the world into the cache (once per config) and point at it."""
from __future__ import annotations

from rlhf_eval import store
from rlhf_eval.config import StudyWorldConfig, ToyWorldConfig
from rlhf_eval.errors import UserError
from rlhf_eval.lock import locked
from rlhf_eval.toy.wiring import cache_dir


def run(ctx) -> dict:
    from rlhf_eval.toy.world import build_world

    raw = dict(ctx.params["config"])
    cfg = ToyWorldConfig(**raw | {"study": StudyWorldConfig(**raw["study"]) if raw.get("study") else None})
    dest = cache_dir(ctx.node.key)
    ctx.watch(dest)  # the run's node is redone when the cache it points at is damaged
    # Runs of other recipes share the cache: one builds a world, the others wait and reuse it.
    with locked(dest.with_name(f"{dest.name}.lock"), f"toy world cache {dest}", wait=True,
                on_wait=lambda who: print(f"waiting for {who}, which is building the toy world in {dest}")):
        cached, damaged = store.done_manifest(dest, ctx.node.key)
        # A cache built before manifests recorded files cannot be checked: built again, once.
        if cached is not None and "files" in cached:
            return cached["outputs"]
        if damaged:
            print(f"toy world cache {dest}: {damaged}; rebuilding it")
        store.fresh_dir(dest, store.cache_root())
        info = build_world(cfg, dest, bar=ctx.bar)
        return store.write_manifest(dest, {"key": ctx.node.key, "outputs": info})["outputs"]


def resolve(ref: str, toy: dict | None, what: str) -> str:
    """A `toy:<name>` reference (policy, source) to its path in the built world; a model given as
    `hf:<org>/<name>` to its hub id (machines with network); paths pass through."""
    if what == "policy" and ref.startswith("hf:"):
        return ref[3:]
    if not ref.startswith("toy:"):
        return ref
    if toy is None:
        raise UserError(f"{what} '{ref}' needs the toy world, but the recipe sets toy_world: null")
    name = ref[4:]
    if what == "policy" and name == "policy":
        return toy["policy"]
    if what == "source" and name in toy["sources"]:
        return toy["sources"][name]
    raise UserError(f"unknown toy {what} '{ref}'")
