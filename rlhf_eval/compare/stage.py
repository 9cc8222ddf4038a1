"""compare stage: every static metric against every downstream gain across RMs, with a
population CI over RMs, a measurement CI over items, prompts or seeds, reliabilities and
disattenuated correlations, pairwise agreement, and verdicts from permutation p-values over RMs
adjusted as one family (Holm for the verdict table, Benjamini-Hochberg for the per-subset
matrix)."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from rlhf_eval import store
from rlhf_eval.bootstrap import percentile_interval
from rlhf_eval.compare import family
from rlhf_eval.compare.ranking import rank_statics
from rlhf_eval.compare.sources import measure_name
from rlhf_eval.compare.stats import Source, bootstrap_table, correlate
from rlhf_eval.compare.tables import write_tables
from rlhf_eval.compare.verdicts import MIN_RMS_FOR_CLAIMS, benchmark_verdict, cell_verdict, pairwise_agreement
from rlhf_eval.stages import resolve, result_stages

HEADLINE = "score"


def gather(inputs: dict) -> dict:
    by = defaultdict(list)
    for manifest in inputs.values():
        by[manifest["stage"]].append(manifest["outputs"])
    return by


def gather_sources(by: dict) -> tuple[list[str], list[Source]]:
    """The RMs and every source of the stages that declare some, in registry order."""
    found = [s for s in result_stages() if s.result.sources]
    rms = sorted({o["rm"] for s in found for o in by[s.name] if o.get("rm")})
    return rms, [src for s in found for src in resolve(s.result.sources)(by[s.name])]


def tables(by: dict, cfg: dict) -> dict:
    """The rows of every table, each result stage contributing its own (stages.Result.tables)."""
    out: dict = {}
    for s in result_stages():
        for name, rows in resolve(s.result.tables)(by[s.name], cfg).items():
            out.setdefault(name, []).extend(rows)
    return out


def analyse(by: dict, iters: int, seed: int, bar=None, permutations: int = 10_000) -> dict:
    """Every table of the answer from the result nodes' outputs (`by`: stage -> outputs)."""
    rms, found = gather_sources(by)
    table = bootstrap_table(found, rms, iters, seed, progress=bar)
    names = {key: measure_name(key[0], key[1], table.side[key]) for key in table.point}
    noise = {k: table.noise(k) for k in table.point}
    # on-policy signals are static-like (an RM's property), measured on the policy's own samples
    statics = [k for k in table.point if table.side[k] in ("static", "on-policy")]
    downs = [k for k in table.point if table.side[k] == "downstream"]
    labels = {(src.name, metric): about for src in found for metric, about in src.labels.items()}
    heads = [k for k in statics if table.side[k] == "on-policy" or k[1] == HEADLINE]

    def varies(s, d) -> bool:  # over the RMs the cell has (both sides known)
        v = table.point[s][~(np.isnan(table.point[s]) | np.isnan(table.point[d]))]
        return len(v) > 1 and np.ptp(v) > 0

    def in_verdicts(s, d) -> bool:
        """A headline static against a downstream measure it does not share its data with (on-policy
        signals and best-of-n gains read the same candidates: partly circular, heatmap only). A
        static metric equal for every RM (no RM's on-policy rewards tie, say) cannot be tested and
        is left out of the family; that depends on the static side alone (over the cell's RMs), so
        the family's error rate holds."""
        reads = labels.get(s, {}).get("reads")
        return s in heads and varies(s, d) and not (reads and reads == labels.get(d, {}).get("reads"))

    matrix, headline, headline_keys = [], [], []
    for s in statics:
        for d in downs:
            full = in_verdicts(s, d)
            c = correlate(table.point[s], table.point[d], table.boot[s], table.boot[d], seed,
                          methods=("pearson", "spearman", "kendall") if full else ("spearman",),
                          noise_x=noise[s], noise_y=noise[d])
            cell = {"static": names[s], "benchmark": s[0] if table.side[s] == "static" else names[s],
                    "metric": s[1], "downstream": names[d]} | c
            if full:
                ok = [i for i, r in enumerate(rms) if not (np.isnan(table.point[s][i]) or np.isnan(table.point[d][i]))]
                cell["agreement"] = pairwise_agreement([rms[i] for i in ok], table.point[s][ok],
                                                       table.point[d][ok], table.boot[s][:, ok])
                cell["noise"] = {"static": _mean(noise[s], ok), "downstream": _mean(noise[d], ok)}
                cell["units"] = {"static": {"n": table.units[s], "unit": table.unit[s]},
                                 "downstream": {"n": table.units[d], "unit": table.unit[d]}}
                cell["values"] = [{"rm": rms[i], "static": float(table.point[s][i]),
                                   "static_ci": _ci(table.interval(s, i)), "downstream": float(table.point[d][i]),
                                   "downstream_ci": _ci(table.interval(d, i))} for i in ok]
                cell["fit_band"] = fit_band(table.point[s][ok], table.point[d][ok], iters, seed)
                headline.append(cell)
                headline_keys.append((s, d))
            matrix.append({k: cell[k] for k in ("static", "benchmark", "metric", "downstream", "n_rms", "spearman")}
                          | {"p": family.permutation_test(table.point[s], table.point[d], permutations, seed)["p"]})
    for m, q in zip(matrix, family.benjamini_hochberg([m["p"] for m in matrix])):
        m["q"] = float(q)
    fam = verdict_family(rms, headline, headline_keys, table.point, permutations, seed)
    verdicts = []
    for s in sorted(heads, key=lambda k: (table.side[k] != "static", names[k])):
        cells = [c for c in headline if c["static"] == names[s]]
        if not cells and table.side[s] != "static":
            continue  # on-policy: only against the RL gain, and only where it varies across RMs
        n = max((c["n_rms"] for c in cells), default=len(rms))
        verdicts.append(benchmark_verdict(s[0], HEADLINE, cells, n) if table.side[s] == "static" else
                        benchmark_verdict(names[s], "measured on the policy's own samples", cells, n))
    seeds = rm_seeds(table, rms)
    rm_table = []
    for i, rm in enumerate(rms):
        row = {"rm": rm, "seeds": seeds[rm]}
        for k in heads + downs:
            row[names[k]] = _num(table.point[k][i])
        # each value's 95% interval (the per-RM interval of the scatter plots and docs/compare.md)
        row["ci"] = {names[k]: _ci(table.interval(k, i)) if row[names[k]] is not None else [None, None]
                     for k in heads + downs}
        rm_table.append(row)
    # the seeds column only where some RM has several (the table of a one-seed run is as it was)
    rm_columns = ["rm"] + ["seeds"] * (max(seeds.values(), default=1) > 1) + [names[k] for k in heads + downs]
    column_info = {names[k]: {"side": table.side[k], "source": k[0], "metric": k[1]} | labels.get(k, {})
                   for k in heads + downs}
    ranking = []
    for d in downs:  # the headline statics this measure has verdicts with, ranked
        mine = {names[s]: table.point[s] for s in heads if in_verdicts(s, d)}
        if len(mine) > 1:
            ranking.append({"downstream": names[d]} | rank_statics(mine, table.point[d], iters, seed))
    return {"rms": rms, "rm_table": rm_table, "rm_columns": rm_columns, "rm_column_info": column_info,
            "rm_seeds": seeds, "claims_about": "recipes" if min(seeds.values(), default=1) > 1 else
            "checkpoints" if max(seeds.values(), default=1) == 1 else "mixed",
            "benchmark_ranking": ranking,
            "correlations": headline, "matrix": matrix,
            "verdicts": verdicts, "family": fam, "n_rms": len(rms), "enough_rms": len(rms) >= MIN_RMS_FOR_CLAIMS,
            "bootstrap": iters, "permutations": permutations, "seed": seed}


