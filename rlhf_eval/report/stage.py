"""report stage: results.json (every table) and one self-contained report.html."""
from __future__ import annotations

import math
from pathlib import Path

import jinja2

from rlhf_eval import store
from rlhf_eval.bench.summary import SEVEN
from rlhf_eval.compare.tables import rm_label
from rlhf_eval.compare.verdicts import format_p
from rlhf_eval.report import plots
from rlhf_eval.report.headline import common_suffix, one_line
from rlhf_eval.report.wiring import RUN_COPY
from rlhf_eval.stages import stage


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.3f}"
    return str(v)


STATIC_COLUMNS = [("score", "score"), ("domain_worst", "worst domain"), ("ppe/accuracy", "pair accuracy"),
                  ("ppe/auc", "AUC"), ("ppe/brier", "Brier")]


def with_ci(row: dict | None) -> str:
    if row is None:
        return ""
    text = fmt(row["value"])
    if row["ci_low"] is not None:
        text += f" [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
    return text + (f" ({row['domain']})" if row.get("domain") else "")


def static_tables(rows: list[dict]) -> list[dict]:
    """One table per benchmark: an RM per row, the headline numbers with CIs, the probes' drops."""
    tables = []
    for bench in sorted({r["benchmark"] for r in rows}):
        mine = [r for r in rows if r["benchmark"] == bench]
        probes = sorted({r["metric"] for r in mine if r["metric"].startswith("probe_drop/")})
        cols = [(m, label) for m, label in STATIC_COLUMNS if any(r["metric"] == m for r in mine)]
        cols += [(p, "drop: " + p.split("/", 1)[1]) for p in probes] + [("truncated_inputs", "truncated")]
        if any(r["metric"] == "judge_parse_failures" for r in mine):
            cols.append(("judge_parse_failures", "judge parse failures"))
        if any(r["metric"] == "judge_position_flips" for r in mine):
            cols.append(("judge_position_flips", "position flips"))
        body = []
        for rm, seed in sorted({(r["rm"], r.get("rm_seed")) for r in mine}, key=str):
            by = {r["metric"]: r for r in mine if (r["rm"], r.get("rm_seed")) == (rm, seed)}
            body.append([rm_label(rm, seed)] + [with_ci(by.get(m)) for m, _ in cols])
        # The length-only baseline does not depend on the RM: one number per benchmark.
        baseline = next((r for r in mine if r["metric"] == "length_baseline"), None)
        tables.append({"benchmark": bench, "header": ["rm"] + [label for _, label in cols], "rows": body,
                       "length_baseline": with_ci(baseline)})
    return tables


RESULT_KEYS = ("rm_table", "rm_columns", "static", "downstream", "correlations", "matrix", "verdicts", "family", "rl",
               "rl_gains", "rl_seeds", "seven", "n_rms", "enough_rms", "bootstrap", "permutations", "seed")


def verdict_cell(c: dict) -> str:
    s = c["spearman"]
    if c["class"] == "too few RMs" or math.isnan(s["value"]):
        return f"{c['class']} ({c['n_rms']} RMs)"
    text = (f"{c['class']}: {s['value']:+.2f} [{s['ci'][0]:+.2f}, {s['ci'][1]:+.2f}]; "
            f"p {format_p(c.get('p'))}, adjusted {format_p(c.get('p_adjusted'))}")
    if c.get("rests_on"):
        text += "; rests on " + ", ".join(c["rests_on"])
    return text


def verdict_table(result: dict) -> dict:
    """Benchmarks x downstream gains: the class of each headline correlation with its Spearman and CI."""
    cols = list(dict.fromkeys(c["downstream"] for c in result["correlations"]))
    rows = []
    for v in result["verdicts"]:
        cells = {c["downstream"]: c for c in result["correlations"] if c["benchmark"] == v["benchmark"]}
        rows.append([v["benchmark"]] + [verdict_cell(cells[d]) if d in cells else "" for d in cols])
    return {"header": ["benchmark (score)"] + cols, "rows": rows}


def verdict_lines(result: dict) -> tuple[list[dict], str]:
    """One line per benchmark (and on-policy signal): its verdict with each downstream measure,
    Spearman and the adjusted p; the verdicts' full text is folded below them. Also the (task,
    policy) every measure shares, said once instead of on every measure."""
    common = common_suffix([c["downstream"] for c in result["correlations"]])
    out = []
    for v in result["verdicts"]:
        groups: dict[str, list[str]] = {}  # verdict class -> the measures it holds for, in table order
        for c in result["correlations"]:
            if c["benchmark"] == v["benchmark"]:
                rho = c["spearman"]["value"]
                stat = "" if rho != rho or c["class"] == "too few RMs" else \
                    f" (Spearman {rho:+.2f}, p adj {format_p(c.get('p_adjusted'))})"
                groups.setdefault(c["class"], []).append(c["downstream"].removesuffix(common) + stat)
        line = "; ".join(f"{cls}: {', '.join(measures)}" for cls, measures in groups.items())
        out.append({"benchmark": v["benchmark"], "line": line or "no downstream measure to compare",
                    "text": v["text"]})
    return out, common.strip(" ()")


