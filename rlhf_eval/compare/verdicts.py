"""Plain-language answers from the correlations: pairwise rank agreement, a verdict word per cell
from the family's adjusted p, a verdict per benchmark with its evidence, and `verdict_table`,
the public entry point for a whole table of per-RM numbers."""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np

import rlhf_eval.compare.family as family
from rlhf_eval.bootstrap import percentile_interval
from rlhf_eval.compare.measures import measure
from rlhf_eval.compare.power import POWER_TARGET, closed_form_rms_needed
from rlhf_eval.compare.stats import correlate_measures

MIN_RMS_FOR_CLAIMS = family.MIN_RMS
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
    """One word for a cell: from its family-adjusted permutation p and the sign of Spearman's rho
    (the bootstrap CI gives the size, not the verdict)."""
    return family.word(c["spearman"]["value"], c["p_adjusted"], n_rms)


def significance(c: dict) -> str:
    """The p-values behind a verdict: the cell's own and the family's."""
    how = "exact over every ordering of the RMs" if c.get("exact") else "Monte Carlo over orderings of the RMs"
    return (f"permutation p {format_p(c['p'])} ({how}), Holm-adjusted over the {c['family_size']} cells of the "
            f"verdict table {format_p(c['p_adjusted'])}")


def format_p(p) -> str:
    """0.042, 1e-04; '-' where there is none (too few RMs)."""
    return "-" if p is None or p != p else f"{p:.3f}" if p >= 0.001 else f"{p:.0e}"


def rests_on_text(c: dict) -> str:
    """'rests on a (without it: predicts)', or, when every removal gives the same word, 'rests on
    each of a, b and c (without any one of them: no reliable relation)'."""
    rms, words = c["rests_on"], {c["without"][rm] for rm in c["rests_on"]}
    if len(rms) > 1 and len(words) == 1:
        return f"rests on each of {', '.join(rms[:-1])} and {rms[-1]} (without any one of them: {words.pop()})"
    return "rests on " + ", ".join(f"{rm} (without it: {c['without'][rm]})" for rm in rms)


def resting(c: dict) -> str:
    """'; leaving one RM out changes this verdict: it rests on ...', or nothing."""
    return f"; leaving one RM out changes this verdict: it {rests_on_text(c)}" if c.get("rests_on") else ""


def evidence(c: dict) -> str:
    s, p, a = c["spearman"], c["pearson"], c["agreement"]
    text = (f"Spearman {s['value']:+.2f} (95% CI over RMs {s['ci'][0]:+.2f} to {s['ci'][1]:+.2f}), "
            f"Pearson {p['value']:+.2f} ({p['ci'][0]:+.2f} to {p['ci'][1]:+.2f})")
    if "p_adjusted" in c:
        text += "; " + significance(c)
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
    return text + resting(c)


def what_it_could_see(c: dict) -> str:
    """For a null verdict: the largest true correlation the study cannot rule out, and how many
    RMs would detect REFERENCE_RHO at these reliabilities as the strongest cell of this family
    (Fisher-z closed form at Holm's first level, 0.05 / cells; see power.py)."""
    s, rel = c["spearman"], c.get("reliability") or {}
    hi = s.get("disattenuated_ci", s["ci"])[1]
    text = ("it cannot rule out even a perfect relation" if hi >= 0.995
            else f"it cannot rule out a true Spearman up to {hi:+.2f}")
    rs, rd = rel.get("static", math.nan), rel.get("downstream", math.nan)
    if rs is None or rd is None or math.isnan(rs) or math.isnan(rd):
        return text
    cells = c.get("family_size") or 1
    need = closed_form_rms_needed(REFERENCE_RHO, rs, rd, alpha=family.ALPHA / cells)
    if need is None:
        return text + f"; at these reliabilities no number of RMs would detect a true {REFERENCE_RHO}"
    where = f" in a family of {cells} cells" if cells > 1 else ""
    return text + (f"; {need} RMs would detect a true {REFERENCE_RHO} with {POWER_TARGET:.0%} power at these "
                   f"reliabilities{where}")


def cell_verdict(c: dict) -> str:
    """One line for one static metric against one downstream gain."""
    head = f"{c['static']} vs {c['downstream']}"
    if c["class"] == "too few RMs":
        return (f"{head}: only {c['n_rms']} RMs, too few to support any claim (at least {MIN_RMS_FOR_CLAIMS} "
                "are needed)")
    return f"{head}: {c['class']}; {evidence(c)}"


WORDS = {"predicts": "predicts", "reversed": "is reversed on", "no reliable relation": "shows no reliable relation to",
         "too few RMs": "-"}


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


def verdict_table(static: dict, downstream: dict, draws: int = 1000, seed: int = 0,
                  permutations: int = 10_000, rests_on: bool = True) -> dict:
    """Every static metric against every downstream measure, as one family.

    `static` and `downstream`: {metric name: {rm: units | mean | (mean, se)}} (the shapes of
    `rlhf_eval.compare.measures`); an RM may lack a metric. Returns `cells`, one per (static,
    downstream) pair in order, each with `static`, `downstream`, `n_rms`, `spearman`, `ci` (95%
    over RMs), `p` (permutation over RMs; `exact` says whether every ordering was counted),
    `p_adjusted` (Holm over the cells), `verdict` (predicts, reversed, no reliable relation, too
    few RMs), `rests_on` (RMs whose removal changes the verdict; `without` gives the word then),
    `reliability`, `disattenuated`, `disattenuated_ci` and `ci_measurement` (None where a side
    has means alone); plus `global` (the max-|rho| permutation test over the family),
    `family_size`, `declarable` (the smallest |rho| that can be declared at all), `alpha` and
    `explained` (what the adjustment means, in one sentence). `rests_on=False` skips the
    leave-one-out pass (simulations that only need the verdicts)."""
    for side, d in (("static", static), ("downstream", downstream)):
        if not isinstance(d, dict) or not d or not all(isinstance(v, dict) for v in d.values()):
            raise ValueError(f"{side}: expected {{metric name: {{rm: value}}}} with at least one metric")
    rms = list(dict.fromkeys(r for side in (static, downstream) for m in side.values() for r in m))
    rng = np.random.default_rng(seed)
    xs = {k: measure(v, rms, draws, rng, f"static[{k!r}]") for k, v in static.items()}
    ys = {k: measure(v, rms, draws, rng, f"downstream[{k!r}]") for k, v in downstream.items()}
    pairs = [(s, d) for s in static for d in downstream]
    fam = family.assess(rms, {k: m.point for k, m in xs.items()}, {k: m.point for k, m in ys.items()}, pairs,
                        permutations, seed, leave_one_out=rests_on)
    cells = []
    for (s, d), f in zip(pairs, fam["cells"]):
        c = correlate_measures(xs[s], ys[d], draws, seed=seed, methods=("spearman",))
        sp = c["spearman"]
        cells.append({"static": s, "downstream": d, "n_rms": c["n_rms"], "spearman": sp["value"], "ci": sp["ci"],
                      "p": f["p"], "exact": f["exact"], "p_adjusted": f["p_adjusted"], "verdict": f["verdict"],
                      "rests_on": f["rests_on"], "without": f["without"], "reliability": c["reliability"],
                      "disattenuated": sp["disattenuated"], "disattenuated_ci": sp["disattenuated_ci"],
                      "ci_measurement": sp["ci_measurement"]})
    return {"cells": cells, "global": fam["global"], "family_size": fam["size"], "declarable": fam["declarable"],
            "alpha": fam["alpha"], "adjustment": fam["adjustment"], "explained": fam["explained"], "rms": rms}