def rm_seeds(table, rms: list[str]) -> dict:
    """Each RM's number of training seeds (the most any of its measures has)."""
    per_key = [table.seeds(k) for k in table.point]
    return {rm: int(max((s[i] for s in per_key), default=1)) for i, rm in enumerate(rms)}


def verdict_family(rms: list[str], cells: list[dict], keys: list[tuple], point: dict, permutations: int,
                   seed: int) -> dict:
    """The headline cells (each benchmark's score against each downstream gain) as one family:
    permutation p, Holm-adjusted p, the verdict word and the RMs it rests on, written into each
    cell; returns the family's size, global test and smallest declarable |rho|."""
    static = {s: point[s] for s, _ in keys}
    down = {d: point[d] for _, d in keys}
    fam = family.assess(rms, static, down, keys, permutations, seed)
    for c, f in zip(cells, fam.pop("cells")):
        c.update({k: f[k] for k in ("p", "exact", "p_adjusted", "rests_on", "without")}, family_size=fam["size"])
        c["class"] = f["verdict"]
        c["verdict"] = cell_verdict(c)
    return fam


def _mean(noise, ok) -> float:
    """Mean measurement variance across the RMs of a cell: what `rlhf-eval power` scales."""
    return float(np.nanmean(noise[ok])) if ok else math.nan


def _num(v) -> float | None:
    return None if np.isnan(v) else float(v)


def _ci(interval) -> list[float | None]:
    """An interval with None where an end is unknown (JSON has no nan)."""
    return [None if math.isnan(v) else v for v in interval]


def fit_band(x, y, iters: int, seed: int, points: int = 30) -> dict:
    """Least-squares line of downstream on static across RMs, and its 95% band from resampling
    the RMs (the population level, like the correlations' CI)."""
    if len(x) < 3 or np.ptp(x) == 0:
        return {}
    grid = np.linspace(x.min(), x.max(), points)
    slope, icpt = np.polyfit(x, y, 1)
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(iters):
        r = rng.integers(0, len(x), len(x))
        if np.ptp(x[r]) > 0:
            lines.append(np.polyval(np.polyfit(x[r], y[r], 1), grid))
    lo, hi = percentile_interval(lines) if lines else ([], [])
    return {"x": grid.tolist(), "fit": (slope * grid + icpt).tolist(), "low": lo, "high": hi,
            "slope": float(slope), "intercept": float(icpt)}


def compute(by: dict, cfg: dict, bar=None) -> dict:
    return tables(by, cfg) | analyse(by, cfg["bootstrap"], cfg["seed"], bar, cfg.get("permutations", 10_000))


def run(ctx) -> dict:
    by = gather(ctx.inputs)
    with ctx.bar("bootstrap over items, prompts and seeds", ctx.params["compare"]["bootstrap"]) as update:
        result = compute(by, ctx.params["compare"], bar=lambda done, total: update(done))
    store.write_jsonl(ctx.dir / "static.jsonl", result["static"])
    store.write_jsonl(ctx.dir / "downstream.jsonl", result["downstream"])
    result["csv"] = write_tables(ctx.dir, result)
    result["not_planned"] = ctx.params.get("not_planned", [])
    return result
