"""The best-of-n stages' wiring: per (policy, task) one bon_generate node samples N_max candidates;
per RM one bon_score node scores them and one bon_eval node reads the gold value of the RM's pick
at every n of the grid (a downstream side of compare)."""
from __future__ import annotations

from dataclasses import asdict

from rlhf_eval.stages import Result, Stage, no_gpu

GENERATE_NAME, SCORE_NAME, EVAL_NAME, SIGNAL_NAME = "bon_generate", "bon_score", "bon_eval", "bon_signal"


def sampling(plan, pcard) -> dict:
    """The bon.* sampling settings, each falling back to the policy card's."""
    from rlhf_eval.pipeline import plain

    bon = plain(plan.recipe.bon)
    return asdict(pcard.generation) | {k: bon[k] for k in ("temperature", "top_p", "max_new_tokens")
                                       if bon[k] is not None} | {"seed": bon["seed"]}


def candidates(plan) -> dict:
    """(policy, task) -> its bon_generate node (none when bon.enabled is false)."""
    from rlhf_eval.pipeline import plain, task_digest

    r = plan.recipe.bon
    if not r.enabled:
        return {}
    out = {}
    for pname, pcard in plan.loaded.policies.items():
        for task in r.tasks:
            params = {"policy": plain(pcard), "task": task, "task_digest": task_digest(task), "n_max": r.n_max,
                      "block": r.block, "sampling": sampling(plan, pcard), "limit": r.limit,
                      "batch_size": r.batch_size, "ray": plain(r.ray)}
            out[pname, task] = plan.add(GENERATE_NAME, f"policy={pname} task={task}", params, {"toy": plan.need("toy")})
    return out


def seeded_scores(plan) -> dict:
    """(RM, policy, task) -> {RM training seed: its bon_score node}: scoring is cheap, so every seed
    of an RM scores the candidates."""
    from rlhf_eval.pipeline import plain
    from rlhf_eval.rm.wiring import seed_label

    out: dict = {}
    for (pname, task), gen in plan.need("candidates").items():
        for name, by_seed in plan.need("rm_seeds").items():
            for seed, rm in by_seed.items():
                out.setdefault((name, pname, task), {})[seed] = plan.add(
                    SCORE_NAME, f"{seed_label(name, seed, by_seed)} policy={pname} task={task}",
                    {"ray": plain(plan.recipe.bon.ray)}, {"rm": rm, "candidates": gen})
    return out


def scores(plan) -> dict:
    """(RM, policy, task) -> the bon_score node of the RM's first training seed."""
    return {k: next(iter(by_seed.values())) for k, by_seed in plan.need("scores_seeds").items()}


def each_score(plan):
    """(label of the RM and seed, policy, task, bon_score node) for every scored seed."""
    from rlhf_eval.rm.wiring import seed_label

    for (name, pname, task), by_seed in plan.need("scores_seeds").items():
        for seed, sc in by_seed.items():
            yield seed_label(name, seed, by_seed), pname, task, sc


def expand_eval(plan) -> None:
    r = plan.recipe
    gens = plan.need("candidates")
    for who, pname, task, sc in each_score(plan):
        plan.add(EVAL_NAME, f"{who} policy={pname} task={task}",
                 # "seed": the param's name since before bon.bootstrap_seed, kept for the node keys
                 {"n_grid": r.bon.n_grid, "bootstrap": r.bon.bootstrap, "seed": r.bon.bootstrap_seed},
                 {"scores": sc, "candidates": gens[pname, task], "toy": plan.need("toy")})


def expand_signal(plan) -> None:
    """One bon_signal node per bon_score node: what the RM gives RL on the policy's own samples."""
    gens = plan.need("candidates")
    for who, pname, task, sc in each_score(plan):
        plan.add(SIGNAL_NAME, f"{who} policy={pname} task={task}", {},
                 {"scores": sc, "candidates": gens[pname, task]})


def eval_settings(nodes: list, by_id: dict) -> dict:
    """What best-of-n curves of two runs must share: the policy, task, sampling and grid."""
    out = {}
    for n in nodes:
        gen = by_id[n.deps["candidates"]].params
        out[f"best-of-n ({gen['policy']['name']}, {gen['task']})"] = {
            "policy": gen["policy"], "task_digest": gen["task_digest"], "n_max": gen["n_max"], "block": gen["block"],
            "sampling": gen["sampling"], "limit": gen["limit"], "n_grid": n.params["n_grid"]}
    return out


def generate_cost(node, c):
    """Decoding N_max responses per prompt (priced at the decode rate)."""
    from rlhf_eval.launch.cost import Estimate

    prompts = node.params["limit"] or c.task_prompts(node.params["task"])
    p = c.policy_params(node.params["policy"])
    hours = c.hours(2 * p * prompts * node.params["n_max"] * c.resp, c.cost["decode_tflops"])
    return Estimate(node.stage, node.label, hours, f"{p / 1e9:g}B x {prompts} prompts x {node.params['n_max']} samples")


def score_cost(node, c):
    """One RM forward pass per candidate."""
    from rlhf_eval.launch.cost import Estimate

    gen = c.nodes[node.deps["candidates"]].params
    prompts = gen["limit"] or c.task_prompts(gen["task"])
    p = c.rm_params(c.nodes[node.deps["rm"]])
    return Estimate(node.stage, node.label, c.hours(2 * p * prompts * gen["n_max"] * c.seq, c.cost["infer_tflops"]),
                    f"{p / 1e9:g}B x {prompts * gen['n_max']} candidates")


def generate_provenance(manifest: dict) -> dict:
    from pathlib import Path

    from rlhf_eval import store

    cand = Path(manifest["outputs"].get("candidates", ""))
    return {"what": f"best-of-n candidates {manifest['label']}",
            "fingerprint": store.fingerprint_file(cand) if cand.is_file() else manifest["key"],
            "detail": f"task digest {manifest['params'].get('task_digest') or '-'}"}


def seeds(config: dict) -> dict:
    bon = config["recipe"]["bon"]
    return {"bon": bon["seed"], "bon_bootstrap": bon.get("bootstrap_seed", config["recipe"].get("seed"))}


GENERATE = Stage(GENERATE_NAME, "rlhf_eval.bon.generate_stage:run",
                 artifact="rlhf_eval.bon.artifacts:CandidateSet.from_outputs", provides={"candidates": candidates},
                 section="bon", cost=generate_cost, provenance=generate_provenance, seeds=seeds)
SCORE = Stage(SCORE_NAME, "rlhf_eval.bon.score_stage:run", artifact="rlhf_eval.bon.artifacts:ScoreSet.from_outputs",
              provides={"scores_seeds": seeded_scores, "scores": scores}, cost=score_cost)
EVAL = Stage(EVAL_NAME, "rlhf_eval.bon.eval_stage:run", expand=expand_eval, cost=no_gpu,
             result=Result(side="downstream", tables="rlhf_eval.compare.tables:bon_tables",
                           sources="rlhf_eval.compare.sources:bon_sources",
                           check="rlhf_eval.compare.merge:same_units", settings=eval_settings))
SIGNAL = Stage(SIGNAL_NAME, "rlhf_eval.bon.signal_stage:run", expand=expand_signal, cost=no_gpu,
               result=Result(side="on-policy", tables="rlhf_eval.compare.tables:signal_tables",
                             sources="rlhf_eval.compare.sources:signal_sources"))
