"""The train_rm stage's wiring: one node per RM card (trained, or a checkpoint taken as it is),
and one for the curation judge when the recipe has one."""
from __future__ import annotations

from rlhf_eval.stages import Stage

NAME = "train_rm"


def card_params(card, seed: int | None = None) -> dict:
    """A train_rm node's card: the judge section only on a generative card, so judge settings
    never redo other RMs, whose keys stay what they were before the section existed; this node's
    own training seed and not the list (train.seeds), so adding a seed keeps the others' keys."""
    from rlhf_eval.pipeline import plain

    params = plain(card)
    params["train"] = {k: v for k, v in params["train"].items() if k != "seeds"} | (
        {"seed": seed} if seed is not None else {})
    return params if card.kind == "generative" else {k: v for k, v in params.items() if k != "judge"}


def trained(path: str | None, backend: str) -> bool:
    """Whether a card with this `path` and `backend` is trained here (not a given checkpoint, a
    server or an API)."""
    return path is None and backend not in ("remote", "openai")


def training_seeds(recipe, card) -> list[int]:
    """The card's train.seeds, else the recipe's rm_seeds for a card trained here, else its one
    train.seed."""
    if not trained(card.path, card.backend):
        return [card.train.seed]
    return list(card.train.seeds or recipe.rm_seeds or [card.train.seed])


def _node(plan, card, label: str, data, seed: int | None = None):
    from rlhf_eval.curate.wiring import sources

    policies = plan.loaded.policies | plan.loaded.bases
    base = policies[card.base].path if card.base in policies else card.base
    params = {"card": card_params(card, seed), "base": base, "sources": sources(plan)}
    toy = plan.need("toy") if uses_toy(card, base) or downstream(plan) else None
    return plan.add(NAME, label, params, {"toy": toy, "data": data})


def downstream(plan) -> bool:
    """Whether the recipe runs best-of-n or RL, which plan the toy world and the curated data
    anyway. A checkpoint given by path then keeps them among its inputs, as it always had, so its
    nodes' keys (and the GPU runs cached under them) stay; only a static-only recipe leaves out
    what it does not read."""
    return plan.recipe.bon.enabled or plan.recipe.rl.enabled


def uses_toy(card, base: str) -> bool:
    """Whether the RM reads the toy world: trained here (from toy sources or the toy policy), or a
    toy model given by path (an implicit RM's reference defaults to its base)."""
    if trained(card.path, card.backend):
        return True
    reference = card.reference
    if card.kind == "implicit" and reference is None:
        from pathlib import Path

        from rlhf_eval.rm.implicit_folder import META
        # a folder the project trained names its own reference (rm.implicit_folder)
        reference = None if Path(card.path, META).is_file() else base
    return any(ref and ref.startswith("toy:") for ref in (card.path, reference))


def judge(plan):
    """The curation judge's node (it trains on raw data: the curated data depends on it), or None."""
    card = plan.loaded.judge
    return None if card is None else _node(plan, card, f"judge={card.name}", None)


def seed_label(name: str, seed: int, by_seed: dict) -> str:
    """How a node names the RM it uses: the training seed only when the card has several."""
    return f"rm={name}" + (f" rm_seed={seed}" if len(by_seed) > 1 else "")


def seeded(plan) -> dict:
    """RM card name -> {training seed: its train_rm node}, in the order of its seeds. A card with
    one seed keeps the label (and key) it had before seeds existed."""
    out = {}
    for name, card in plan.loaded.reward_models.items():
        here = trained(card.path, card.backend)
        reads = here or downstream(plan)  # (a given checkpoint reads no data: see downstream)
        data = plan.need("curated") if reads and card.train.dataset == "curated" else None
        seeds = training_seeds(plan.recipe, card)
        out[name] = {seed: _node(plan, card, seed_label(name, seed, seeds), data, seed if here else None)
                     for seed in seeds}
    return out


def reward_models(plan) -> dict:
    """RM card name -> the node of its first training seed (what RL uses unless rl.rm_seeds says)."""
    return {name: next(iter(nodes.values())) for name, nodes in plan.need("rm_seeds").items()}


def cost(node, c):
    """Training FLOPs: 6 x params per token (8 for an implicit RM, whose reference model also
    runs forward), over both responses of every pair and every epoch. A given checkpoint: none."""
    from rlhf_eval.launch.cost import Estimate

    card = node.params["card"]
    if card["path"]:
        return None
    p = c.rm_params(node)
    pairs = card["train"]["max_pairs"] or c.cost["train_pairs"]
    tokens = pairs * 2 * c.seq * card["train"]["epochs"]
    flops = (6 + (2 if card["kind"] == "implicit" else 0)) * p * tokens
    return Estimate(node.stage, node.label, c.hours(flops, c.cost["train_tflops"]),
                    f"{p / 1e9:g}B x {pairs} pairs x {card['train']['epochs']:g} epochs")


def seeds(config: dict) -> dict:
    """Each RM card's training seeds (training_seeds, on the plain config provenance reads)."""
    def of(card: dict):
        here = trained(card["path"], card["backend"])
        return (here and (card["train"].get("seeds") or config.get("rm_seeds"))) or card["train"]["seed"]
    return {f"{NAME}[{name}]": of(card) for name, card in config["reward_models"].items()}


STAGE = Stage(NAME, "rlhf_eval.rm.stage:run",
              artifact="rlhf_eval.rm.base:TrainedRM.from_outputs",
              provides={"judge": judge, "rm_seeds": seeded, "rm": reward_models},
              cost=cost,
              seeds=seeds)
