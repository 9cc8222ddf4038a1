"""The stage graph: which nodes a recipe implies, their keys and their dependencies.

A node is (stage, params) plus its inputs; its key hashes the params and the inputs' keys, so
changing a setting redoes exactly the nodes downstream of it. Each registered stage plans its own
nodes (stages.Stage: `provides` and `expand`, in its light wiring module) through a `Plan`; the
code that runs a node is imported only to run it, so planning never imports torch or an engine.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from rlhf_eval import stages
from rlhf_eval.config import LoadedRecipe
from rlhf_eval.errors import UserError
from rlhf_eval.stages import STAGES
from rlhf_eval.store import NODE_KEY


def task_digest(task: str) -> str | None:
    """A task given as a YAML path is keyed by its content too, so editing it redoes its nodes."""
    path = Path(task)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return None


@dataclass(frozen=True)
class Node:
    stage: str
    label: str
    params: dict
    deps: dict = field(default_factory=dict)  # role -> node id ("stage/key")
    key: str = ""

    @property
    def id(self) -> str:
        return f"{self.stage}/{self.key}"


def _without(params: dict, dotted: str) -> dict:
    head, _, rest = dotted.partition(".")
    if not rest:
        return {k: v for k, v in params.items() if k != head}
    if not isinstance(params.get(head), dict):
        return params
    return params | {head: _without(params[head], rest)}


def node_key(stage: str, params: dict, dep_keys: dict, threads: int | None = 1) -> str:
    """`threads` (the recipe's torch_threads) changes results, so it is part of the key; at 1, the
    default, it is left out, which keeps the keys runs had before it was added. Settings a stage
    declares as how, not what, to compute (Stage.key_ignores) stay out, so changing them reuses
    what was done (tests check the output is the same either way)."""
    for dotted in stages.stage(stage).key_ignores if stage in STAGES else ():
        params = _without(params, dotted)
    what = {"stage": stage, "params": params, "deps": dep_keys}
    if threads != 1:
        what["torch_threads"] = "library default" if threads is None else threads
    blob = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def plain(obj) -> dict:
    """A typed config section as the plain dict that goes into a node's params."""
    return OmegaConf.to_container(OmegaConf.structured(obj))


class Plan:
    """The nodes of one recipe, built by asking each registered stage for its part.

    A stage adds its nodes with `add`; it reads what other stages made through `need(artifact)`,
    which runs the producing stage's part first if it has not run yet (so the order of STAGES
    does not matter, and a stage never names another)."""

    def __init__(self, loaded: LoadedRecipe, found: list[stages.Stage]):
        self.loaded, self.recipe = loaded, loaded.recipe
        self.stages = found
        self.nodes: list[Node] = []
        self.gaps = not_planned(loaded, found)
        self._artifacts: dict = {}
        self._making: set[str] = set()
        self._planned: set[str] = set()

    def add(self, stage: str, label: str, params: dict, deps: dict | None = None) -> Node:
        deps = {k: v for k, v in (deps or {}).items() if v is not None}
        dep_ids = {role: d.id for role, d in deps.items()}
        node = Node(stage, label, params, dep_ids, node_key(stage, params, dep_ids, self.recipe.torch_threads))
        self.nodes.append(node)
        return node

    def need(self, artifact: str):
        """What the stage that provides `artifact` made of it, planning that stage first if needed."""
        if artifact not in self._artifacts:
            producer = next((s for s in self.stages if artifact in s.provides), None)
            if producer is None:
                raise UserError(f"no registered stage provides '{artifact}' (stages.Stage.provides)")
            if artifact in self._making:
                raise UserError(f"stage '{producer.name}' needs '{artifact}' while making it (a loop)")
            self._making.add(artifact)
            self._artifacts[artifact] = producer.provides[artifact](self)
        return self._artifacts[artifact]

    def made(self, artifact: str):
        """What `need(artifact)` gives if some stage has needed it already, else None: for a stage
        that shows an artifact but does not need it (the report's curation funnel)."""
        return self._artifacts.get(artifact)

    def plan_stage(self, s: stages.Stage) -> None:
        """A stage's own nodes (`expand`). What it only provides is planned when another stage
        needs it, so a recipe plans no toy world, curation or RM it has no use for."""
        if s.name in self._planned:
            return
        self._planned.add(s.name)
        if s.expand is not None:
            s.expand(self)

    def results(self) -> list[Node]:
        """Every node whose outputs enter compare (every stage with a `result` planned first)."""
        with_result = [s for s in self.stages if s.result is not None]
        for s in with_result:
            self.plan_stage(s)
        names = {s.name for s in with_result}
        return [n for n in self.nodes if n.stage in names]


def expand(loaded: LoadedRecipe) -> list[Node]:
    """All nodes of a recipe, in a valid execution order (a node after its inputs)."""
    plan = Plan(loaded, stages.all_stages())
    for s in plan.stages:
        plan.plan_stage(s)
    return plan.nodes


def not_planned(loaded: LoadedRecipe, found: list[stages.Stage] | None = None) -> dict[tuple[str, str], str]:
    """(RM, what) -> why that pair has no node, from every stage's `gaps` (e.g. a pairwise judge
    gives no score to one response, so it has no RL reward)."""
    found = stages.all_stages() if found is None else found
    out = {}
    for name, card in loaded.reward_models.items():
        for s in found:
            if s.gaps is not None:
                out |= {(name, what): why for what, why in s.gaps(loaded, name, card).items()}
    return out


def plan_dict(loaded: LoadedRecipe, nodes: list[Node]) -> dict:
    """plan.json, signed with this user's plan key: `node` runs only plans signed so."""
    from rlhf_eval import trust
    return trust.signed({"recipe_path": str(loaded.path), "config": loaded.to_dict(),
                         "nodes": [asdict(n) | {"id": n.id} for n in nodes]})


ROLE = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _plan_node(n, i: int) -> Node:
    """One node of plan.json, its shape checked: a key is a hash and a stage a known one, so that
    <stage>/<key> is always a folder two levels inside the run folder."""
    if not isinstance(n, dict):
        raise ValueError(f"nodes[{i}] is not a mapping")
    stage, label, params, deps, key = (n.get(k) for k in ("stage", "label", "params", "deps", "key"))
    if stage not in STAGES:
        raise ValueError(f"nodes[{i}].stage {stage!r} is not a stage")
    if not isinstance(key, str) or not NODE_KEY.fullmatch(key):
        raise ValueError(f"nodes[{i}].key {key!r} is not a node key (12 hex digits)")
    if not isinstance(label, str) or len(label) > 1000 or not label.isprintable():
        raise ValueError(f"nodes[{i}].label is not a printable string")
    if not isinstance(params, dict) or not isinstance(deps, dict):
        raise ValueError(f"nodes[{i}]: params and deps must be mappings")
    for role, dep in deps.items():
        parts = dep.split("/") if isinstance(dep, str) else []
        if not ROLE.fullmatch(role) or len(parts) != 2 or parts[0] not in STAGES or not NODE_KEY.fullmatch(parts[1]):
            raise ValueError(f"nodes[{i}].deps[{role!r}] = {dep!r} is not a node id (<stage>/<key>)")
    return Node(stage, label, params, deps, key)


def read_plan(run_dir: Path) -> dict:
    """plan.json as written by `run`, its nodes' shape checked (a run folder is input)."""
    path = Path(run_dir) / "plan.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: no plan.json; is this a run folder made by `rlhf-eval run`?")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
            raise ValueError("no list of nodes")
        nodes = [_plan_node(n, i) for i, n in enumerate(data["nodes"])]
        ids = {n.id for n in nodes}
        missing = next((d for n in nodes for d in n.deps.values() if d not in ids), None)
        if missing:
            raise ValueError(f"a node depends on {missing}, which the plan does not hold")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise UserError(f"{path} is damaged ({type(exc).__name__}: {exc}); `rlhf-eval run RECIPE` "
                        "writes it again, keeping every finished node") from None
    return data | {"nodes": nodes}


