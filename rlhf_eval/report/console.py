"""The answer on a terminal: the RM table under short column names with their legend, what was not
run, and the verdict table. Columns are named from what compare recorded about each
(results["rm_column_info"]: its side, source and the short name its source gave it), never by
reading a label back."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from rlhf_eval.compare.verdicts import format_p, rests_on_text
from rlhf_eval.terminal import shown

console = Console()
# On a terminal rich wraps lines at word boundaries; in a pipe or a file each message stays one
# line (grep-able), which is what soft wrap does.
console.soft_wrap = not console.is_terminal
VERDICT_COLUMNS = ("static", "downstream", "verdict", "rho", "95% CI", "p", "p adj")


def short_names(columns: list[str], info: dict) -> dict[str, str]:
    """Narrow column names: B1.. for static benchmarks, the short name a downstream source gave
    its metric (bo16, RL), or D; numbered when several share one. A column without info (a
    results.json from before rm_column_info) keeps its full name."""
    out, count = {}, {}
    for col in columns:
        if col in ("rm", "seeds"):
            continue
        about = info.get(col)
        if about is None:
            base = col
        elif about["side"] == "static":
            base = f"B{sum(1 for v in out.values() if v.startswith('B')) + 1}"
        else:
            base = about.get("short") or "D"
        count[base] = count.get(base, 0) + 1
        out[col] = base if count[base] == 1 else f"{base}.{count[base]}"
    return out


def headline_columns(columns: list[str], info: dict) -> list[str]:
    """The columns of the RM table: all but, of each family of a source's metrics (best-of-n at
    every n), only the highest-ranked (the largest n)."""
    top: dict = {}
    for col in columns:
        about = info.get(col) or {}
        if about.get("family"):
            key = (about["source"], about["family"])
            if key not in top or about.get("rank", 0) > (info[top[key]].get("rank", 0)):
                top[key] = col
    return [c for c in columns if not (info.get(c) or {}).get("family") or
            top[(info[c]["source"], info[c]["family"])] == c]


def summary_table(results: dict) -> tuple[Table, dict[str, str]]:
    """Static scores, the largest best-of-n gain and the RL gain per RM (every column is in the
    report), under short names; returns the table and {short name: full name}."""
    table = Table(title=f"reward models ({shown(results['name'])})")
    info = results.get("rm_column_info", {})
    # on-policy signals are in the verdict table and the report; the RM table keeps to 80 columns
    keys = headline_columns([c for c in results["rm_columns"] if (info.get(c) or {}).get("side") != "on-policy"],
                            info)
    short = short_names(keys, info)
    for k in keys:
        table.add_column(short.get(k, k), justify="left" if k == "rm" else "right", no_wrap=True)
    for row in results["rm_table"]:
        table.add_row(*[f"{row[k]:.3f}" if isinstance(row.get(k), float) else
                        "-" if row.get(k) is None else shown(row[k]) for k in keys])
    return table, {v: k for k, v in short.items()}


def verdict_rows(title: str, rows: list[tuple], extra: tuple[str, ...] = ()) -> Table:
    """The verdict table on a terminal: static, downstream, verdict word, Spearman, its 95% CI over
    RMs, raw and Holm-adjusted p, and `extra` columns. Light borders, so it fits 80 columns; what
    a verdict rests on is printed below it (`resting_lines`)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False,
                  show_edge=False)
    for name in (*VERDICT_COLUMNS, *extra):
        table.add_column(name, justify="left" if name in ("static", "downstream", "verdict") else "right",
                         no_wrap=True)
    for row in rows:
        table.add_row(*map(shown, row))
    return table


def resting_lines(cells: list[tuple[str, str, dict]]) -> list[str]:
    """'B1 vs bo16: predicts, rests on dpo-noisy (without it: no reliable relation)' for each
    verdict that leaving one RM out changes."""
    return [f"{s} vs {d}: {c['class'] if 'class' in c else c['verdict']}, " + rests_on_text(c)
            for s, d, c in cells if c.get("rests_on")]


def ci_text(ci) -> str:
    return "-" if ci is None or signed(ci[0]) == "-" else f"{signed(ci[0])},{signed(ci[1])}"


