"""Plain-language answers from the correlations: pairwise rank agreement, a class per cell, a
verdict per benchmark with its evidence."""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from rlhf_eval.compare.power import POWER_TARGET, closed_form_rms_needed
from rlhf_eval.bootstrap import percentile_interval

MIN_RMS_FOR_CLAIMS = 5
REFERENCE_RHO = 0.6  # the true correlation a 'no reliable relation' verdict is sized against


def pairwise_agreement(rms: list[str], x, y, bx) -> dict:
    """Share of RM pairs whose static order matches the downstream order. A pair whose static
    difference's 95% bootstrap CI contains zero is within noise and counted apart; a pair tied
    downstream counts as a disagreement."""
    resolved = agree = noisy = noisy_agree = 0
    pairs = []
    for i, j in combinations(range(len(rms)), 2):
        if any(math.isnan(v) for v in (x[i], x[j], y[i], y[j])):
            continue
        lo, hi = percentile_interval(bx[:, i] - bx[:, j])
        same = np.sign(x[i] - x[j]) == np.sign(y[i] - y[j]) and y[i] != y[j] and x[i] != x[j]
        within = lo <= 0 <= hi
        pairs.append({"a": rms[i], "b": rms[j], "static_diff": float(x[i] - x[j]), "static_ci": [lo, hi],
                      "downstream_diff": float(y[i] - y[j]), "agree": bool(same), "within_noise": bool(within)})
        if within:
            noisy += 1
            noisy_agree += int(same)
        else:
            resolved += 1
            agree += int(same)
    return {"pairs": len(pairs), "resolved": resolved, "agree": agree,
            "share": agree / resolved if resolved else math.nan,
            "within_noise": noisy, "within_noise_agree": noisy_agree, "detail": pairs}


def classify(c: dict, n_rms: int) -> str:
    """One word for a Spearman correlation and its CI."""
    rho, (lo, hi) = c["spearman"]["value"], c["spearman"]["ci"]
    if n_rms < MIN_RMS_FOR_CLAIMS:
        return "too few RMs"
    if math.isnan(rho) or math.isnan(lo):
        return "undefined"
    if lo > 0:
        return "predicts"
    if hi < 0:
        return "reversed"
    return "no reliable relation"


def evidence(c: dict) -> str:
    s, p, a = c["spearman"], c["pearson"], c["agreement"]
    text = (f"Spearman {s['value']:+.2f} (95% CI over RMs {s['ci'][0]:+.2f} to {s['ci'][1]:+.2f}), "
            f"Pearson {p['value']:+.2f} ({p['ci'][0]:+.2f} to {p['ci'][1]:+.2f})")
    rel = c.get("reliability")
    if rel and not math.isnan(s.get("disattenuated", math.nan)):
        text += (f"; reliabilities {rel['static']:.2f} (static) and {rel['downstream']:.2f} (downstream), "
                 f"disattenuated Spearman {s['disattenuated']:+.2f} ({s['disattenuated_ci'][0]:+.2f} to "
                 f"{s['disattenuated_ci'][1]:+.2f})")
    if a["pairs"]:
        text += (f"; the static order matches the downstream one in {a['agree']} of {a['resolved']} RM pairs "
                 f"it separates beyond noise")
        if a["within_noise"]:
            w = a["within_noise"]
            text += f" ({w} more {'pair is' if w == 1 else 'pairs are'} within noise on the benchmark)"
    if c.get("class") == "no reliable relation":
        text += "; " + what_it_could_see(c)
    return text


def what_it_could_see(c: dict) -> str:
    """For a null verdict: the largest true correlation the study cannot rule out, and how many
    RMs would detect REFERENCE_RHO at these reliabilities (Fisher-z closed form, see power.py)."""
    s, rel = c["spearman"], c.get("reliability") or {}
    hi = s.get("disattenuated_ci", s["ci"])[1]
    text = ("it cannot rule out even a perfect relation" if hi >= 0.995
            else f"it cannot rule out a true Spearman up to {hi:+.2f}")
    rs, rd = rel.get("static", math.nan), rel.get("downstream", math.nan)
    if math.isnan(rs) or math.isnan(rd):
        return text
    need = closed_form_rms_needed(REFERENCE_RHO, rs, rd)
    if need is None:
        return text + f"; at these reliabilities no number of RMs would detect a true {REFERENCE_RHO}"
    return text + (f"; {need} RMs would detect a true {REFERENCE_RHO} with {POWER_TARGET:.0%} power at these "
                   "reliabilities")


def cell_verdict(c: dict) -> str:
    """One line for one static metric against one downstream gain."""
    head = f"{c['static']} vs {c['downstream']}"
    if c["class"] == "too few RMs":
        return (f"{head}: only {c['n_rms']} RMs, too few to support any claim (at least {MIN_RMS_FOR_CLAIMS} "
                "are needed)")
    return f"{head}: {c['class']}; {evidence(c)}"


WORDS = {"predicts": "predicts", "reversed": "is reversed on", "no reliable relation": "shows no reliable relation to",
         "undefined": "cannot be related to (a ranking is constant)", "too few RMs": "-"}


def benchmark_verdict(benchmark: str, metric: str, cells: list[dict], n_rms: int) -> dict:
    """A plain-language verdict for one benchmark's headline metric against every downstream gain."""
    if n_rms < MIN_RMS_FOR_CLAIMS:
        text = (f"{benchmark} ({metric}): only {n_rms} RMs, too few to support any claim about whether its "
                f"ranking predicts the downstream one (at least {MIN_RMS_FOR_CLAIMS} are needed); the numbers "
                "describe these RMs only.")
    else:
        parts = [f"It {WORDS[c['class']]} {c['downstream']}: {evidence(c)}." for c in cells]
        text = (f"{benchmark} ({metric}), {n_rms} RMs. " + " ".join(parts)) if parts else \
            f"{benchmark}: no downstream results to compare with."
    return {"benchmark": benchmark, "metric": metric, "n_rms": n_rms, "text": text,
            "classes": {c["downstream"]: c["class"] for c in cells}}
