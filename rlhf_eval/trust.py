"""What a run folder may cause. A run folder is input from someone else (a colleague's results, a
downloaded artifact): its plan.json and manifests may say anything.

- Code runs only where the local user said so. A model's own code (`trust_remote_code`), vLLM
  engine arguments (some name classes to import) and the URL and key variable of a remote RM come
  from the local card of that name, never from a manifest or a plan that this user did not write.
- `node` runs only a plan.json that `run` or `submit` signed with this user's plan key (an
  HMAC; the key is ~/.config/rlhf_eval/plan.key, or $RLHF_EVAL_PLAN_KEY): a plan is a list of
  commands to run, so one handed over or edited by hand is refused, and `rlhf-eval run RECIPE`
  plans it again.
- A manifest is believed only where it agrees with its node in the plan: the same params, and an
  RM's card fields as its card says; a train_rm model path inside the run folder (or a toy-world
  cache, or what its card names). Anything else makes the node "damaged", and `run` redoes it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from rlhf_eval.errors import UserError
from rlhf_eval.store import NODE_KEY

# RM card fields that can make this machine run code or send data somewhere, with their harmless values.
CODE_FIELDS = {"trust_remote_code": False, "engine_args": {}, "url": None, "api_key_env": None}
# What a train_rm node's outputs copy from its card (rm.stage.card_outputs): a manifest must agree.
RM_CARD_OUTPUTS = ("name", "kind", "backend", "chat_template", "trust_remote_code", "url", "api_key_env",
                   "engine_args")


# --------------------------------------------------------------------------- plan signatures
def _plan_key() -> bytes:
    env = os.environ.get("RLHF_EVAL_PLAN_KEY")
    if env:
        return env.encode()
    # per account, not per cache: a run may be planned and its nodes run with different caches
    path = Path(os.environ.get("XDG_CONFIG_HOME") or "~/.config").expanduser() / "rlhf_eval" / "plan.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes creating it at once agree on the one that won
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        except FileExistsError:
            pass
    return path.read_text().strip().encode()


def _digest(plan: dict) -> str:
    blob = json.dumps({k: v for k, v in plan.items() if k != "signature"}, sort_keys=True, default=str)
    return hmac.new(_plan_key(), blob.encode(), hashlib.sha256).hexdigest()


def signed(plan: dict) -> dict:
    return plan | {"signature": _digest(plan)}


def check_signed(plan: dict, path: Path) -> None:
    sig = plan.get("signature")
    if not isinstance(sig, str) or not hmac.compare_digest(sig, _digest(plan)):
        why = "has no signature" if sig is None else "was edited, or signed with another plan key"
        raise UserError(f"{path} {why}: `node` runs only plans that `rlhf-eval run` or `submit` wrote on this "
                        "account (a plan says which commands and models to run); `rlhf-eval run RECIPE` plans it "
                        "again, keeping every finished node")


# --------------------------------------------------------------------------- cards
def check_claims(card: dict, where: str, local) -> None:
    """Refuse an RM card read from a run folder whose code fields differ from their harmless
    values unless `local`, this machine's card of the same name (or None), says the same."""
    card = card if isinstance(card, dict) else {}
    name = card.get("name")
    claims = {k: card.get(k) for k, harmless in CODE_FIELDS.items() if card.get(k, harmless) != harmless}
    for field, value in claims.items():
        mine = getattr(local, field) if local is not None else None
        if local is None or mine != value:
            held = f"the local card says {mine!r}" if local is not None else \
                f"there is no local card '{name}' in reward_models/ here"
            raise UserError(f"{where} sets {field}={value!r} for '{name}', but {held}: what may run code or reach "
                            "a server comes from your own card, not from a run folder")


# --------------------------------------------------------------------------- manifests
def _inside(path: str, roots) -> bool:
    try:
        p = Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return any(p.is_relative_to(Path(r).resolve()) for r in roots)


def _in_toy_cache(path: str) -> bool:
    """A model of a toy-world cache (<cache>/toy_world/<key>/...), whichever $RLHF_EVAL_CACHE the
    run used: reading a run must not depend on this process's cache setting."""
    try:
        parts = Path(path).resolve().parts
    except (OSError, RuntimeError, ValueError):
        return False
    return any(a == "toy_world" and NODE_KEY.fullmatch(b) for a, b in zip(parts, parts[1:]))


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def manifest_problem(manifest: dict, params: dict, run_dir: Path) -> str | None:
    """Why a manifest cannot be believed for the planned node with `params`, or None."""
    if _canonical(manifest.get("params")) != _canonical(params):
        return "its manifest's params differ from the plan's"
    if not isinstance(params.get("card"), dict):  # only a node made from an RM card loads models it names
        return None
    out, card = manifest.get("outputs", {}), params.get("card")
    card = card if isinstance(card, dict) else {}
    for field in RM_CARD_OUTPUTS:
        want = card.get(field, CODE_FIELDS.get(field))
        if field in out and out[field] != want:
            return f"its manifest says {field}={out[field]!r} where the card says {want!r}"
    named = {v for v in (card.get("path"), card.get("reference"), params.get("base")) if isinstance(v, str)}
    named |= {v[3:] for v in named if v.startswith("hf:")}
    for field in ("path", "reference"):
        value = out.get(field)
        if value is not None and (not isinstance(value, str) or
                                  (value not in named and not _inside(value, (run_dir,)) and not _in_toy_cache(value))):
            return f"its manifest's {field} {value!r} is outside the run folder and not what its card names"
    return None
