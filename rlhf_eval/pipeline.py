"""The stage graph: which nodes a recipe implies, their keys and their dependencies.

A node is (stage, params) plus its inputs; its key hashes the params and the inputs' keys, so
changing a setting redoes exactly the nodes downstream of it. Stage code is found through a lazy
`module:function` registry, so planning never imports torch or an engine.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from rlhf_eval.config import LoadedRecipe
from rlhf_eval.errors import UserError
from rlhf_eval.stages import STAGES
from rlhf_eval.store import NODE_KEY

# Bump when a stage's outputs change shape for the same config, so cached nodes are redone.
TOY_WORLD_FORMAT = 2
STUDY_FORMAT = 3  # 2: the unmarked response of a marker pair ends with a filler word; 3: so does toy_marker's
RL_FORMAT = 3  # 2: checkpoints listed for policy_eval; 3: OpenRLHF prompt files carry labels
CURATE_FORMAT = 3  # 2: dataset/ in TRL's conversational format, no all-None margin column; 3: decontamination
# compares normalised words (NFKC, no format characters, look-alikes folded, punctuation split)
# COMPARE_FORMAT 3: population CI over RMs only, reliabilities, disattenuated correlations, RL seeds;
# 4: static rows name the benchmark whose rules scored them, seven-benchmark summary.
COMPARE_FORMAT = 4


def task_digest(task: str) -> str | None:
    """A task given as a YAML path is keyed by its content too, so editing it redoes its nodes."""
    path = Path(task)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return None


def toy_world_params(config: dict) -> dict:
    # A world without a study keeps the key it had before `study` existed, so caches stay valid.
    if config.get("study") is None:
        return {"config": {k: v for k, v in config.items() if k != "study"}, "format": TOY_WORLD_FORMAT}
    return {"config": config, "format": TOY_WORLD_FORMAT, "study_format": STUDY_FORMAT}


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


# settings that say how a node is computed, not what it computes (the output is the same either
# way, which tests check): they stay out of its key, so changing them reuses what was done
HOW_NOT_WHAT = {"curate": ("curate", ("engine", "threads", "ray_blocks"))}


def node_key(stage: str, params: dict, dep_keys: dict, threads: int | None = 1) -> str:
    """`threads` (the recipe's torch_threads) changes results, so it is part of the key; at 1, the
    default, it is left out, which keeps the keys runs had before it was added."""
    if stage in HOW_NOT_WHAT:
        section, names = HOW_NOT_WHAT[stage]
        if isinstance(params.get(section), dict):
            params = params | {section: {k: v for k, v in params[section].items() if k not in names}}
    what = {"stage": stage, "params": params, "deps": dep_keys}
    if threads != 1:
        what["torch_threads"] = "library default" if threads is None else threads
    blob = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class _Graph:
    def __init__(self, threads: int | None = 1):
        self.nodes: list[Node] = []
        self.threads = threads

    def add(self, stage: str, label: str, params: dict, deps: dict | None = None) -> Node:
        deps = {k: v for k, v in (deps or {}).items() if v is not None}
        dep_ids = {role: d.id for role, d in deps.items()}
        node = Node(stage, label, params, dep_ids, node_key(stage, params, dep_ids, self.threads))
        self.nodes.append(node)
        return node


def _plain(obj) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(obj))


def rl_for_seed(rl: dict, seed: int) -> dict:
    """An rl_train node's RL settings: the recipe's, with its own seed in place of the list, so
    that adding seeds later keeps the nodes of the others; the openrlhf section only on that
    engine, so cluster settings never redo local runs."""
    drop = {"seeds"} | ({"openrlhf"} if rl["engine"] != "openrlhf" else set())
    return {k: v for k, v in rl.items() if k not in drop} | {"seed": seed}


def rm_card_params(card) -> dict:
    """A train_rm node's card: the judge section only on a generative card, so judge settings
    never redo other RMs, whose keys stay what they were before the section existed."""
    plain = _plain(card)
    return plain if card.kind == "generative" else {k: v for k, v in plain.items() if k != "judge"}


def rl_label(rm: str, policy: str, seed: int, seeds: list[int]) -> str:
    """An rl_train node's label; the seed is named only when the recipe has several."""
    return f"rm={rm} policy={policy}" + (f" seed={seed}" if len(seeds) > 1 else "")


def expand(loaded: LoadedRecipe) -> list[Node]:
    """All nodes of a recipe, in a valid execution order."""
    r = loaded.recipe
    g = _Graph(r.torch_threads)
    toy = g.add("toy_world", "toy world", toy_world_params(_plain(r.toy_world))) if r.toy_world is not None else None
    sources = [_plain(s) for s in r.sources]

    def train_rm(card, label: str, data):
        base = loaded.policies[card.base].path if card.base in loaded.policies else card.base
        params = {"card": rm_card_params(card), "base": base, "sources": sources}
        return g.add("train_rm", label, params, {"toy": toy, "data": data})

    judge = train_rm(loaded.judge, f"judge={loaded.judge.name}", None) if loaded.judge else None
    curate = g.add("curate", "curated mix", {"sources": sources, "curate": _plain(r.curate),
                                                   "format": CURATE_FORMAT},
                   {"toy": toy, "judge": judge})

    rms = {name: train_rm(card, f"rm={name}", curate if card.train.dataset == "curated" else None)
           for name, card in loaded.reward_models.items()}

    gaps = not_planned(loaded)
    for name, rm in rms.items():
        for bench in r.static_bench.benchmarks:
            if (name, bench.name) in gaps:
                continue
            g.add("static_bench", f"rm={name} bench={bench.name}",
                  {"benchmark": asdict(bench), "bootstrap": r.static_bench.bootstrap,
                   "probes": [asdict(p) for p in r.static_bench.probes]}, {"rm": rm, "toy": toy})

    bon = _plain(r.bon)
    for pname, pcard in loaded.policies.items():
        if not r.bon.enabled:
            break
        for task in r.bon.tasks:
            sampling = asdict(pcard.generation) | {k: bon[k] for k in ("temperature", "top_p", "max_new_tokens")
                                                   if bon[k] is not None} | {"seed": bon["seed"]}
            gen_params = {"policy": _plain(pcard), "task": task, "task_digest": task_digest(task),
                          "n_max": r.bon.n_max, "block": r.bon.block, "sampling": sampling,
                          "limit": r.bon.limit, "batch_size": r.bon.batch_size, "ray": bon["ray"]}
            gen = g.add("bon_generate", f"policy={pname} task={task}", gen_params, {"toy": toy})
            for name, rm in rms.items():
                sc = g.add("bon_score", f"rm={name} policy={pname} task={task}", {"ray": bon["ray"]},
                           {"rm": rm, "candidates": gen})
                g.add("bon_eval", f"rm={name} policy={pname} task={task}",
                      {"n_grid": r.bon.n_grid, "bootstrap": r.bon.bootstrap, "seed": r.seed},
                      {"scores": sc, "candidates": gen, "toy": toy})

    ev = _plain(r.eval)
    for pname, pcard in loaded.policies.items():
        evals: dict = {"base": None}
        if r.rl.enabled:
            for name, rm in rms.items():
                if (name, "rl") in gaps:
                    continue
                for seed in r.rl.seeds:
                    rl = rl_for_seed(_plain(r.rl), seed)
                    evals[(name, seed)] = g.add("rl_train", rl_label(name, pname, seed, r.rl.seeds),
                                                {"policy": _plain(pcard), "rl": rl, "format": RL_FORMAT},
                                                {"rm": rm, "toy": toy, "data": curate})
        # Every RL checkpoint is evaluated: intermediate ones (every rl.save_every steps) and the final.
        steps = list(range(r.rl.save_every, r.rl.steps, r.rl.save_every)) + [r.rl.steps]
        for who_rl, rl in evals.items():
            rm_name, seed = (None, None) if rl is None else who_rl
            for step in [None] if rl is None else steps:
                for task in r.eval.tasks:
                    who = "base" if rl is None else (f"rl[{rm_name}]" + ("" if len(r.rl.seeds) == 1 else f"#{seed}")
                                                     + ("" if step == r.rl.steps else f"@{step}"))
                    g.add("policy_eval", f"policy={pname} model={who} task={task}",
                          {"policy": _plain(pcard), "task": task, "limit": ev["limit"],
                           "batch_size": ev["batch_size"], "rm": rm_name, "seed": seed,
                           "step": step, "final": step in (None, r.rl.steps)},
                          {"toy": toy, "rl": rl})

    results = [n for n in g.nodes if n.stage in ("static_bench", "bon_eval", "policy_eval", "rl_train")]
    deps = {f"in{i:03d}": n for i, n in enumerate(results)}
    cmp_params = {"compare": _plain(r.compare), "recipe": r.name, "format": COMPARE_FORMAT}
    if gaps:  # (only then, so that other recipes' compare keys stay as they were)
        cmp_params["not_planned"] = [{"rm": rm, "what": what, "why": why} for (rm, what), why in gaps.items()]
    cmp_node = g.add("compare", "compare", cmp_params, deps)
    g.add("report", "report", {"name": r.name, "report": _plain(r.report)}, {"compare": cmp_node, "curate": curate})
    return g.nodes


def not_planned(loaded: LoadedRecipe) -> dict[tuple[str, str], str]:
    """(RM, benchmark name or "rl") -> why that pair has no node: a pairwise judge gives no score to
    one response, so it has no RL reward and only benchmarks with a pairwise protocol score it."""
    from rlhf_eval.bench import benchmark_for

    r, out = loaded.recipe, {}
    for name, card in loaded.reward_models.items():
        if card.kind != "generative" or card.judge.mode != "pairwise":
            continue
        for b in r.static_bench.benchmarks:
            bench = benchmark_for(b.name, b.scored_as)
            if bench.judged_outcomes is None:
                out[name, b.name] = f"a pairwise judge on {bench.name}: {bench.judge_refusal}"
        if r.rl.enabled:
            out[name, "rl"] = ("a pairwise judge gives no reward to one response; RL takes pointwise judges "
                               "(pairwise judges in RL are out of scope, docs/generative.md)")
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
        why = trust.manifest_problem(manifest, node.params, node.stage, Path(run_dir))
        if why:
            return None, why
    return manifest, why


def planned_threads(run_dir: Path) -> int | None:
    """The recipe's torch_threads, from plan.json (a plan written before the key existed: None)."""
    data = json.loads((Path(run_dir) / "plan.json").read_text())
    return data.get("config", {}).get("recipe", {}).get("torch_threads")


def rm_card_of(node: Node, nodes: dict[str, Node]) -> str | None:
    """The RM card a node's results belong to: a train_rm node's own, or that of its `rm` input."""
    if node.stage == "train_rm":
        return node.params["card"]["name"]
    return nodes[node.deps["rm"]].params["card"]["name"] if "rm" in node.deps else None


def rm_node(nodes: list[Node], card: str) -> Node | None:
    """The train_rm node of RM card `card` (a recipe's RM, or its curation judge)."""
    return next((n for n in nodes if n.stage == "train_rm" and n.params["card"]["name"] == card), None)


def node_manifests(run_dir: Path, stage: str, label: str | None = None) -> list[dict]:
    """Manifests of a run's done `stage` nodes (those labelled `label` only, if given)."""
    out = []
    for n in load_plan(run_dir):
        if n.stage == stage and label in (None, n.label):
            m, _ = node_done(run_dir, n)
            if m is not None:
                out.append(m)
    return out