def family_lines(results: dict) -> list[str]:
    """The verdict table as a family: its size, what the adjustment means, the global test and
    the smallest |rho| that the design can declare."""
    fam = results.get("family")
    if not fam or not fam.get("size"):
        return []
    lines = [f"The verdict table is one family of {fam['size']} tests; verdicts use Holm-adjusted permutation "
             f"p-values (p adj). {fam['explained']}"]
    g = fam.get("global")
    if g and g["p"] == g["p"]:
        answer = "some static metric relates to some downstream measure" if g["p"] < fam["alpha"] else \
            "no relation at all is shown in this study"
        lines.append(f"Global test (max |Spearman| over the {g['cells']} cells, RMs permuted): "
                     f"{g['max_abs_rho']:.2f}, p {format_p(g['p'])}: {answer}.")
    d = fam.get("declarable") or {}
    if d.get("n_rms"):
        fam_rho, one = d.get("family"), d.get("one_cell")
        lines.append(f"With {d['n_rms']} RMs a verdict needs |Spearman| >= {fam_rho} in this family of {fam['size']}"
                     if fam_rho is not None else
                     f"With {d['n_rms']} RMs no cell of this family of {fam['size']} can be declared, whatever its "
                     "Spearman")
        lines[-1] += f" ({one} for a single cell)." if one is not None else " (none for a single cell either)."
    return lines


def signed(x) -> str:
    """+0.87; '-' where there is no number (too few RMs give NaN)."""
    return "-" if x is None or x != x else f"{x:+.2f}"


def verdict_table(results: dict) -> tuple[Table, dict[str, str]]:
    """One row per (static benchmark, downstream measure): the verdict word (from the family's
    Holm-adjusted p), Spearman with its 95% CI over RMs, and the raw and adjusted permutation p.
    The reasoning behind each verdict is in the report."""
    cols = [c["static"] for c in results["correlations"]] + [c["downstream"] for c in results["correlations"]]
    short = short_names(list(dict.fromkeys(cols)), results.get("rm_column_info", {}))
    rows = [(short[c["static"]], short[c["downstream"]], c["class"], signed(c["spearman"]["value"]),
             ci_text(c["spearman"]["ci"]), format_p(c.get("p")), format_p(c.get("p_adjusted")))
            for c in results["correlations"]]
    return verdict_rows("does the static ranking predict the downstream one?", rows), {v: k for k, v in short.items()}


def print_legend(legend: dict[str, str], info: dict) -> None:
    """One line for the benchmarks, one per downstream measure; columns of one family of a source
    (best-of-n at several n) share a line."""
    lines: dict[str, tuple[bool, list]] = {}
    for short, full in legend.items():
        about = info.get(full) or {}
        if about.get("family"):
            key, item = f"{about['family']} {about['source']}", (about.get("rank", 0), short)
        else:
            key, item = "B" if about.get("side") == "static" else short, (0, f"{short} = {full}")
        lines.setdefault(key, (bool(about.get("family")), []))[1].append(item)
    for key, (family, items) in lines.items():
        names = [text for _, text in sorted(items)]
        console.print(f"{', '.join(names)} = {key}" if family else "; ".join(names), highlight=False, style="dim")


def claims_line(results: dict) -> str:
    """What the numbers speak about, where some RM was trained with several seeds (the report says
    it in every case)."""
    seeded = sorted(rm for rm, s in results.get("rm_seeds", {}).items() if s > 1)
    if not seeded:
        return ""
    if results.get("claims_about") == "recipes":
        return "every RM is a mean over its training seeds: the claims are about training recipes"
    return f"{', '.join(seeded)}: means over training seeds (recipes); the other RMs are single checkpoints"


def truncation_lines(rows: list[dict]) -> list[str]:
    """One line per RM and benchmark whose inputs were cut at the RM's max_length."""
    from rlhf_eval.compare.tables import rm_label
    return [f"{rm_label(t['rm'], t.get('rm_seed'))} on {t['benchmark']}: {t['items']} of {t['of_items']} items "
            f"({t['share']:.0%}) cut at max_length={t['max_length']} tokens (start of the input dropped); their "
            "scores may differ from the RM's on the whole text" for t in rows]


def print_results(results: dict) -> None:
    """The RM table, what was not run and why, and the verdicts as a table (their text is in the report)."""
    table, legend = summary_table(results)
    console.print(table)
    claims = claims_line(results)
    if claims:
        console.print(shown(claims), highlight=False)
    for line in truncation_lines(results.get("truncation", [])):
        console.print(f"warning: {shown(line)}", style="yellow", highlight=False)
    for g in results.get("not_planned", []):
        console.print(f"- not run: {shown(g['rm'])}, {shown(g['what'])}: {shown(g['why'])}", highlight=False)
    if results.get("correlations"):
        table, more = verdict_table(results)
        console.print(table)
        short = {v: k for k, v in more.items()}
        for line in resting_lines([(short[c["static"]], short[c["downstream"]], c) for c in results["correlations"]]):
            console.print(shown(line), highlight=False)
        for line in family_lines(results):
            console.print(line, highlight=False)
        if results.get("headline"):
            console.print(shown(results["headline"]), highlight=False)
        legend |= more
    print_legend(legend, results.get("rm_column_info", {}))
    for p in results.get("provenance", []):
        lock = p.get("lock") or {}
        if lock.get("differs"):
            what = ", ".join(f"{d['package']} {'/'.join(d['run'])} (lock {d['lock']})" for d in lock["differs"])
            console.print(shown(f"versions differ from {lock['lock']}: {what}; numbers may differ from a run on "
                                 "the locked set-up for this reason alone"), style="yellow", highlight=False)


