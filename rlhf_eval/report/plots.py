"""Plots as inline PNG data URIs, so the report is one self-contained file."""
from __future__ import annotations

import base64
import io

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
# Names on the plots (benchmarks, tasks, policies) are text from recipes and run folders: a name
# such as "$\\frac{a}$" must be shown as written, not parsed as mathtext (which raises on it).
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rlhf_eval.compare.tables import rm_label, several_seeds  # noqa: E402


def _data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def bon_curves(bon: list[dict], policy: str, task: str) -> str:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))  # the legend goes to the right of the axes, off the curves
    ax.set_prop_cycle(color=plt.cm.tab20.colors)  # 20 colours: ten RMs and their seeds do not repeat one
    rows = [b for b in bon if b["policy"] == policy and b["task"] == task]
    seed_of = several_seeds(rows)
    for b in sorted(rows, key=lambda b: (b["rm"], str(b.get("rm_seed")))):
        name = rm_label(b["rm"], seed_of(b))
        n = [p["n"] for p in b["curve"]]
        v = [p["value"] for p in b["curve"]]
        lo = [p["ci"][0] for p in b["curve"]]
        hi = [p["ci"][1] for p in b["curve"]]
        rule = f" ({b['pairwise_rule']})" if b.get("pairwise_rule") else ""  # a pairwise judge's main rule
        line, = ax.plot(n, v, marker="o", label=name + rule)
        ax.fill_between(n, lo, hi, alpha=0.15)
        for rule in [r for r in b["curve"][0].get("rules", {}) if r != b.get("pairwise_rule")]:
            ax.plot(n, [p["rules"][rule]["value"] for p in b["curve"]], marker="x", ls="--",
                    color=line.get_color(), label=f"{name} ({rule})")
    if rows:
        curve = rows[0]["curve"]
        n = [p["n"] for p in curve]
        ax.plot(n, [p["oracle"] for p in curve], "k--", label="oracle (best pick)")
        ax.fill_between(n, [p["oracle_ci"][0] for p in curve], [p["oracle_ci"][1] for p in curve],
                        color="k", alpha=0.08)
        ax.plot(n, [p["anti_oracle"] for p in curve], "k:", label="anti-oracle (worst pick)")
        ax2 = ax.twinx()
        ax2.plot(n, [p["kl_bound"] for p in curve], color="grey", alpha=0.5, lw=1)
        ax2.set_ylabel("KL bound log n - (n-1)/n (nats)", color="grey")
    ax.set_xscale("log", base=2)
    # plain numbers: the log axis's default labels are mathtext ($2^{4}$), which parse_math=False prints raw
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([p["n"] for p in rows[0]["curve"]] if rows else [1]))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("n (candidates per prompt)")
    ax.set_ylabel(f"expected {rows[0]['metric'] if rows else 'metric'}")
    ax.set_title(f"best-of-n on {task} ({policy})")
    # right of the KL axis's label: the curves stay uncovered however many RMs there are
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.13, 1.0), borderaxespad=0.0, frameon=False)
    return _data_uri(fig)


def _err(value: float, ci) -> list[float]:
    """Error-bar lengths below and above `value`; none where an end of the interval is unknown."""
    low, high = (value if end is None else end for end in ci)
    return [value - low, high - value]


def label_points(ax, xs, ys, labels: list[str]) -> list:
    """Labels beside their points, moved apart by adjustText, each joined to its point by a thin
    line when it had to move. Returns the texts; `overlapping` says whether any two still touch."""
    from adjustText import adjust_text

    texts = [ax.text(x, y, label, fontsize=7) for x, y, label in zip(xs, ys, labels)]
    if len(texts) > 1:
        adjust_text(texts, x=np.asarray(xs, float), y=np.asarray(ys, float), ax=ax, expand=(1.15, 1.4),
                    arrowprops=dict(arrowstyle="-", color="grey", lw=0.5), min_arrow_len=6)
    return texts


