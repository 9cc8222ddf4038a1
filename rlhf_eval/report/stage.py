"""report stage: results.json (every table) and one self-contained report.html."""
from __future__ import annotations

import math
from pathlib import Path

import jinja2

from rlhf_eval import store
from rlhf_eval.report import plots


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def run(ctx) -> dict:
    cmp = ctx.out("compare")
    funnel = {k: ctx.out("curate")[k] for k in ("counts", "dropped", "events")}
    results = {"name": ctx.params["name"], "rm_table": cmp["rm_table"], "static": cmp["static"],
               "downstream": cmp["downstream"], "correlations": cmp["correlations"], "funnel": funnel,
               "rl": cmp["rl"], "n_rms": cmp["n_rms"]}
    store.atomic_write_json(ctx.dir / "results.json", results)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True)
    keys = list(dict.fromkeys(k for row in cmp["rm_table"] for k in row))
    pairs = sorted({(b["policy"], b["task"]) for b in cmp["bon"]})
    html = env.get_template("template.html.j2").render(
        name=ctx.params["name"], rm_table=cmp["rm_table"], table_keys=keys, fmt=fmt,
        correlations=cmp["correlations"], enough_rms=cmp["enough_rms"], n_rms=cmp["n_rms"], funnel=funnel,
        bon_plots=[plots.bon_curves(cmp["bon"], p, t) for p, t in pairs],
        scatter_plots=[plots.scatter(c) for c in cmp["correlations"]])
    store.atomic_write_text(ctx.dir / "report.html", html)
    return {"report": str(ctx.dir / "report.html"), "results": str(ctx.dir / "results.json")}
