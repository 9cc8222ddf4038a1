"""The stages of the pipeline: what each one declares about itself, and their registry.

A stage is a package's `wiring` module holding one `Stage` (bon's holds three). The rest of the
system reads stages only through these declarations: the pipeline asks each for its nodes, compare
for its tables and sources, merge for what must match across runs, `plan --cost` for its
GPU-hours, the report for its provenance, Slurm for whether a node brings its own Ray cluster.
None of them names a stage. A wiring module is light (no torch, no engine): the code that runs a
node is a lazy "module:function" reference, imported only when a node runs.

Adding a stage is a package (or one module) with a `Stage` and one line in STAGES; see
docs/extending.md, "Adding a stage".
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from rlhf_eval.registry import Registry, instance_of


def resolve(ref: str) -> Any:
    """The object a "module:attr" (or "module:Class.attr") reference names, imported now."""
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Result:
    """How a stage's done outputs enter compare, as lazy "module:function" references.

    tables(outputs, compare_cfg) -> {table name: rows} (rows of one table from several stages are
    concatenated in registry order); sources(outputs) -> [compare.stats.Source] (the per-unit
    values compare correlates, static or downstream); check(outputs), when merging runs, raises
    MergeError where outputs of different runs cannot be put side by side."""
    tables: str
    # "static", "on-policy" (static-like: an RM's property, measured on the policy's samples) or
    # "downstream": which side of compare its sources are on
    side: Optional[str] = None
    sources: Optional[str] = None
    check: Optional[str] = None
    # What must be equal for results of two runs to be compared: (this stage's nodes of a run,
    # that run's nodes by id) -> {what: settings}; `rlhf-eval compare` names the first difference.
    settings: Optional[Callable] = None
    # Outputs that belong to no RM (a base policy's evaluation) are taken once over merged runs,
    # under shared(outputs) -> key; same(a, b) -> why two runs' copies differ, or None.
    shared: Optional[Callable] = None
    same: Optional[str] = None


@dataclass(frozen=True)
class Stage:
    """What a stage declares. Only `name` and `run` are required; the rest say how the stage
    takes part in each part of the system, and a stage that leaves one out takes no part in it
    (except `cost`: a stage without a cost rule is listed by `plan --cost` as of unknown cost)."""
    name: str
    run: str  # "module:function": NodeContext -> outputs (a JSON-able dict)
    # "module:function": outputs -> the typed artifact other stages read them as (rebuilt there only)
    artifact: Optional[str] = None
    # Artifacts it produces for other stages: name -> producer(plan) -> value (pipeline.Plan.need).
    provides: Mapping[str, Callable] = field(default_factory=dict)
    expand: Optional[Callable] = None  # (plan) -> None: its nodes nobody else asks for
    section: Optional[str] = None  # the recipe section it reads
    config: Optional[type] = None  # that section's dataclass, added to the recipe if not already there
    shorthand: Optional[Callable] = None  # (section as written) -> section in full form
    check: Optional[Callable] = None  # (recipe, RM cards) -> [problems]: its refusals of a recipe, at load
    key_ignores: tuple[str, ...] = ()  # dotted params that say how, not what, to compute: not in keys
    gaps: Optional[Callable] = None  # (loaded, rm name, card) -> {what: why} nodes not planned
    result: Optional[Result] = None
    funnel: Optional[Callable] = None  # (outputs) -> the curation funnel a report shows
    cost: Optional[Callable] = None  # (node, launch.cost.Costing) -> Estimate | None (None: no GPU)
    provenance: Optional[Callable] = None  # (manifest) -> {what, fingerprint, detail} | None
    seeds: Optional[Callable] = None  # (plan.json config) -> {name: seed} for the report
    ray_cluster: Optional[Callable] = None  # (node) -> True when its job starts its own Ray cluster
    # (node, nodes by id, its slurm.stages resources) -> why they cannot hold it, or None
    slurm_check: Optional[Callable] = None


def no_gpu(node, costing) -> None:
    """The cost rule of a stage that does no GPU work (nothing to add to `plan --cost`)."""
    return None


STAGES = Registry("stage", {
    "toy_world": "rlhf_eval.toy.wiring:STAGE",
    "curate": "rlhf_eval.curate.wiring:STAGE",
    "train_rm": "rlhf_eval.rm.wiring:STAGE",
    "static_bench": "rlhf_eval.bench.wiring:STAGE",
    "bon_generate": "rlhf_eval.bon.wiring:GENERATE",
    "bon_score": "rlhf_eval.bon.wiring:SCORE",
    "bon_eval": "rlhf_eval.bon.wiring:EVAL",
    "bon_signal": "rlhf_eval.bon.wiring:SIGNAL",
    "rl_train": "rlhf_eval.rl.wiring:STAGE",
    "policy_eval": "rlhf_eval.evals.wiring:STAGE",
    "compare": "rlhf_eval.compare.wiring:STAGE",
    "report": "rlhf_eval.report.wiring:STAGE",
}, check=instance_of("rlhf_eval.stages:Stage"))


def stage(name: str) -> Stage:
    """The registered stage `name` (its wiring module imported now)."""
    found = STAGES.load(name)
    if found.name != name:
        raise ValueError(f"STAGES['{name}'] = {STAGES[name]} declares itself '{found.name}'")
    return found


def all_stages() -> list[Stage]:
    """Every registered stage, in registry order (the order results are gathered in)."""
    return [stage(name) for name in STAGES]


def result_stages() -> list[Stage]:
    """The stages whose outputs enter compare, in registry order."""
    return [s for s in all_stages() if s.result is not None]


def run_function(name: str) -> Callable:
    """The function that runs a node of stage `name`."""
    return resolve(stage(name).run)
