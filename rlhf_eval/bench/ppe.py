"""PPE-style metrics (Frick et al. 2024) on any benchmark whose items name better/worse pairs
or correct candidates.

Pairwise (every (better, worse) pair an item asserts):
- accuracy: share of pairs with score(better) > score(worse);
- auc: ROC AUC of the margins with both orientations of every pair (a pair as (better, worse)
  is a positive with margin m, as (worse, better) a negative with margin -m), so it is defined
  even though every listed pair has the better response first;
- brier: mean of (1 - sigmoid(m))^2, the Bradley-Terry probability's squared error.
Correctness sets (items that mark each candidate correct or not):
- auc_correct: ROC AUC of candidate scores against correctness, pooled over items;
- best_of_k/<k>: exact expected correctness of the RM's pick among k candidates, for k up to
  the smallest candidate count (order statistics over all k-subsets, ties split evenly).
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import rankdata

from rlhf_eval.bench.items import Item
from rlhf_eval.bon.estimator import per_prompt_best_of_n
from rlhf_eval.bootstrap import intervals


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) identity, ties counted half."""
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pair_margins(items: list[Item], scores: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Margins of all asserted pairs, and the item each pair belongs to."""
    margins, owner = [], []
    for k, (it, s) in enumerate(zip(items, scores)):
        for b, w in it.pairs:
            margins.append(s[b] - s[w])
            owner.append(k)
    return np.asarray(margins, float), np.asarray(owner, int)


def _select(owner: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows of `owner` for resampled items idx, repeats kept (owner is sorted)."""
    starts = np.searchsorted(owner, idx, side="left")
    ends = np.searchsorted(owner, idx, side="right")
    counts = ends - starts
    if counts.sum() == 0:
        return np.zeros(0, int)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets


def metrics(items: list[Item], scores: list[list[float]], max_k: int = 32):
    """fn(item indices) -> metrics, so the bootstrap can recompute them on resamples."""
    margins, owner = pair_margins(items, scores)
    graded = [k for k, it in enumerate(items) if it.correct is not None and 0 < sum(it.correct) < len(it.correct)]
    cand_scores = np.concatenate([np.asarray(scores[k], float) for k in graded]) if graded else np.zeros(0)
    cand_correct = np.concatenate([np.asarray(items[k].correct, float) for k in graded]) if graded else np.zeros(0)
    cand_owner = np.concatenate([np.full(len(items[k].candidates), k) for k in graded]) if graded else np.zeros(0, int)
    k_max = min([len(items[k].candidates) for k in graded] + [max_k]) if graded else 0
    row_of = np.full(len(items), -1)
    row_of[graded] = np.arange(len(graded))
    # Best-of-k values per item are fixed numbers: compute them once, resample them after.
    bok = {k: np.array([per_prompt_best_of_n(np.asarray(scores[i], float)[None],
                                             np.asarray(items[i].correct, float)[None], k)[0] for i in graded])
           for k in range(1, k_max + 1)}

    def fn(idx: np.ndarray) -> dict[str, float]:
        idx = np.sort(idx)
        out = {}
        if len(margins):
            m = margins[_select(owner, idx)]
            out["accuracy"] = float((m > 0).mean())
            out["auc"] = roc_auc(np.r_[np.ones(len(m)), np.zeros(len(m))], np.r_[m, -m])
            out["brier"] = float(((1 - expit(m)) ** 2).mean())
        rows = row_of[idx]
        rows = rows[rows >= 0]
        if len(rows):
            sel = _select(cand_owner, idx)
            out["auc_correct"] = roc_auc(cand_correct[sel], cand_scores[sel])
            for k, v in bok.items():
                out[f"best_of_k/{k}"] = float(v[rows].mean())
        return out

    return fn


def ppe_metrics(items: list[Item], scores: list[list[float]], iters: int, seed: int = 0) -> dict:
    fn = metrics(items, scores)
    point = fn(np.arange(len(items)))
    ci = intervals(fn, len(items), None, iters, seed) if iters else {}
    return {"metrics": point, "ci": {k: ci.get(k) for k in point}}
