"""Probes that show where a benchmark win is an artifact.

- Length baseline: an "RM" whose score is the response's length in characters ("longer wins"),
  scored with the benchmark's own rules. An RM near this baseline may be reading length.
- Perturbations: apply a named transform to every candidate, rescore the changed ones with the
  RM, and report the benchmark score's drop with a paired bootstrap CI. Removing JudgeBench's
  repeated-letter answer format cost one published model 13.6 points.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rlhf_eval.bench import PROBES, judged
from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.evaluate import evaluate, full_metrics, subset_outcomes
from rlhf_eval.bench.items import Item, Outcomes
from rlhf_eval.bootstrap import intervals
from rlhf_eval.errors import UserError

# JudgeBench asks for the answer letter five times ("FFFFF"); RMs can key on the format.
REPEATED_LETTER = re.compile(r"\s*\b([A-Z])\1{4}\b\s*")
MARKDOWN = [(re.compile(r"^\s{0,3}#{1,6}\s*", re.M), ""),  # headers
            (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
            (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),  # italics
            (re.compile(r"^\s*[-*+]\s+", re.M), ""),  # bullets
            (re.compile(r"^\s*\d+\.\s+", re.M), ""),  # numbered lists
            (re.compile(r"`{1,3}"), ""),  # code marks
            (re.compile(r"^\s*>\s?", re.M), "")]  # quotes


@dataclass(frozen=True)
class Probe:
    name: str
    marker: str | None = None  # strip_marker: the text to remove
    keep: float = 0.5  # truncate: share of words kept


def strip_marker(text: str, marker: str) -> str:
    return re.sub(r"\s*" + re.escape(marker) + r"\s*", " ", text).strip()


def truncate(text: str, keep: float) -> str:
    words = text.split(" ")
    return " ".join(words[: max(1, int(len(words) * keep))])


def markdown_to_plain(text: str) -> str:
    for pattern, repl in MARKDOWN:
        text = pattern.sub(repl, text)
    return text


def strip_repeated_letter(text: str) -> str:
    return REPEATED_LETTER.sub(" ", text).strip()


def apply(probe: Probe, text: str) -> str:
    if probe.name == "strip_marker":
        if not probe.marker:
            raise UserError("probe strip_marker needs `marker`: the text to remove")
        return strip_marker(text, probe.marker)
    if probe.name == "truncate":
        return truncate(text, probe.keep)
    if probe.name == "markdown_to_plain":
        return markdown_to_plain(text)
    if probe.name == "repeated_letter":
        return strip_repeated_letter(text)
    raise UserError(f"unknown probe '{probe.name}' (choose from {', '.join(PROBES)})")




def length_baseline(bench: Benchmark, items: list[Item], iters: int, seed: int = 0) -> dict:
    scores = [[float(len(c)) for c in it.candidates] for it in items]
    res = evaluate(bench, items, scores, iters, seed)
    return {"score": res["metrics"]["score"], "ci": res["ci"]["score"]}


def perturb(probe: Probe, items: list[Item]) -> tuple[list[Item], list[tuple[int, int]]]:
    """Transformed items, and the (item, candidate) positions whose text changed."""
    out, changed = [], []
    for k, it in enumerate(items):
        cands = [apply(probe, c) for c in it.candidates]
        changed += [(k, j) for j, (a, b) in enumerate(zip(it.candidates, cands)) if a != b]
        out.append(Item(it.id, it.prompt, cands, it.group, it.meta, it.correct, it.pairs))
    return out, changed


def score_drop(bench: Benchmark, items: list[Item], before: list[list[float]], after: list[list[float]],
               iters: int, seed: int = 0) -> dict:
    """Benchmark score before minus after, with a paired bootstrap CI (same units resampled)."""
    return outcome_drop(bench, bench.item_outcomes(items, before), bench.item_outcomes(items, after), iters, seed)


def outcome_drop(bench: Benchmark, o1: Outcomes, o2: Outcomes, iters: int, seed: int = 0) -> dict:
    s1, s2 = full_metrics(bench, o1)["score"], full_metrics(bench, o2)["score"]

    def fn(idx):
        before, after = (full_metrics(bench, subset_outcomes(o, idx))["score"] for o in (o1, o2))
        return {"drop": before - after}
    ci = intervals(fn, len(o1.ids), o1.groups, iters, seed)["drop"] if iters else [np.nan, np.nan]
    return {"before": s1, "after": s2, "drop": s1 - s2, "ci": ci}


def run_probe(probe: Probe, bench: Benchmark, items: list[Item], scores: list[list[float]], rescore,
              iters: int, seed: int = 0) -> dict:
    """rescore(prompts, texts) -> scores, called on the changed candidates only."""
    new_items, changed = perturb(probe, items)
    after = [list(s) for s in scores]
    if changed:
        values = rescore([items[k].prompt for k, _ in changed], [new_items[k].candidates[j] for k, j in changed])
        for (k, j), v in zip(changed, values):
            after[k][j] = v
    out = score_drop(bench, items, scores, after, iters, seed)
    return {"probe": probe.name, "changed_candidates": len(changed),
            "changed_items": len({k for k, _ in changed})} | out


def run_judged_probe(probe: Probe, bench: Benchmark, items: list[Item], decisions: list[list[tuple]], judge,
                     iters: int, seed: int = 0) -> dict:
    """The same for a pairwise judge: the perturbed items are judged again (pairs with no changed
    response come from the judgment cache)."""
    new_items, changed = perturb(probe, items)
    after = judged.decide(judge, bench.judge_pairs, new_items) if changed else decisions
    out = outcome_drop(bench, bench.judged_outcomes(items, decisions), bench.judged_outcomes(new_items, after),
                       iters, seed)
    return {"probe": probe.name, "changed_candidates": len(changed),
            "changed_items": len({k for k, _ in changed})} | out