def print_scores(m: dict) -> None:
    """`rlhf-eval score`: the benchmark's official metrics with their 95% CIs, what could bias them
    (the length-only baseline, a judge's position flips), and every warning (truncation first)."""
    title = f"{m['rm']} on {m['benchmark']}" + (f" (scored as {m['scored_as']})" if m["scored_as"] != m["benchmark"]
                                                 else "") + f": {m['n']} items"
    table = Table(title=shown(title), box=box.SIMPLE_HEAD)
    for col, just in (("metric", "left"), ("value", "right"), ("95% CI", "right")):
        table.add_column(col, justify=just)
    for k, v in m["metrics"].items():
        ci = m["ci"].get(k)
        table.add_row(shown(k), f"{v:.3f}", "-" if ci is None or ci[0] is None else f"{ci[0]:.3f} - {ci[1]:.3f}")
    lb = m.get("length_baseline")
    if lb:
        ci = lb["ci"]
        table.add_row("length-only baseline", f"{lb['score']:.3f}",
                      "-" if ci is None or ci[0] is None else f"{ci[0]:.3f} - {ci[1]:.3f}", style="dim")
    console.print(table)
    if m.get("position_bias"):
        console.print(f"position flips (the judge's decision changes when A and B swap): "
                      f"{m['position_bias']['flip_rate']:.3f}", highlight=False)
    for note in m.get("notes", []):
        console.print(f"warning: {shown(note)}", style="yellow", highlight=False)


def print_diff(d: dict, rows: int) -> None:
    """`rlhf-eval diff` (report.diff.diff_runs): nodes that differ grouped by why, set-up
    differences, the largest moves of headline numbers, and verdicts that changed."""
    same = [n for n in d["nodes"] if n["status"] == "same key"]
    other = [n for n in d["nodes"] if n["status"] != "same key"]
    console.print(f"A = {shown(d['a'])}\nB = {shown(d['b'])}", highlight=False)
    console.print(f"nodes: {len(same)} with the same key (same config and inputs), {len(other)} not", highlight=False)
    if other:
        groups: dict[tuple, list[str]] = {}
        for n in other:
            groups.setdefault((n["stage"], n["status"], n.get("why", "")), []).append(n["label"])
        table = Table(title="nodes that differ (diff --json lists each one)")
        for col in ("stage", "nodes", "status", "why"):
            table.add_column(col, overflow="fold")
        for (stage, status, why), labels in groups.items():
            table.add_row(stage, shown(labels[0] + (f" and {len(labels) - 1} more" if len(labels) > 1 else "")),
                          status, shown(why))
        console.print(table)
    for kind, items in d["setup"].items():
        for item in items:
            a, b = ("not recorded" if v is None else v for v in (item["a"], item["b"]))
            console.print(shown(f"{kind}: {item['what']}: A {a}, B {b}"), highlight=False)
    if not any(d["setup"].values()):
        console.print("versions, threads, seeds and data fingerprints: the same", highlight=False)
    moved = [r for r in d["numbers"] if r["moved"] != "same"]
    beyond = sum(r["moved"] == "beyond noise" for r in moved)
    console.print(f"headline numbers: {len(d['numbers'])} compared, {len(d['numbers']) - len(moved)} identical, "
                  f"{len(moved)} moved ({beyond} beyond their 95% intervals)", highlight=False)
    if moved:
        table = Table(title=f"largest moves (of {len(moved)})")
        for col, justify in (("rm", "left"), ("number", "left"), ("A", "right"), ("B", "right"), ("B - A", "right"),
                             ("z", "right"), ("", "left")):
            table.add_column(col, justify=justify, overflow="fold")
        for r in moved[:rows]:
            table.add_row(r["rm"], shown(r["column"]), f"{r['a']:.3f}", f"{r['b']:.3f}", f"{r['delta']:+.3f}",
                          "-" if r["z"] is None else f"{r['z']:+.1f}", r["moved"])
        console.print(table)
    changed = [v for v in d["verdicts"] if v["changed"]]
    console.print(f"verdicts: {len(d['verdicts'])} compared, {len(changed)} changed", highlight=False)
    if changed:
        table = Table(title="verdicts that changed")
        for col in ("static", "downstream", "A", "B"):
            table.add_column(col)
        for v in changed:
            cell = [("-" if x is None else f"{x['verdict']}, Spearman {signed(x['spearman'])} "
                     f"({signed(x['ci'][0])} to {signed(x['ci'][1])})") for x in (v["a"], v["b"])]
            table.add_row(shown(v["static"]), shown(v["downstream"]), *cell)
        console.print(table)