def render(result: dict, funnels: dict, name: str, out_dir: Path, provenance: list[dict],
           exports: list[str] = (), tensorboard_dir: str | None = None,
           copies: dict[str, str] | None = None) -> dict:
    """results.json, a CSV per table, report.html (one self-contained file: inline CSS, PNGs and a
    few lines of script that sort tables; nothing fetched) and the optional exports, all in out_dir.
    copies: {file name: folder of out_dir relative to where that copy is read}: more copies of the
    page whose CSV links reach out_dir from elsewhere (the run folder's report.html)."""
    from rlhf_eval.compare.tables import write_tables
    from rlhf_eval.report import exports as ex

    out_dir.mkdir(parents=True, exist_ok=True)
    results = {"name": name} | {k: result[k] for k in RESULT_KEYS} | {"funnel": funnels, "provenance": provenance}
    # how the terminal names each column (compare outputs made before it was recorded lack it)
    results["rm_column_info"] = result.get("rm_column_info", {})
    results["benchmark_ranking"] = result.get("benchmark_ranking", [])
    results["on_policy"] = result.get("on_policy", [])
    results["rm_seeds"] = result.get("rm_seeds", {})
    results["claims_about"] = result.get("claims_about", "checkpoints")
    results["truncation"] = result.get("truncation", [])
    results["headline"] = one_line(result["correlations"], results["benchmark_ranking"])
    if result.get("not_planned"):  # what the recipe asked that was not run, and why
        results["not_planned"] = result["not_planned"]
    store.atomic_write_json(out_dir / "results.json", results)
    csvs = write_tables(out_dir, result)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True)
    keys = result["rm_columns"]
    pairs = sorted({(b["policy"], b["task"]) for b in result["bon"]})
    lines, verdicts_on = verdict_lines(result)
    page = dict(
        name=name, r=result, table_keys=keys, fmt=fmt, seven_keys=SEVEN, verdict_table=verdict_table(result),
        verdict_lines=lines, verdicts_on=verdicts_on, headline=results["headline"], funnels=funnels,
        bon_plots=[plots.bon_curves(result["bon"], p, t) for p, t in pairs],
        scatter_plots=[plots.scatter(c) for c in result["correlations"] if c.get("values")],
        panels=[img for d in dict.fromkeys(c["downstream"] for c in result["correlations"])
                if (img := plots.benchmarks_panel(result["correlations"], d))],
        heatmap=plots.heatmap(result["matrix"]), static_tables=static_tables(result["static"]),
        funnel_plots={run: plots.funnel(f["counts"]) for run, f in funnels.items()},
        rl_plot=plots.proxy_vs_gold(result["rl"]), provenance=provenance, csvs=csvs)
    template = env.get_template("template.html.j2")
    store.atomic_write_text(out_dir / "report.html", template.render(**page, csv_dir=""))
    written = {"report": str(out_dir / "report.html"), "results": str(out_dir / "results.json"), "csv": csvs}
    for file, folder in (copies or {}).items():
        store.atomic_write_text(out_dir / file, template.render(**page, csv_dir=folder.rstrip("/") + "/"))
        written[file] = str(out_dir / file)
    if "leaderboard" in exports:
        written["leaderboard"] = str(ex.leaderboard(results, out_dir / "leaderboard.json"))
    if "tensorboard" in exports:
        written["tensorboard"] = str(ex.tensorboard(results, Path(tensorboard_dir or out_dir / "tensorboard")))
    return written


def run(ctx) -> dict:
    from rlhf_eval.report.provenance import provenance

    cmp = ctx.out("compare")
    # the input whose stage keeps a curation funnel (stages.Stage.funnel)
    found = [s.funnel(m["outputs"]) for m in ctx.inputs.values() if (s := stage(m["stage"])).funnel is not None]
    funnels = {ctx.params["name"]: found[0]} if found else {}
    cfg = ctx.params.get("report") or {}
    # the run folder's copy of the page (`rlhf-eval run` puts it there) links the CSVs in this node's folder
    here = ctx.dir.relative_to(ctx.run_dir).as_posix()
    return render(cmp, funnels, ctx.params["name"], ctx.dir, [provenance(ctx.run_dir)],
                  cfg.get("exports", []), cfg.get("tensorboard_dir"), copies={RUN_COPY: here})
