"""bon_eval stage: exact expected best-of-n at every n of the grid, the oracle and anti-oracle
curves, bootstrap CIs over prompts, and lm-eval's own score of the RM's pick at N_max.

A pairwise judge's curve is that of a selection rule over its decisions (bon.pairwise): the
round robin (PRIMARY_RULE) gives `value`, and each point also carries every rule's value, CI and
the judge calls it needs per prompt at that n (each comparison asked in both orders)."""
from __future__ import annotations

import numpy as np
from transformers import AutoTokenizer

from rlhf_eval import store
from rlhf_eval.bon import estimator, pairwise
from rlhf_eval.bon.artifacts import CandidateSet, ScoreSet, matrices
from rlhf_eval.bon.lm import BestOfN
from rlhf_eval.evals.harness import lm_eval_command, run_task

PRIMARY_RULE = "round_robin"


def win_matrices(pids: list[str], n_max: int, decisions_path: str) -> list[np.ndarray]:
    games: dict = {pid: {} for pid in pids}
    for d in store.read_jsonl(decisions_path):
        if d["prompt_id"] in games:
            games[d["prompt_id"]][(d["i"], d["j"])] = tuple(d["games"])
    missing = [pid for pid in pids if len(games[pid]) != n_max * (n_max - 1) // 2]
    if missing:
        raise ValueError(f"{decisions_path}: {len(missing)} prompts lack decisions on some pairs (e.g. {missing[0]})")
    return [pairwise.win_matrix(n_max, games[pid]) for pid in pids]


def judged_values(sc: ScoreSet, pids: list[str], G: np.ndarray, n_max: int, seed: int):
    """values(rule, n) -> per-prompt values of a pairwise judge's rule at n (memoized)."""
    wins, memo = win_matrices(pids, n_max, sc.decisions), {}

    def values(rule: str, n: int) -> np.ndarray:
        if (rule, n) not in memo:
            memo[rule, n] = pairwise.per_prompt_values(rule, wins, G, n, seed)
        return memo[rule, n]
    return values


def run(ctx) -> dict:
    cand = CandidateSet.from_outputs(ctx.out("candidates"))
    sc = ScoreSet.from_outputs(ctx.out("scores"))
    pids, S, G = matrices(cand, sc.scores)
    iters, seed = ctx.params["bootstrap"], ctx.params["seed"]
    judged = judged_values(sc, pids, G, cand.n_max, seed) if sc.decisions else None

    def values(n: int) -> np.ndarray:
        return judged(PRIMARY_RULE, n) if judged else estimator.per_prompt_best_of_n(S, G, n)
    curve, per_prompt = [], {}
    for n in sorted({1, cand.n_max} - set(ctx.params["n_grid"])):
        per_prompt[n] = values(n).tolist()  # gains need n=1 and N_max
    for n in ctx.params["n_grid"]:
        v = values(n)
        per_prompt[n] = v.tolist()
        lo, hi = estimator.bootstrap_mean_ci(v, iters, seed)
        o = estimator.per_prompt_best_of_n(G, G, n)
        curve.append({"n": n, "value": float(v.mean()), "ci": [lo, hi], "oracle": float(o.mean()),
                      "oracle_ci": list(estimator.bootstrap_mean_ci(o, iters, seed)),
                      "anti_oracle": estimator.anti_oracle_curve(G, n), "kl_bound": estimator.kl_bound(n)})
        if judged:
            curve[-1]["rules"] = {rule: {"value": float(judged(rule, n).mean()),
                                         "ci": list(estimator.bootstrap_mean_ci(judged(rule, n), iters, seed)),
                                         "judge_calls": 2 * pairwise.comparisons(rule, n)}
                                  for rule in pairwise.RULES}
    # lm-eval scores the RM's pick among all N_max candidates through the task's own pipeline;
    # with no tied top scores it must equal the exact estimate at n = N_max (for a pairwise judge,
    # the scores are round-robin wins: its pick is the round robin's).
    tok = AutoTokenizer.from_pretrained(cand.policy_path)
    scores = {(s["prompt_id"], s["sample_idx"]): s["score"] for s in store.read_jsonl(sc.scores)}
    cands = store.read_jsonl(cand.candidates)
    toy = ctx.out("toy") if ctx.has("toy") else None
    metrics, _ = run_task(BestOfN(tok, cands, scores, n=cand.n_max, pick="rm"), cand.task, toy, None,
                          log=ctx.dir / "lm_eval.log")
    store.atomic_write_json(ctx.dir / "per_prompt.json", {"prompt_ids": pids, "values": per_prompt})
    base = float(G.mean())  # best-of-1 is the mean sample
    return {"rm": sc.rm, "rm_seed": sc.rm_seed, "policy": cand.policy, "task": cand.task, "metric": cand.metric,
            "n_max": cand.n_max, "n_prompts": len(pids), "curve": curve,
            **({"pairwise_rule": PRIMARY_RULE} if judged else {}),
            "gain_at_n_max": float(np.mean(per_prompt[cand.n_max])) - base, "base": base,
            "lm_eval_pick_at_n_max": metrics, "per_prompt": str(ctx.dir / "per_prompt.json"),
            "lm_eval_command": lm_eval_command(
                "bon", {"tokenizer": cand.policy_path, "candidates": cand.candidates, "scores": sc.scores,
                        "n": cand.n_max}, cand.task, toy, program="rlhf-eval-lm-eval")}