def overlapping(fig, texts: list) -> int:
    """How many pairs of `texts` overlap as drawn."""
    fig.canvas.draw()
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in texts]
    return sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def labels_or_numbers(fig, ax, xs, ys, names: list[str]) -> list:
    """RM names beside their points; where they cannot be kept apart (points packed close), each
    point gets its RM's number instead, and the numbers' RMs are listed beside the axes."""
    texts = label_points(ax, xs, ys, names)
    if len(texts) < 2 or not overlapping(fig, texts):
        return texts
    for t in texts:
        t.remove()
    for patch in [p for p in ax.patches if p.__class__.__name__ == "FancyArrowPatch"]:
        patch.remove()
    order = list(dict.fromkeys(names))
    ax.text(1.03, 1.0, "RMs\n" + "\n".join(f"{k} {rm}" for k, rm in enumerate(order, 1)), transform=ax.transAxes,
            fontsize=7, va="top", family="monospace")
    return label_points(ax, xs, ys, [str(order.index(n) + 1) for n in names])


def scatter(cell: dict) -> str:
    return _data_uri(scatter_figure(cell))


def scatter_figure(cell: dict):
    """Static metric against downstream gain, one point per RM with both 95% CIs, the least-squares
    fit across RMs and its bootstrap band; RM names beside their points, not overlapping."""
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    pts = cell["values"]
    x = np.array([p["static"] for p in pts])
    y = np.array([p["downstream"] for p in pts])
    xerr = np.array([_err(p["static"], p["static_ci"]) for p in pts]).T
    yerr = np.array([_err(p["downstream"], p["downstream_ci"]) for p in pts]).T
    ax.errorbar(x, y, xerr=np.clip(xerr, 0, None), yerr=np.clip(yerr, 0, None), fmt="o", ms=5, lw=0.8, capsize=2)
    band = cell.get("fit_band") or {}
    if band:
        ax.plot(band["x"], band["fit"], "k--", lw=1, label="least-squares fit")
        if band["low"]:
            ax.fill_between(band["x"], band["low"], band["high"], color="k", alpha=0.1, label="95% band")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=2, frameon=False)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel(cell["static"])
    ax.set_ylabel(cell["downstream"])
    s = cell["spearman"]
    rho = "n/a" if s["value"] != s["value"] else f"{s['value']:+.2f} [{s['ci'][0]:+.2f}, {s['ci'][1]:+.2f}]"
    ax.set_title(f"Spearman {rho}, {cell['n_rms']} RMs", fontsize=9)
    labels_or_numbers(fig, ax, x, y, [p["rm"] for p in pts])
    return fig


def benchmarks_panel(cells: list[dict], downstream: str) -> str | None:
    """Every benchmark's score against one downstream gain on one panel, a colour per benchmark,
    so a benchmark that tracks the gain and one that does not are seen side by side."""
    cells = [c for c in cells if c["downstream"] == downstream and c.get("values")]
    if len(cells) < 2:
        return None
    return _data_uri(panel_figure(cells, downstream))