def load_plan(run_dir: Path) -> list[Node]:
    return read_plan(run_dir)["nodes"]


def node_done(run_dir: Path, node: Node) -> tuple[dict | None, str | None]:
    """store.done_manifest, and the manifest believed only where it agrees with the plan
    (trust.manifest_problem): (manifest, None) done; (None, why) damaged; (None, None) not done."""
    from rlhf_eval import store, trust
    manifest, why = store.done_manifest(Path(run_dir) / node.stage / node.key, node.key)
    if manifest is not None:
        why = trust.manifest_problem(manifest, node.params, Path(run_dir))
        if why:
            return None, why
    return manifest, why


def planned_threads(run_dir: Path) -> int | None:
    """The recipe's torch_threads, from plan.json (a plan written before the key existed: None)."""
    data = json.loads((Path(run_dir) / "plan.json").read_text())
    return data.get("config", {}).get("recipe", {}).get("torch_threads")


def makes_rms(node: Node) -> bool:
    """Whether `node` makes an RM from a card (its stage provides the `rm` artifact)."""
    return "rm" in stages.stage(node.stage).provides


def rm_card_of(node: Node, nodes: dict[str, Node]) -> str | None:
    """The RM card a node's results belong to: an RM node's own, or that of its `rm` input."""
    if makes_rms(node):
        return node.params["card"]["name"]
    return nodes[node.deps["rm"]].params["card"]["name"] if "rm" in node.deps else None


def rm_node(nodes: list[Node], card: str) -> Node | None:
    """The node that makes RM card `card` (a recipe's RM, or its curation judge)."""
    return next((n for n in nodes if makes_rms(n) and n.params["card"]["name"] == card), None)


def node_manifests(run_dir: Path, stage: str, label: str | None = None) -> list[dict]:
    """Manifests of a run's done `stage` nodes (those labelled `label` only, if given)."""
    out = []
    for n in load_plan(run_dir):
        if n.stage == stage and label in (None, n.label):
            m, _ = node_done(run_dir, n)
            if m is not None:
                out.append(m)
    return out
