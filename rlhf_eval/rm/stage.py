"""train_rm stage: train an RM card locally with TRL (or take its trained checkpoint as is)."""
from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path

from rlhf_eval.config import RMCard, from_params
from rlhf_eval.curate.stage import load_all, source_list
from rlhf_eval.data.pairs import read_rows
from rlhf_eval.errors import UserError
from rlhf_eval.toy.stage import resolve


def training_pairs(ctx, card: RMCard, toy: dict | None) -> list[dict]:
    train = card.train
    if train.dataset == "curated":
        pairs = read_rows(Path(ctx.out("data")["path"]))
    else:
        pairs = load_all(source_list(ctx.params, toy), toy, "error", [])
    if train.sources is not None:
        known = {p["source"] for p in pairs}
        missing = sorted(set(train.sources) - known)
        if missing:
            raise UserError(f"RM card '{card.name}': train.sources {missing} not in "
                             f"the {train.dataset} data (sources there: {', '.join(sorted(known))})")
        pairs = [p for p in pairs if p["source"] in train.sources]
    random.Random(train.seed).shuffle(pairs)
    return pairs[: train.max_pairs] if train.max_pairs else pairs


def card_outputs(card: RMCard) -> dict:
    """What every train_rm output says of its card, trained or not (rm.base.TrainedRM reads it);
    `rlhf-eval serve-rm` builds the same for a card with a `path`."""
    return {"name": card.name, "kind": card.kind, "batch_size": card.batch_size,
            "max_length": card.max_length, "chat_template": card.chat_template,
            "trust_remote_code": card.trust_remote_code, "backend": card.backend,
            "url": card.url, "api_key_env": card.api_key_env, "engine_args": card.engine_args,
            **({"judge": asdict(card.judge)} if card.kind == "generative" else {})}


def given_reference(card: RMCard, path: str, resolve_ref, base: str) -> dict:
    """An RM given by `path`: its reference and beta (an implicit RM's; no other kind has a
    reference, so a classifier never needs its base, or the toy world). The card's `reference` (with its
    train.beta) if it names one; else the folder's own (implicit_rm.json, written when the project
    trains one); else the card's base."""
    from rlhf_eval.rm.implicit_folder import read_implicit_folder

    if card.kind != "implicit":  # a classifier or judge scores with its own weights alone
        return {"reference": None, "beta": card.train.beta}
    if card.reference is None:
        meta = read_implicit_folder(path) if Path(path).is_dir() else None
        if meta is not None:
            return {"reference": meta["reference"], "beta": meta["beta"]}
    ref = card.reference or base
    return {"reference": resolve_ref(ref), "beta": card.train.beta}


def run(ctx) -> dict:
    from rlhf_eval.rm import train_trl

    card = from_params(RMCard, ctx.params["card"])
    toy = ctx.out("toy") if ctx.has("toy") else None
    common = card_outputs(card)
    if card.backend in ("remote", "openai"):  # served elsewhere: nothing to train or load here
        return common | {"path": None, "trained": False}
    if card.path is not None:
        path = resolve(card.path, toy, "policy")
        if not card.path.startswith("hf:") and not Path(path).exists():
            raise UserError(f"RM card '{card.name}': path {path} does not exist")
        return common | given_reference(card, path, lambda ref: resolve(ref, toy, "policy"), ctx.params["base"]) | {
            "path": path, "trained": False}
    base = resolve(ctx.params["base"], toy, "policy")
    if not ctx.params["base"].startswith("hf:") and not Path(base).exists():
        raise UserError(f"RM card '{card.name}': base model {base} does not exist")
    pairs = training_pairs(ctx, card, toy)
    if not pairs:
        raise UserError(f"RM card '{card.name}': no training pairs")
    from rlhf_eval.progress import BarCallback
    with ctx.bar(f"training {card.kind} RM on {len(pairs)} pairs", None) as update:
        callbacks = [BarCallback(update)]
        if card.kind == "generative":
            info = train_trl.train_judge(base, pairs, card.train, card.judge, ctx.dir, callbacks=callbacks)
        elif card.kind == "classifier":
            info = train_trl.train_classifier(base, pairs, card.train, ctx.dir, callbacks=callbacks)
        else:
            info = train_trl.train_implicit(base, pairs, card.train, ctx.dir, callbacks=callbacks,
                                            max_length=card.max_length)
    info.setdefault("reference", base)
    info.setdefault("beta", card.train.beta)
    return common | info | {"n_pairs": len(pairs), "trained": True, "train_seed": card.train.seed}