def panel_figure(cells: list[dict], downstream: str):
    """benchmarks_panel's figure: each point numbered by its RM (the same number on every
    benchmark), the numbers kept apart, and the RMs they stand for listed beside the axes."""
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    rms = list(dict.fromkeys(p["rm"] for c in cells for p in c["values"]))
    xs, ys, labels = [], [], []
    for c in cells:
        x = [p["static"] for p in c["values"]]
        y = [p["downstream"] for p in c["values"]]
        s = c["spearman"]
        rho = "n/a" if s["value"] != s["value"] else f"{s['value']:+.2f} [{s['ci'][0]:+.2f}, {s['ci'][1]:+.2f}]"
        ax.scatter(x, y, s=22, alpha=0.8, label=f"{c['benchmark']}: Spearman {rho}")
        xs, ys = xs + x, ys + y
        labels += [str(rms.index(p["rm"]) + 1) for p in c["values"]]
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("benchmark score")
    ax.set_ylabel(downstream)
    ax.set_title(f"every benchmark against {downstream} ({cells[0]['n_rms']} RMs)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.14), frameon=False)
    ax.text(1.03, 1.0, "RMs\n" + "\n".join(f"{k} {rm}" for k, rm in enumerate(rms, 1)), transform=ax.transAxes,
            fontsize=7, va="top", family="monospace")
    label_points(ax, xs, ys, labels)
    return fig


def heatmap(matrix: list[dict]) -> str | None:
    """Spearman of every static metric (rows: benchmark score, worst domain, subsets, domains)
    against every downstream gain (columns); a star marks a Benjamini-Hochberg q below 0.05 over
    the whole matrix (exploration: about 5% of the stars are expected to be false)."""
    if not matrix:
        return None
    rows = list(dict.fromkeys(m["static"] for m in matrix))
    cols = list(dict.fromkeys(m["downstream"] for m in matrix))
    z = np.full((len(rows), len(cols)), np.nan)
    sig = np.zeros_like(z, bool)
    for m in matrix:
        i, j = rows.index(m["static"]), cols.index(m["downstream"])
        z[i, j] = m["spearman"]["value"]
        q = m.get("q")
        sig[i, j] = q is not None and q == q and q < 0.05
    fig, ax = plt.subplots(figsize=(2.0 + 1.1 * len(cols), 1.2 + 0.28 * len(rows)))
    im = ax.imshow(np.ma.masked_invalid(z), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if z[i, j] == z[i, j]:
                ax.text(j, i, f"{z[i, j]:+.2f}" + (" *" if sig[i, j] else ""), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    fig.colorbar(im, ax=ax, label="Spearman", shrink=0.6)
    ax.set_title("Spearman across RMs (* : BH q < 0.05 over the matrix; exploration)", fontsize=9)
    return _data_uri(fig)


def funnel(counts: list[dict]) -> str | None:
    """Pairs left after each curation step."""
    if not counts:
        return None
    fig, ax = plt.subplots(figsize=(6.0, 0.5 + 0.35 * len(counts)))
    steps = [c["step"] for c in counts]
    ax.barh(range(len(steps)), [c["count"] for c in counts], color="tab:green")
    ax.set_yticks(range(len(steps)), steps, fontsize=8)
    ax.invert_yaxis()
    for i, c in enumerate(counts):
        ax.text(c["count"], i, f" {c['count']}", va="center", fontsize=7)
    ax.set_xlabel("preference pairs left")
    ax.set_title("curation funnel", fontsize=9)
    return _data_uri(fig)


def proxy_vs_gold(runs: list[dict]) -> str | None:
    """One panel per RM: the RM's (proxy) reward and the verifier's (gold) reward of the same RL
    rollouts, per step, one line per training seed. Proxy up while gold goes down is
    over-optimization; lines that part ways are seed-to-seed variance."""
    by_rm: dict = {}
    for r in runs:
        if r["history"]:
            by_rm.setdefault(r["rm"], []).append(r)
    if not by_rm:
        return None
    cols = min(4, len(by_rm))
    rows = (len(by_rm) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, rm in zip(axes.flat, sorted(by_rm)):
        seeds = sorted(by_rm[rm], key=lambda r: r.get("seed") or 0)
        ax.set_title(rm + (f" ({len(seeds)} seeds)" if len(seeds) > 1 else ""), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax2 = None
        for r in seeds:
            steps = [h["step"] for h in r["history"]]
            ax.plot(steps, [h["proxy"] for h in r["history"]], color="tab:blue", alpha=0.8, lw=1)
            gold = [h["gold"] for h in r["history"]]
            if any(g is not None for g in gold):
                ax2 = ax2 or ax.twinx()
                ax2.plot(steps, gold, color="tab:orange", alpha=0.8, lw=1)
        if ax2 is not None:
            ax2.set_ylim(-0.02, 1.02)
            ax2.tick_params(labelsize=7, colors="tab:orange")
        ax.tick_params(labelsize=7, colors="tab:blue")
    for ax in list(axes.flat)[len(by_rm):]:
        ax.axis("off")
    fig.suptitle("RL: proxy reward (blue, left axis) and gold reward (orange, right axis) of the same rollouts, "
                 "one line per seed", fontsize=9)
    fig.tight_layout()
    return _data_uri(fig)
