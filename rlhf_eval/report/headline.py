"""The study's answer in one line: which static measures predict which downstream gains (the
family's verdicts), and, on the gain the claim is about (RL where there is one), the paired
interval between the best and the worst predictor's Spearman (compare.ranking)."""
from __future__ import annotations


def common_suffix(names: list[str]) -> str:
    """The parenthesised suffix every name shares (" (toy_sort, toy-policy)"), or ""."""
    ends = {n[n.rfind(" ("):] if n.endswith(")") and " (" in n else "" for n in names}
    return ends.pop() if len(ends) == 1 else ""


WORDS = (("predicts", "predicts"), ("reversed", "is reversed on"))


def listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def verdicts_part(correlations: list[dict], common: str) -> str:
    by_static: dict[str, dict[str, list[str]]] = {}
    for c in correlations:
        if c["class"] != "too few RMs":
            by_static.setdefault(c["static"].removesuffix(common), {}).setdefault(c["class"], []).append(
                c["downstream"].removesuffix(common))
    parts = []
    for static, groups in by_static.items():
        said = [f"{word} {listed(groups[cls])}" for cls, word in WORDS if groups.get(cls)]
        rest = [d for cls, ds in groups.items() if cls not in ("predicts", "reversed") for d in ds]
        if rest:
            said.append(f"{'not ' if said else 'does not predict '}{listed(rest)} (no reliable relation)")
        parts.append(f"{static} {', '.join(said)}")
    return "; ".join(parts)


def pair_part(ranking: list[dict], common: str) -> str:
    """The RL gain's (else the last measure's) best vs worst predictor, paired over RMs."""
    if not ranking:
        return ""
    group = next((g for g in ranking if g["downstream"].startswith("RL gain")), ranking[-1])
    if len(group["ranked"]) < 2:
        return ""
    top, bottom = group["ranked"][0]["static"], group["ranked"][-1]["static"]
    pair = next((p for p in group["pairs"] if (p["a"], p["b"]) == (top, bottom)), None)
    top, bottom = top.removesuffix(common), bottom.removesuffix(common)
    if pair is None or pair["difference"] != pair["difference"]:
        return ""
    lo, hi = pair["ci"]
    if lo != lo:
        return ""
    seen = "it predicts better" if pair["better"] else "not separated"
    return (f"On the {group['downstream'].removesuffix(common)}, Spearman of {top} minus {bottom}: "
            f"{pair['difference']:+.2f} [{lo:+.2f}, {hi:+.2f}] (95%, paired bootstrap over {pair['n_rms']} RMs; "
            f"{seen}).")


def one_line(correlations: list[dict], ranking: list[dict]) -> str:
    """'' where there is no verdict to state."""
    if not correlations:
        return ""
    common = common_suffix([c["downstream"] for c in correlations])
    verdicts = verdicts_part(correlations, common)
    if not verdicts:
        return ""
    where = f" (on {common.strip(' ()')})" if common else ""
    return " ".join(x for x in (f"In one line{where}: {verdicts}.", pair_part(ranking, common)) if x)
