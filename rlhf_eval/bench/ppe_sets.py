"""PPE (Frick et al. 2024, lmarena-ai), its two sets as benchmarks. Schemas are those of the
released hub datasets; what each metric means here is spelled out, since PPE's own code could not
be read from this machine (docs/static-benchmarks.md says so).

`ppe-preference` (lmarena-ai/PPE-Human-Preference-V1, split test): Chatbot Arena votes. Row:
`question_id, prompt, response_1, response_2, winner` (model_a: response_1 won; model_b:
response_2; tie or tie (bothbad): no winner), `language`, and category flags `hard_prompt`,
`easy_prompt`, `if_prompt`, `math_prompt`, `is_code`.
- accuracy (`score`): share of decided votes where the RM scores the winner strictly higher; ties
  in the votes are left out, a tie in the scores is wrong;
- brier: mean (1 - sigmoid(r_winner - r_loser))^2 over decided votes;
- per category (`domain/<flag>` and `domain/language/<language>`), the accuracy.

`ppe-correctness` (lmarena-ai/PPE-{MMLU-Pro,MATH,GPQA,IFEval,MBPP-Plus}-Best-of-K, split train):
K sampled responses per prompt, each graded. Row: `question_id, prompt, response_1..response_K,
scores` (K booleans). The sub-benchmark comes from a `benchmark` field, else from the file name.
Per sub-benchmark, then averaged over sub-benchmarks:
- accuracy (`score`, `domain/<sub>`): over every (correct, incorrect) pair of a prompt's responses,
  the share the RM orders right (strictly);
- pearson: row-wise Pearson, the correlation between the RM's scores and correctness within a
  prompt, averaged over prompts that have both kinds and varying scores;
- auc: row-wise ROC AUC of scores against correctness (ties half), averaged the same way;
- brier: mean (1 - sigmoid(r_correct - r_incorrect))^2 over the same pairs;
- best_of_k/<k>: exact expected correctness of the RM's pick among k of the K responses (ties
  split), k = 1, 2, 4, ..., K.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import expit

from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.fields import required_field
from rlhf_eval.bench.items import Item, Outcomes, column_means, outcomes
from rlhf_eval.bench.ppe import roc_auc
from rlhf_eval.bon.estimator import per_prompt_best_of_n
from rlhf_eval.data.pairs import DataError

ID_FIELD = "question_id"
PREFERENCE_HUB = ("lmarena-ai/PPE-Human-Preference-V1", "test")
CORRECTNESS_HUB = {"mmlu_pro": "lmarena-ai/PPE-MMLU-Pro-Best-of-K", "math": "lmarena-ai/PPE-MATH-Best-of-K",
                   "gpqa": "lmarena-ai/PPE-GPQA-Best-of-K", "ifeval": "lmarena-ai/PPE-IFEval-Best-of-K",
                   "mbpp_plus": "lmarena-ai/PPE-MBPP-Plus-Best-of-K"}
CATEGORIES = ("hard_prompt", "easy_prompt", "if_prompt", "math_prompt", "is_code")
WINNERS = {"model_a": 0, "model_b": 1, "tie": None, "tie (bothbad)": None}


# --------------------------------------------------------------------------- human preference
def preference_item(row: dict, i: int, where: str) -> Item:
    winner = required_field(row, "winner", where, i, str)
    if winner not in WINNERS:
        raise DataError(f"{where}: row {i}: field 'winner': expected one of {', '.join(WINNERS)}, got {winner!r}")
    better = WINNERS[winner]
    cats = [c for c in CATEGORIES if row.get(c) is True]
    if isinstance(row.get("language"), str) and row["language"]:
        cats.append(f"language/{row['language']}")
    return Item(str(required_field(row, ID_FIELD, where, i)), required_field(row, "prompt", where, i, str),
                [required_field(row, "response_1", where, i, str), required_field(row, "response_2", where, i, str)],
                "all", {"winner": winner, "categories": cats},
                pairs=[] if better is None else [(better, 1 - better)])


def preference_outcomes(items: list[Item], scores: list[list[float]]) -> Outcomes:
    rows = []
    for it, s in zip(items, scores):
        if not it.pairs:  # a tied vote asserts nothing
            rows.append((it.id, it.group, {"correct": np.nan, "brier": np.nan}))
            continue
        (b, w), = it.pairs
        right = float(s[b] > s[w])
        rows.append((it.id, it.group, {"correct": right, "brier": float((1 - expit(s[b] - s[w])) ** 2)}
                     | {f"cat/{c}": right for c in it.meta["categories"]}))
    return outcomes(rows)


def preference_aggregate(o: Outcomes) -> dict[str, float]:
    return ({"score": float(np.nanmean(o.values[:, o.col("correct")])),
             "brier": float(np.nanmean(o.values[:, o.col("brier")]))}
            | {f"domain/{name[4:]}": v for name, v in column_means(o, "cat/").items()})


# --------------------------------------------------------------------------- correctness (best of K)
def sub_benchmark(row: dict, where: str) -> str:
    if isinstance(row.get("benchmark"), str) and row["benchmark"]:
        return row["benchmark"].lower().replace("-", "_")
    name = Path(where).name.lower().replace("-", "_")
    # longest key first, so that mbpp_plus and mmlu_pro are tried before math
    for key in sorted(CORRECTNESS_HUB, key=len, reverse=True):
        if key in name:
            return key
    return "unknown"


def correctness_item(row: dict, i: int, where: str) -> Item:
    graded = required_field(row, "scores", where, i)
    if not (isinstance(graded, list) and graded and all(isinstance(g, (bool, int)) for g in graded)):
        raise DataError(f"{where}: row {i}: field 'scores': expected a list of correctness labels (true/false)")
    k = len(graded)
    responses = [required_field(row, f"response_{j}", where, i, str) for j in range(1, k + 1)]
    correct = [int(bool(g)) for g in graded]
    sub = sub_benchmark(row, where)
    raw = str(required_field(row, ID_FIELD, where, i))
    pairs = [(a, b) for a in range(k) if correct[a] for b in range(k) if not correct[b]]
    return Item(f"{sub}/{raw}", required_field(row, "prompt", where, i, str), responses, sub, {"raw_id": raw},
                correct=correct, pairs=pairs)


def k_grid(k_max: int) -> list[int]:
    out = [1]
    while out[-1] * 2 <= k_max:
        out.append(out[-1] * 2)
    return out + ([k_max] if out[-1] != k_max else [])


def correctness_outcomes(items: list[Item], scores: list[list[float]]) -> Outcomes:
    rows = []
    for it, s in zip(items, scores):
        s, c = np.asarray(s, float), np.asarray(it.correct, float)
        d = {f"bok/{k}": float(per_prompt_best_of_n(s[None], c[None], k)[0]) for k in k_grid(len(s))}
        if it.pairs:
            m = np.array([s[a] - s[b] for a, b in it.pairs])
            d |= {"pairs_right": float((m > 0).sum()), "pairs_n": float(len(m)),
                  "brier_sum": float(((1 - expit(m)) ** 2).sum()), "auc": roc_auc(c, s),
                  "pearson": float(np.corrcoef(s, c)[0, 1]) if s.std() > 0 else np.nan}
        else:
            d |= {"pairs_right": 0.0, "pairs_n": 0.0, "brier_sum": 0.0}
        rows.append((it.id, it.group, d))
    return outcomes(rows)


def correctness_aggregate(o: Outcomes) -> dict[str, float]:
    per: dict[str, dict[str, float]] = {}
    for sub in sorted(set(o.groups.tolist())):
        v = o.values[o.groups == sub]

        def col(name):
            return v[:, o.col(name)] if name in o.columns else np.full(len(v), np.nan)
        n = col("pairs_n").sum()
        m = {"accuracy": col("pairs_right").sum() / n if n else np.nan,
             "brier": col("brier_sum").sum() / n if n else np.nan}
        for name in ("pearson", "auc"):
            x = col(name)
            m[name] = float(np.nanmean(x)) if (~np.isnan(x)).any() else np.nan
        for name in o.columns:
            if name.startswith("bok/"):
                x = col(name)
                if (~np.isnan(x)).any():
                    m[f"best_of_k/{name[4:]}"] = float(np.nanmean(x))
        per[sub] = m
    out = {"score": float(np.nanmean([m["accuracy"] for m in per.values()]))}
    out |= {f"domain/{sub}": float(m["accuracy"]) for sub, m in per.items() if not np.isnan(m["accuracy"])}
    names = sorted({k for m in per.values() for k in m if k != "accuracy"})
    for name in names:
        vals = [m[name] for m in per.values() if name in m and not np.isnan(m[name])]
        if vals:
            out[name] = float(np.mean(vals))
        out |= {f"{name}/{sub}": float(m[name]) for sub, m in per.items() if name in m and not np.isnan(m[name])}
    return out


PPE_REFUSAL = "PPE's metrics (Brier score, AUC, correlations) need one score per response: give it a pointwise judge"
PREFERENCE = Benchmark("ppe-preference", ID_FIELD, PREFERENCE_HUB, preference_item, preference_outcomes,
                       preference_aggregate, "[response_1, response_2]; id = question_id",
                       judge_refusal=PPE_REFUSAL)
CORRECTNESS = Benchmark("ppe-correctness", ID_FIELD, [(h, "train") for h in CORRECTNESS_HUB.values()],
                        correctness_item, correctness_outcomes, correctness_aggregate,
                        "[response_1 .. response_K]; id = <sub-benchmark>/question_id (the plain id where unique)",
                        judge_refusal=PPE_REFUSAL)
