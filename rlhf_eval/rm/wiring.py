"""The train_rm stage's wiring: one node per RM card (trained, or a checkpoint taken as it is),
and one for the curation judge when the recipe has one."""
from __future__ import annotations

from rlhf_eval.stages import Stage

NAME = "train_rm"


def card_params(card) -> dict:
    """A train_rm node's card: the judge section only on a generative card, so judge settings
    never redo other RMs, whose keys stay what they were before the section existed."""
    from rlhf_eval.pipeline import plain

    params = plain(card)
    return params if card.kind == "generative" else {k: v for k, v in params.items() if k != "judge"}


def _node(plan, card, label: str, data):
    from rlhf_eval.curate.wiring import sources

    policies = plan.loaded.policies
    base = policies[card.base].path if card.base in policies else card.base
    params = {"card": card_params(card), "base": base, "sources": sources(plan)}
    return plan.add(NAME, label, params, {"toy": plan.need("toy"), "data": data})


def judge(plan):
    """The curation judge's node (it trains on raw data: the curated data depends on it), or None."""
    card = plan.loaded.judge
    return None if card is None else _node(plan, card, f"judge={card.name}", None)


def reward_models(plan) -> dict:
    """RM card name -> its node."""
    return {name: _node(plan, card, f"rm={name}", plan.need("curated") if card.train.dataset == "curated" else None)
            for name, card in plan.loaded.reward_models.items()}


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
    return {f"{NAME}[{name}]": card["train"]["seed"] for name, card in config["reward_models"].items()}


STAGE = Stage(NAME, "rlhf_eval.rm.stage:run",
              artifact="rlhf_eval.rm.base:TrainedRM.from_outputs", provides={"judge": judge, "rm": reward_models},
              cost=cost,
              seeds=seeds)
