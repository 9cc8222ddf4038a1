"""The `rlhf-eval` command line: each command parses its arguments, loads what it needs and calls
the package; how results look on a terminal is report/console.py."""
from __future__ import annotations

import contextlib
import functools
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import List, Optional

import click
import typer
from rich.console import Console
from rich.table import Table

from rlhf_eval import store
from rlhf_eval.bench import BENCHMARKS, TOY
from rlhf_eval.compare.verdicts import format_p
from rlhf_eval.config import ConfigError, load_recipe
from rlhf_eval.errors import UserError, is_user_error, one_line, save_traceback
from rlhf_eval.launch import EXECUTORS, quiet_libraries
from rlhf_eval.lock import run_lock
from rlhf_eval.pipeline import expand, load_plan, node_done, not_planned, plan_dict
from rlhf_eval.registry import listing
from rlhf_eval.report.console import (
    ci_text,
    console,
    family_lines,
    print_diff,
    print_legend,
    print_results,
    resting_lines,
    short_names,
    signed,
    verdict_rows,
)
from rlhf_eval.report.wiring import RUN_COPY
from rlhf_eval.terminal import shown

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Do wins on static reward benchmarks translate into better policies?")


def report_errors(fn):
    """Every command's failures go through here: a user error (bad input, a busy or damaged run,
    a full or read-only disk) is one line naming the node, file and row; anything else is an
    internal error. Both keep the traceback in a log file whose path is printed."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.ClickException, KeyboardInterrupt):
            raise
        except Exception as exc:
            log = save_traceback(exc, fn.__name__.replace("_", "-"))
            where = f"traceback: {log}" if log else "the traceback could not be saved either"
            err = Console(stderr=True)
            if is_user_error(exc):
                err.print(f"[red]error:[/red] {shown(one_line(exc))}", highlight=False, soft_wrap=True)
                err.print(f"({shown(where)})", highlight=False, soft_wrap=True, style="dim")
                raise typer.Exit(2) from None
            node = getattr(exc, "rlhf_node", None)
            err.print(f"[red]internal error[/red]{' in node ' + shown(node) if node else ''}: "
                      f"{type(exc).__name__}: {shown(exc)}", highlight=False, soft_wrap=True)
            err.print(f"This is a bug in rlhf-eval, not in your input; {shown(where)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    return wrapper


def reflowed(doc: str | None) -> str | None:
    """A docstring as help text: its lines joined within paragraphs, so the terminal wraps it at
    its own width instead of at the docstring's line breaks."""
    if not doc:
        return doc
    import inspect
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def command(*args, group: typer.Typer | None = None, **kwargs):
    """`app.command`, with the error handler and help that reflows."""
    def register(fn):
        kwargs.setdefault("help", reflowed(fn.__doc__))
        (group or app).command(*args, **kwargs)(report_errors(fn))
        return fn
    return register


def _fail(msg: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {shown(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


RUN_FILES = ("plan.json", store.MANIFEST)  # what marks a run or node folder, never overwritten by --out


def out_folder(out: Path, option: str, files: list[str]) -> Path:
    """A folder --out may write `files` into: not a file, not a run or node folder; files it
    already holds that would be replaced are named."""
    if out.exists() and not out.is_dir():
        _fail(f"{option} {out} is a file, not a folder; name a folder (it is created)")
    held = [f for f in RUN_FILES if (out / f).exists()]
    if held:
        _fail(f"{option} {out} holds {held[0]}: it is a run or node folder, which this would overwrite; "
              "name another folder")
    replaced = [f for f in files if (out / f).exists()]
    if replaced:
        Console(stderr=True).print(f"replacing {shown(', '.join(replaced))} in {shown(out)}", highlight=False,
                                   soft_wrap=True)
    return out


def out_file(out: Path, option: str) -> Path:
    """A file --out/--json may write: not a folder, not a run's plan.json or a node's manifest."""
    if out.is_dir():
        _fail(f"{option} {out} is a folder; name a file")
    if out.name in RUN_FILES:
        _fail(f"{option} {out}: {out.name} marks a run or node folder; name another file")
    return out


def _load(recipe: Path, overrides: list[str]):
    try:
        loaded = load_recipe(recipe, overrides)
    except ConfigError as exc:
        _fail(str(exc))
    return loaded, expand(loaded)


def _state(run_dir: Path, node) -> str:
    folder = run_dir / node.stage / node.key
    manifest, damaged = node_done(run_dir, node)
    if manifest is not None:
        return "done"
    if damaged:
        return "damaged"
    return "partial" if folder.exists() else "todo"


def _node_table(run_dir: Path, nodes, title: str) -> Table:
    table = Table(title=title)
    for col in ("stage", "node", "key", "state"):
        table.add_column(col)
    colors = {"done": "green", "partial": "yellow", "damaged": "red", "todo": "white"}
    for n in nodes:
        s = _state(run_dir, n)
        table.add_row(n.stage, shown(n.label), n.key, f"[{colors[s]}]{s}[/]")
    return table


def stage_times(run_dir: Path, nodes) -> str:
    """Node time summed per stage, for the nodes this run has manifests of."""
    total: dict[str, float] = {}
    for n in nodes:
        manifest = store.read_manifest(run_dir / n.stage / n.key)
        if manifest is not None:
            total[n.stage] = total.get(n.stage, 0.0) + manifest.get("duration_s", 0.0)
    return ", ".join(f"{stage} {sec:.0f} s" for stage, sec in total.items())


@command()
def run(recipe: Path, overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides"),
        executor: Optional[str] = typer.Option(None, "--executor",
                                               help=f"{listing(EXECUTORS)} (default: the recipe's)"),
        address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join (default: ray.address)")):
    """Run a recipe end to end; finished nodes are skipped, so rerunning resumes."""
    extra = [f"executor={executor}"] if executor else []
    loaded, nodes = _load(recipe, (overrides or []) + extra)
    if address and loaded.recipe.executor != "ray":
        _fail("--address is for --executor ray")
    run_dir = loaded.run_dir
    execute = EXECUTORS.load(loaded.recipe.executor)
    started = time.time()
    with run_lock(run_dir):
        store.atomic_write_json(run_dir / "plan.json", plan_dict(loaded, nodes))
        execute(run_dir, nodes, console, recipe=loaded.recipe, address=address)
    report = next(n for n in nodes if n.stage == "report")
    out = store.read_manifest(run_dir / report.stage / report.key)["outputs"]
    shutil.copyfile(out["results"], run_dir / "results.json")
    # the page whose links to the tables' CSVs work from the run folder (reports before it: the node's own)
    shutil.copyfile(out.get(RUN_COPY, out["report"]), run_dir / "report.html")
    results = json.loads((run_dir / "results.json").read_text())
    print_results(results)
    console.print(f"node time per stage (summed; cached nodes count their first run): {stage_times(run_dir, nodes)}",
                  highlight=False, style="dim")
    console.print(f"report: {shown(run_dir / 'report.html')}  ({time.time() - started:.1f} s)")


@command()
def power(
    target: Path = typer.Argument(..., help="a finished run folder (its measured noise) or a recipe YAML "
                                            "(stated noise)"),
    rms: Optional[int] = typer.Option(None, "--rms", help="number of RMs (default: the run's or the recipe's)"),
    prompts: Optional[int] = typer.Option(None, "--prompts",
                                          help="evaluation prompts per task (run: rescales its noise)"),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="RL seeds per RM (run: rescales its noise)"),
    rho: float = typer.Option(0.6, "--rho", help="the true correlation to size the study for"),
    reliability: Optional[float] = typer.Option(None, "--reliability",
                                                help="stated reliability of both sides (recipe default 0.8)"),
    reps: int = typer.Option(200, "--reps", help="simulated studies per power estimate"),
    draws: int = typer.Option(300, "--draws", help="bootstrap draws per simulated study"),
    seed: int = typer.Option(0, "--seed"),
    family: int = typer.Option(1, "--cells", min=1,
                              help="size each cell as the strongest of a verdict table of this many cells (Holm)"),
    out: Optional[Path] = typer.Option(None, "--out", help="also write the rows as JSON here"),
):
    """What rho a study detects with 80% power, and how many RMs detect --rho (by simulation)."""
    if out is not None:
        out_file(out, "--out")
    from rlhf_eval.compare.design import Cell, analyse, cells_from_run

    if target.is_dir():
        try:
            cells = cells_from_run(target, prompts, seeds)
        except ValueError as exc:
            _fail(str(exc))
        if reliability is not None:
            cells = [Cell(c.static, c.downstream, c.n_rms, reliability, reliability, "stated reliability")
                     for c in cells]
        source = f"measured noise of {target}"
    else:
        loaded, _ = _load(target, [])
        rel = 0.8 if reliability is None else reliability
        cells = [Cell("any benchmark", "any gain", len(loaded.recipe.reward_models), rel, rel, "stated reliability")]
        source = f"{target}, stated reliability {rel}"
    if not 0 < rho < 1:
        _fail(f"--rho {rho}: expected a correlation in (0, 1)")
    level = "one cell alone: permutation p < 0.05" if family == 1 else \
        f"strongest of {family} cells: permutation p < 0.05 / {family}"
    console.print(f"power of {shown(source)}: 80% power, {level}", highlight=False)
    # the run's short names (B1, bo16, RL) keep the table within 80 columns; the legend says which is which
    results = _run_results(target) if target.is_dir() else {}
    info = results.get("rm_column_info") if isinstance(results.get("rm_column_info"), dict) else {}
    short = short_names(list(dict.fromkeys([c.static for c in cells] + [c.downstream for c in cells])), info)
    table = Table()
    for col in ("static", "downstream", "RMs", "rel. S, D", "min rho", f"RMs@{rho:g}", "Fisher z"):
        table.add_column(col, justify="left" if col in ("static", "downstream") else "right", no_wrap=True)
    rows, notes = [], {}
    with terminal_bar() as bar, bar("simulating studies", len(cells)) as update:
        for k, c in enumerate(cells):
            r = analyse(c, rms or c.n_rms, rho, reps, draws, seed, family)
            rows.append(r)
            update(k + 1)
            mark = ""
            if r["note"]:
                mark = " " + "*" * (list(notes).index(r["note"]) + 1 if r["note"] in notes else len(notes) + 1)
                notes.setdefault(r["note"], mark.strip())
            table.add_row(shown(short.get(c.static, c.static)) + mark, shown(short.get(c.downstream, c.downstream)),
                          str(r["rms"]), f"{_short(r['reliability_static'])}, {_short(r['reliability_downstream'])}",
                          "none" if r["detectable_rho"] is None else _short(r["detectable_rho"]),
                          "over 400" if r["rms_needed"] is None else _short(r["rms_needed"]),
                          _short(r["closed_form_rms_needed"]))
    console.print(table)
    print_legend({v: k for k, v in short.items()}, info)
    console.print(f"rel. S, D: reliability of the static and downstream side (the share of the spread between RMs "
                  f"that is not measurement noise); min rho: the smallest true correlation detected (none: not even "
                  f"0.99); RMs@{rho:g}: RMs needed to detect rho {rho:g} (simulated); Fisher z: the same by the "
                  "closed form", style="dim", highlight=False)
    for note, mark in notes.items():
        console.print(f"{mark} {shown(note)}", highlight=False)
    size = _family_size(results)
    if size and size > 1 and family == 1:
        console.print(f"This run's verdict table is a family of {size} cells (Holm): --cells {size} sizes the "
                      "design for it.", highlight=False)
    if out:
        store.atomic_write_json(out, rows)


def _run_results(run_dir: Path) -> dict:
    """A finished run's results.json, or {} where it has none (or not a mapping: the file is input)."""
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return {}
    return results if isinstance(results, dict) else {}


def _family_size(results: dict) -> int | None:
    """The size of a run's verdict family (None for runs made before it was recorded)."""
    fam = results.get("family") or {}
    size = fam.get("size") if isinstance(fam, dict) else None
    return size if isinstance(size, int) else None


def _short(v) -> str:
    return "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


@command()
def plan(recipe: Path, overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides"),
         cost: bool = typer.Option(False, "--cost", help="estimate GPU-hours per node and stage (docs/cost.md)")):
    """List the nodes a recipe implies, each done or todo."""
    loaded, nodes = _load(recipe, overrides or [])
    console.print(_node_table(loaded.run_dir, nodes, f"plan of {shown(loaded.recipe.name)} -> {shown(loaded.run_dir)}"))
    for (rm, what), why in not_planned(loaded).items():
        console.print(f"not planned: {shown(rm)}, {shown(what)}: {shown(why)}", highlight=False)
    if cost:
        from rlhf_eval.launch.cost import CostError, by_stage, estimate, unknown
        if loaded.recipe.toy_world is not None:
            console.print("cost: the toy world runs on this machine's CPUs in minutes; "
                          "--cost is for real-model recipes")
            return
        try:
            estimates = estimate(nodes, loaded.to_dict()["recipe"])
        except CostError as exc:
            _fail(f"{recipe}: {exc}")
        table = Table(title="estimated GPU-hours (cost.* assumptions, docs/cost.md)")
        for col in ("stage", "nodes", "GPU-hours", "per node", "first node"):
            table.add_column(col, justify="left" if col in ("stage", "first node") else "right")
        missing = unknown(estimates)
        for stage, (k, hours) in by_stage(estimates).items():
            first = next(e for e in estimates if e.stage == stage)
            gaps = sum(e.stage == stage for e in missing)
            table.add_row(stage, str(k), f"{hours:,.1f}" + (f" + {gaps} unknown" if gaps else ""),
                          f"{hours / (k - gaps):,.2f}" if k > gaps else "?", shown(first.detail))
        total = sum(e.gpu_hours or 0.0 for e in estimates)
        table.add_row("total", str(len(estimates)), f"{total:,.1f}" if not missing else f"at least {total:,.1f}",
                      "", "")
        console.print(table)
        for (stage, detail), k in Counter((e.stage, e.detail) for e in missing).items():
            console.print(f"cost unknown for {k} {stage} node(s): {shown(detail)}", highlight=False)


@command()
def status(run_dir: Path):
    """Show the state of every node of a run folder."""
    nodes = load_plan(run_dir)
    if (run_dir / "slurm" / "jobs.json").is_file():
        from rlhf_eval.launch import slurm
        table = Table(title=f"status of {shown(run_dir)} (Slurm)")
        for col in ("stage", "node", "state", "job", "reason / exit code", "log"):
            table.add_column(col)
        colors = {"done": "green", "running": "cyan", "pending": "yellow", "failed": "red"}
        for r in slurm.node_states(run_dir, nodes):
            why = " ".join(x for x in (r["slurm_state"] if r["state"] == "failed" else None, r["reason"]
                                       if r["reason"] not in (None, "None") else None,
                                       f"exit {r['exit_code']}" if r["state"] == "failed" else None) if x)
            table.add_row(r["node"].split("/")[0], shown(r["label"]),
                          f"[{colors.get(r['state'], 'white')}]{r['state']}[/]", r["job"] or "", shown(why),
                          r["log"] or "")
        console.print(table)
        return
    console.print(_node_table(run_dir, nodes, f"status of {shown(run_dir)}"))


@command()
def submit(recipe: Path, overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides"),
           dry_run: bool = typer.Option(False, "--dry-run", help="render the scripts, print the sbatch lines")):
    """Submit a recipe to Slurm: one job (or job array) per node, chained with afterok."""
    from rlhf_eval.launch import slurm

    loaded, nodes = _load(recipe, overrides or [])
    run_dir = loaded.run_dir
    with run_lock(run_dir):
        store.atomic_write_json(run_dir / "plan.json", plan_dict(loaded, nodes))
        jobs = slurm.submit(loaded.recipe, run_dir, nodes, dry_run=dry_run, echo=lambda line: print(line))
    verb = "would submit" if dry_run else "submitted"
    console.print(f"{verb} {len(jobs)} nodes in {len(set(j.split('_')[0] for j in jobs.values()))} jobs; "
                  f"scripts in {run_dir / 'slurm' / 'scripts'}; `rlhf-eval status {run_dir}` follows them",
                  highlight=False)


@command()
def cancel(run_dir: Path):
    """Cancel the Slurm jobs of a run."""
    from rlhf_eval.launch import slurm

    try:
        ids = slurm.cancel(run_dir)
    except slurm.SlurmError as exc:
        _fail(str(exc))
    console.print(f"cancelled {len(ids)} jobs" if ids else f"{shown(run_dir)}: no Slurm jobs recorded")


@command()
def node(run_dir: Path, node_id: str):
    """Run one node of a planned run (the entry point every executor uses)."""
    from rlhf_eval.device import use_threads
    from rlhf_eval.launch.node import run_node
    from rlhf_eval.pipeline import planned_threads
    from rlhf_eval.trust import check_signed
    nodes = load_plan(run_dir)
    check_signed(json.loads((run_dir / "plan.json").read_text()), run_dir / "plan.json")
    matches = [n for n in nodes if node_id in (n.id, n.key)]
    if not matches:
        _fail(f"{run_dir}: no node '{node_id}' in plan.json")
    by_id = {n.id: n for n in nodes}
    use_threads(planned_threads(run_dir))
    manifest = run_node(run_dir, matches[0], by_id)
    console.print(f"{shown(matches[0].id)} done in {manifest['duration_s']} s")


@command()
def nodes(run_dir: Path, node_ids: List[str] = typer.Argument(..., help="node ids (stage/key) or keys")):
    """Run several nodes of a planned run side by side, each with its own log (a packed Slurm
    job's entry point, slurm.pack). A failed node is recorded and the others go on; the command
    fails only when it cannot run them."""
    from rlhf_eval.launch.pack import run_wave
    from rlhf_eval.pipeline import planned_threads
    from rlhf_eval.trust import check_signed
    plan = load_plan(run_dir)
    check_signed(json.loads((run_dir / "plan.json").read_text()), run_dir / "plan.json")
    by_key = {k: n for n in plan for k in (n.id, n.key)}
    unknown = [i for i in node_ids if i not in by_key]
    if unknown:
        _fail(f"{run_dir}: no node {', '.join(map(repr, unknown))} in plan.json")
    wave = list({by_key[i].id: by_key[i] for i in node_ids}.values())
    recipe = json.loads((run_dir / "plan.json").read_text()).get("config", {}).get("recipe", {})
    workers = (recipe.get("local") or {}).get("workers")  # local.workers, else the allocation's CPUs
    failures = run_wave(run_dir, plan, wave, console, planned_threads(run_dir),
                        workers if isinstance(workers, int) and workers > 0 else None)
    for n in wave:
        state = f"[red]failed[/]: {shown(failures[n.id])}" if n.id in failures else "done"
        console.print(f"{shown(n.id)} ({shown(n.label)}): {state}", highlight=False)


@command()
def diff(run_a: Path = typer.Argument(..., help="a finished run folder (A)"),
         run_b: Path = typer.Argument(..., help="another finished run folder (B)"),
         out: Optional[Path] = typer.Option(None, "--json", help="also write the whole diff as JSON here"),
         rows: int = typer.Option(15, "--rows", help="headline numbers shown (largest moves first)")):
    """What differs between two runs (nodes, versions, seeds, data) and how far the numbers moved."""
    if out is not None:
        out_file(out, "--json")
    from rlhf_eval.report.diff import diff_runs
    d = diff_runs(run_a, run_b)
    print_diff(d, rows)
    if out:
        store.atomic_write_json(out, d)
        console.print(f"diff: {shown(out)}")


@command()
def compare(run_dirs: List[Path] = typer.Argument(..., help="finished run folders"),
            out: Path = typer.Option(Path("runs/compare"), "--out", help="folder for report.html, results.json, CSVs"),
            bootstrap: Optional[int] = typer.Option(
                None, help="bootstrap draws (default: the first run's compare.bootstrap)"),
            seed: Optional[int] = typer.Option(None, help="bootstrap seed (default: the first run's compare.seed)")):
    """Compare the RMs of several runs (same tasks, policy and settings) in one report."""
    out_folder(out, "--out", ["report.html", "results.json"])
    from rich.progress import Progress

    from rlhf_eval.compare.merge import MergeError, load_run, merge
    from rlhf_eval.compare.stage import compute
    from rlhf_eval.report.provenance import provenance
    from rlhf_eval.report.stage import render

    try:
        runs = [load_run(d) for d in run_dirs]
        by = merge(runs)
    except MergeError as exc:
        _fail(str(exc))
    cfg = dict(runs[0]["compare"])
    cfg.update({k: v for k, v in (("bootstrap", bootstrap), ("seed", seed)) if v is not None})
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("bootstrap over items, prompts and seeds", total=cfg["bootstrap"])
        result = compute(by, cfg, bar=lambda done, total: progress.update(task, completed=done))
    name = " + ".join(r["name"] for r in runs)
    written = render(result, {r["dir"]: r["funnel"] for r in runs}, name, out,
                     [provenance(Path(r["dir"])) for r in runs], runs[0]["report"].get("exports", []))
    results = json.loads(Path(written["results"]).read_text())
    print_results(results)
    console.print(f"report: {shown(written['report'])}")


@command("correlate")
def correlate(table: Path = typer.Argument(..., help="a CSV, or JSON list of rows: one row per RM"),
              rm: str = typer.Option(..., "--rm", help="the column naming the RM"),
              static: str = typer.Option(..., "--static", help="static metric columns, comma-separated"),
              downstream: str = typer.Option(..., "--downstream", help="downstream measure columns, comma-separated"),
              se: Optional[str] = typer.Option(None, "--se",
                                               help="suffix of standard-error columns, e.g. _se for rb2_se"),
              json_out: Optional[Path] = typer.Option(None, "--json", help="write the cells and the global test here"),
              draws: int = typer.Option(1000, min=100, help="bootstrap draws for the CIs over RMs"),
              permutations: int = typer.Option(10_000, min=100, help="random orderings of the RMs beyond 8 RMs"),
              seed: int = typer.Option(0, help="seed of the draws and orderings")):
    """A published table of per-RM numbers through the same verdicts as a run: permutation
    p-values over RMs, Holm over the table, a global test, and the RMs each verdict rests on."""
    from rlhf_eval.compare.published import read_table
    from rlhf_eval.compare.verdicts import verdict_table as family_table
    if json_out is not None:
        out_file(json_out, "--json")

    names = lambda text: [c.strip() for c in text.split(",") if c.strip()]  # noqa: E731
    st, down = read_table(table, rm, names(static), names(downstream), se)
    result = family_table(st, down, draws=draws, seed=seed, permutations=permutations)
    rel = lambda v: "?" if v is None or v != v else f"{v:.2f}"  # noqa: E731
    rows = [(c["static"], c["downstream"], c["verdict"], signed(c["spearman"]), ci_text(c["ci"]),
             format_p(c["p"]), format_p(c["p_adjusted"]),
             f"{rel(c['reliability']['static'])}/{rel(c['reliability']['downstream'])}") for c in result["cells"]]
    console.print(verdict_rows(f"does the static ranking predict the downstream one? ({shown(table.name)}, "
                               f"{len(result['rms'])} RMs)", rows, extra=("rel s/d",)))
    for line in resting_lines([(c["static"], c["downstream"], c) for c in result["cells"]]):
        console.print(shown(line), highlight=False)
    lines = family_lines({"family": {"size": result["family_size"], "explained": result["explained"],
                                     "global": result["global"], "declarable": result["declarable"],
                                     "alpha": result["alpha"]}})
    for line in lines:
        console.print(line, highlight=False)
    if any(c["reliability"]["static"] is None or c["reliability"]["downstream"] is None for c in result["cells"]):
        console.print("rel s/d: reliability of the static and downstream column; '?' where a column has means without "
                      "standard errors (--se), so the disattenuated correlation is not computed there.",
                      highlight=False, style="dim")
    if json_out:
        store.atomic_write_text(json_out, json.dumps(_finite(result), indent=1) + "\n")
        console.print(f"cells: {shown(json_out)}")


def _finite(x):
    """JSON has no nan: None in its place."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return None if isinstance(x, float) and x != x else x


@command("audit-contamination")
def audit_contamination(
    data: List[str] = typer.Argument(..., help="training data files (.jsonl/.json/.parquet)"),
    against: List[str] = typer.Option(..., "--against", help="benchmark name or file with a prompt column"),
    ngram: int = typer.Option(13, help="n-gram length in whitespace tokens"),
    prompt_column: str = typer.Option("prompt", help="prompt column of benchmark files"),
    out: Path = typer.Option(Path("contamination.json"), help="where to write the JSON report"),
):
    """Which training rows share an n-gram with which benchmark prompts."""
    from rlhf_eval.curate.audit import audit
    out_file(out, "--out")

    try:
        report = audit(list(data), list(against), ngram, prompt_column)
    except ValueError as exc:
        _fail(str(exc))
    store.atomic_write_json(out, report)
    console.print(f"{report['rows']} training rows ({report['unreadable_rows']} unreadable, skipped), "
                  f"{ngram}-grams:", highlight=False)
    for bench, res in report["benchmarks"].items():
        ids = ", ".join(r["id"] for r in res["rows"][:5]) + (" ..." if len(res["rows"]) > 5 else "")
        console.print(f"- {bench}: {res['overlapping_rows']} overlapping rows, hitting "
                      f"{res['benchmark_items_hit']} benchmark items{': ' + ids if ids else ''}",
                      highlight=False)
    console.print(f"report: {shown(out)}")


bench_app = typer.Typer(no_args_is_help=True, help="Static RM benchmarks.")
app.add_typer(bench_app, name="bench")


@command("score", group=bench_app)
def bench_score(
    benchmark: str = typer.Argument(..., help=listing(BENCHMARKS) + ", or a toy benchmark (scored by its real "
                                    "one's rules): " + ", ".join(TOY)),
    data: str = typer.Option(..., "--data", help="benchmark rows in the published schema (.jsonl/.json/"
                                                 ".parquet) or hf:<dataset id>"),
    scores: Optional[Path] = typer.Option(None, "--scores", help='one row per item: {"id": ..., "scores": [...]}'),
    decisions: Optional[Path] = typer.Option(
        None, "--decisions",
        help='judgebench: an LLM judge\'s decisions, {"id": pair_id, "decisions": ["A>B", "B>A"]}'),
    out: Optional[Path] = typer.Option(None, "--out", help="also write metrics.json into this folder"),
    split: Optional[str] = typer.Option(None, help="split of a hub dataset"),
    column: List[str] = typer.Option([], "--column", help="pairwise/best-of-k: FIELD=COLUMN, e.g. prompt=question"),
    bootstrap: int = typer.Option(1000, help="bootstrap resamples for the 95% CIs (0: none)"),
    seed: int = typer.Option(0),
):
    """Score a benchmark from saved RM scores, without rerunning the RM."""
    if out is not None:
        out_folder(out, "--out", ["metrics.json"])
    from rlhf_eval.bench.evaluate import evaluate, json_safe
    from rlhf_eval.bench.loading import load_items
    from rlhf_eval.bench.probes import length_baseline
    from rlhf_eval.bench.saved import read_scores

    columns = _columns(column)
    if (scores is None) == (decisions is None):
        _fail("give --scores (RM scores) or --decisions (an LLM judge's decisions), one of them")
    if decisions is not None and benchmark != "judgebench":
        _fail(f"--decisions is for judgebench; {benchmark} is scored from --scores")
    try:
        bench, items, where = load_items(benchmark, data=data, split=split, columns=columns)
        if decisions is not None:
            from rlhf_eval.bench.evaluate import evaluate_outcomes
            from rlhf_eval.bench.judgebench import decision_outcomes
            from rlhf_eval.bench.saved import read_decisions
            o = decision_outcomes(items, read_decisions(decisions, items))
            result = evaluate_outcomes(bench, o, bootstrap, seed) | {"notes": bench.notes(items)}
        else:
            values, swapped = read_scores(scores, items)
            result = json_safe(evaluate(bench, items, values, bootstrap, seed, swapped=swapped, where=str(scores)))
            result["length_baseline"] = length_baseline(bench, items, bootstrap, seed)
    except ValueError as exc:
        _fail(str(exc))
    for note in result["notes"]:
        Console(stderr=True).print(f"warning: {shown(note)}", highlight=False)
    result |= {"data": where} | ({"scores": str(scores)} if scores else {"decisions": str(decisions)})
    text = json.dumps(result, indent=2, sort_keys=False)
    print(text)
    if out is not None:
        store.atomic_write_json(out / "metrics.json", result)
        Console(stderr=True).print(f"wrote {shown(out / 'metrics.json')}", highlight=False)


@command("score")
def score(
    card: str = typer.Argument(..., help="RM card name (reward_models/<name>.yaml; see `Where cards are found` "
                                         "in the README)"),
    benchmark: str = typer.Option(..., "--benchmark", "-b", help=listing(BENCHMARKS) + ", or a toy benchmark: "
                                  + ", ".join(TOY)),
    data: Optional[str] = typer.Option(None, "--data", help="the benchmark's rows in its published schema "
                                       "(.jsonl/.json/.parquet) or hf:<dataset id>; default: its hub copy"),
    run: Optional[Path] = typer.Option(None, help="a run folder: the RM it trained for the card (its first seed), "
                                       "and its toy world for toy benchmarks and toy models"),
    out: Optional[Path] = typer.Option(None, "--out", help="folder for scores.jsonl, units.jsonl and metrics.json "
                                       "(default: runs/scores/CARD/BENCHMARK)"),
    split: Optional[str] = typer.Option(None, help="split of a hub dataset"),
    scored_as: Optional[str] = typer.Option(None, help="score the rows by another benchmark's rules"),
    column: List[str] = typer.Option([], "--column", help="pairwise/best-of-k: FIELD=COLUMN, e.g. prompt=question"),
    bootstrap: int = typer.Option(1000, help="bootstrap resamples for the 95% CIs (0: none)"),
    seed: int = typer.Option(0, help="seed of the bootstrap"),
):
    """Score one RM card on one benchmark: loads the card's model (nothing is trained) and writes
    the scores in `bench score`'s format with the official metrics and their 95% CIs."""
    from rlhf_eval.bench.one_rm import score_card
    from rlhf_eval.report.console import print_scores
    folder = out_folder(out or Path("runs") / "scores" / card / benchmark, "--out",
                        ["metrics.json", "scores.jsonl", "decisions.jsonl", "units.jsonl"])
    try:
        from rlhf_eval.pipeline import rm_node
        in_run = run is not None and rm_node(load_plan(run), card) is not None
        manifest = rm_for_serving(card, run if in_run else None, "score")
        with terminal_bar() as bar:
            metrics = score_card(manifest, benchmark, folder, bar, data=data, split=split, scored_as=scored_as,
                                 columns=_columns(column), run=run, bootstrap=bootstrap, seed=seed)
    except (ValueError, ConfigError, OSError) as exc:
        _fail(str(exc))
    print_scores(metrics)
    console.print(f"wrote {shown(folder)}/: metrics.json, {'decisions' if 'decisions' in metrics else 'scores'}"
                  ".jsonl, units.jsonl", highlight=False)


def _columns(column: list[str]) -> dict:
    columns = {}
    for c in column:
        if "=" not in c:
            _fail(f"--column {c!r}: expected FIELD=COLUMN")
        k, v = c.split("=", 1)
        columns[k] = v
    return columns


@contextlib.contextmanager
def terminal_bar():
    """A `bar(label, total)` for work done in this process (NodeContext.bar's shape), on stderr."""
    from rich.progress import Progress

    from rlhf_eval.launch.local import COLUMNS
    with Progress(*COLUMNS, console=Console(stderr=True), transient=True) as progress:
        @contextlib.contextmanager
        def bar(label: str, total):
            task = progress.add_task(shown(label), total=total)
            try:
                yield lambda done, total=None: progress.update(task, completed=done,
                                                               **({"total": total} if total else {}))
            finally:
                progress.remove_task(task)
        yield bar


def rm_for_serving(card_name: str, run: Optional[Path], command: str = "serve-rm") -> dict:
    """A train_rm-style manifest for CARD: its trained node in RUN, or the card's own `path` (or
    server, for a remote or openai card)."""
    from rlhf_eval.config import RMCard, load_card
    from rlhf_eval.pipeline import rm_node
    here = Path.cwd() / "recipes" / "-"  # cards are found as for a recipe in ./recipes (config.cards)
    if run is not None:
        from rlhf_eval import trust
        node = rm_node(load_plan(run), card_name)
        manifest, why = node_done(run, node) if node else (None, None)
        if manifest is None:
            raise UserError(f"{run}: no finished train_rm node for RM '{card_name}'" + (f" ({why})" if why else ""))
        try:  # a plan this user's run signed carries their own card; any other is checked against it
            trust.check_signed(json.loads((run / "plan.json").read_text()), run / "plan.json")
        except UserError:
            try:
                local = load_card(card_name, "reward_models", RMCard, here, "local card")
            except ConfigError:
                local = None
            trust.check_claims(node.params["card"], f"{run / 'plan.json'} (not signed here)", local)
        return manifest
    card = load_card(card_name, "reward_models", RMCard, here, command)
    from rlhf_eval.rm.stage import card_outputs
    if card.backend in ("remote", "openai"):
        return {"outputs": card_outputs(card) | {"path": None}}
    if card.path is None:
        raise UserError(f"RM card '{card_name}' has no `path` (a recipe trains it); give --run RUN_DIR to use the RM "
                        "a run trained for it, or set `path` to a checkpoint")
    from rlhf_eval.config import PolicyCard
    from rlhf_eval.rm.stage import given_reference
    from rlhf_eval.rm.wiring import uses_toy
    try:  # a base named by policy card, as a recipe resolves it
        base = load_card(card.base, "policies", PolicyCard, here, command).path
    except ConfigError:
        base = card.base
    if uses_toy(card, base):
        raise UserError(f"RM card '{card_name}' names a toy-world model; give --run RUN_DIR of a run that built the "
                        "toy world")
    path = card.path.removeprefix("hf:")
    return {"outputs": card_outputs(card) | given_reference(card, path, lambda ref: ref.removeprefix("hf:"), base)
            | {"path": path}}


@command("serve-rm")
def serve_rm(
    card: str = typer.Argument(..., help="RM card name"),
    run: Optional[Path] = typer.Option(None, help="serve the RM this run folder trained for the card"),
    host: str = typer.Option("127.0.0.1", help="anything but loopback needs --token-env"),
    port: int = typer.Option(5000),
    token_env: Optional[str] = typer.Option(None, help="environment variable holding a fixed token"),
    signing_key_env: Optional[str] = typer.Option(
        None, help="environment variable holding a signing key: accept job tokens from `rlhf-eval rm-token`"),
    job: Optional[str] = typer.Option(None, help="accept job tokens for this job only (needs --signing-key-env)"),
    max_batch: int = typer.Option(256, help="rows scored together across concurrent requests"),
    max_body_mb: float = typer.Option(16, help="larger request bodies get HTTP 413"),
    max_rows: int = typer.Option(4096, help="more rows in one request get HTTP 413"),
    max_chars: int = typer.Option(200_000, help="a longer query, prompt or response gets HTTP 413"),
    timeout_s: float = typer.Option(60, help="drop a connection idle or half-sent for this long"),
):
    """Serve an RM over OpenRLHF's remote-RM protocol (POST /get_reward). OpenRLHF's requests
    (no `responses` field) are scored as sent; see docs/rl.md."""
    from rlhf_eval.rm.base import TrainedRM, load_scorer
    from rlhf_eval.rm.serve import Limits, make_server

    token, key = _env_secret("--token-env", token_env), _env_secret("--signing-key-env", signing_key_env)
    try:
        manifest = rm_for_serving(card, run)
        if manifest["outputs"]["backend"] in ("remote", "openai"):
            _fail(f"RM card '{card}' is itself remote ({manifest['outputs']['url']})")
        if TrainedRM.from_outputs(manifest["outputs"]).pairwise:
            _fail(f"RM card '{card}' is a pairwise judge: it gives no reward to one response, so it cannot serve RL "
                  "(pairwise judges in RL are out of scope; docs/generative.md)")
        limits = Limits(int(max_body_mb * 2**20), max_rows, max_chars, timeout_s)
        server = make_server(load_scorer(manifest), host, port, token, limits=limits,
                             max_batch=max_batch, signing_key=key, job=job)
    except (ValueError, ConfigError, OSError) as exc:
        _fail(str(exc))
    h, p = server.server_address[:2]
    auth = " (token required)" if token or key else ""
    if job:
        auth = f" (job tokens for '{job}' only)"
    console.print(f"serving RM '{shown(card)}' on http://{h}:{p}/get_reward{auth}; Ctrl-C stops", highlight=False)
    serve_until_signalled(server, "serve-rm")


@command("serve-judge")
def serve_judge(
    card: str = typer.Argument(..., help="RM card name (kind generative, backend transformers)"),
    run: Optional[Path] = typer.Option(None, help="serve the judge this run folder trained for the card"),
    model_name: Optional[str] = typer.Option(None, help="the model name clients ask for (default: the card's)"),
    host: str = typer.Option("127.0.0.1", help="anything but loopback needs --token-env"),
    port: int = typer.Option(8000),
    token_env: Optional[str] = typer.Option(None, help="environment variable holding the API key clients must send"),
    max_body_mb: float = typer.Option(16, help="larger request bodies get HTTP 413"),
    max_chars: int = typer.Option(200_000, help="a longer message gets HTTP 413"),
    timeout_s: float = typer.Option(60, help="drop a connection idle or half-sent for this long"),
):
    """Serve a generative judge's model as an OpenAI-compatible endpoint, the way it was trained: a
    chat judge on POST /v1/chat/completions, a completion-style one (judge.chat: false) on POST
    /v1/completions; GET /v1/models lists it. For RM cards with backend openai or any OpenAI
    client; see docs/generative.md."""
    from rlhf_eval.rm.http import Limits
    from rlhf_eval.rm.judge_transformers import TransformersJudge
    from rlhf_eval.rm.serve_judge import make_judge_server

    token = _env_secret("--token-env", token_env)
    try:
        out = rm_for_serving(card, run, "serve-judge")["outputs"]
        if out["kind"] != "generative" or out["backend"] != "transformers":
            _fail(f"RM card '{card}' is a {out['kind']} RM on backend {out['backend']}; serve-judge serves "
                  "generative RMs with a local model (backend transformers)")
        backend = TransformersJudge(out["path"], out["batch_size"], out["chat_template"], out["trust_remote_code"])
        limits = Limits(max_body=int(max_body_mb * 2**20), max_chars=max_chars, timeout_s=timeout_s)
        chat = out["judge"]["chat"]
        server = make_judge_server(backend, model_name or card, host, port, token, limits, chat=chat)
    except (ValueError, ConfigError, OSError) as exc:
        _fail(str(exc))
    h, p = server.server_address[:2]
    route = "chat completions" if chat else "completions (judge.chat: false: prompt text, as it was trained)"
    console.print(f"serving judge '{shown(card)}' as model '{shown(model_name or card)}' on http://{h}:{p}/v1 "
                  f"({route}){' (API key required)' if token else ''}; Ctrl-C stops",
                  highlight=False)
    serve_until_signalled(server, "serve-judge")


def serve_until_signalled(server, name: str) -> None:
    """Serve until SIGINT (Ctrl-C) or SIGTERM (Slurm, Kubernetes). The handler asks the server to
    stop from another thread, as shutdown() must be, instead of raising KeyboardInterrupt wherever
    the main thread happens to be."""
    import signal
    import threading

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    server.serve_forever()
    server.server_close()
    console.print(f"{name} stopped", highlight=False)


def _env_secret(option: str, name: Optional[str]) -> Optional[str]:
    import os
    value = os.environ.get(name) if name else None
    if name and not value:
        _fail(f"{option} {name}: that environment variable is not set")
    return value


@command("rm-token")
def rm_token(
    job: str = typer.Option(..., help="the job the token is for (letters, digits, _ or -)"),
    signing_key_env: str = typer.Option(..., help="environment variable holding serve-rm's signing key"),
    ttl: str = typer.Option("24h", help="lifetime: 90s, 30m, 12h, 2d"),
):
    """Mint a job token for `serve-rm --signing-key-env`: it names one job and expires. Put it in
    the environment variable the remote RM card's `api_key_env` names."""
    from rlhf_eval.rm.tokens import TokenError, mint, parse_duration
    key = _env_secret("--signing-key-env", signing_key_env)
    try:
        print(mint(key, job, parse_duration(ttl)))
    except TokenError as exc:
        _fail(str(exc))


@command("rl-command")
def rl_command(
    recipe: Path = typer.Argument(..., help="recipe YAML"),
    rm: str = typer.Option(..., "--rm", help="RM card name (one of the recipe's reward_models)"),
    policy: str = typer.Option(..., "--policy", help="policy card name"),
    seed: Optional[int] = typer.Option(None, "--seed", help="one of rl.seeds (default: the first)"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides"),
):
    """Print the OpenRLHF train_ppo_ray command the rl_train node would submit, on one line."""
    from rlhf_eval.pipeline import rm_card_of
    from rlhf_eval.rl.base import rl_run
    from rlhf_eval.rl.openrlhf_cmd import TOKEN_ENV, TOKEN_REF, CommandError, one_line
    from rlhf_eval.rl.openrlhf_engine import job_command
    from rlhf_eval.rl.wiring import NAME as RL_STAGE
    from rlhf_eval.toy.stage import resolve

    loaded, nodes = _load(recipe, list(overrides or []))
    seeds = list(loaded.recipe.rl.seeds)
    if seed is not None and seed not in seeds:
        _fail(f"--seed {seed} is not one of rl.seeds={seeds}")
    by_id = {n.id: n for n in nodes}
    want = seeds[0] if seed is None else seed
    node = next((n for n in nodes if n.stage == RL_STAGE and rm_card_of(n, by_id) == rm
                 and n.params["policy"]["name"] == policy and n.params["rl"]["seed"] == want), None)
    gaps = not_planned(loaded)
    if node is None and (rm, "rl") in gaps:
        _fail(f"no rl_train node for --rm {rm}: {gaps[rm, 'rl']}")
    if node is None:
        _fail(f"no rl_train node for --rm {rm} --policy {policy} in {recipe} "
              f"(reward_models: {', '.join(loaded.recipe.reward_models)}; "
              f"policies: {', '.join(loaded.recipe.policies)}; rl.enabled={loaded.recipe.rl.enabled})")
    run_dir = loaded.run_dir
    outs = {}
    for role in ("rm", "toy"):
        dep = by_id.get(node.deps.get(role)) if node.deps.get(role) else None
        m, damaged = node_done(run_dir, dep) if dep else (None, None)
        if dep is not None and m is None:
            _fail(f"{dep.stage} '{dep.label}' " + (f"was damaged ({damaged})" if damaged else "has not run yet")
                  + f": run `rlhf-eval run {recipe}` first (or give the RM card a trained `path`)")
        outs[role] = m["outputs"] if m else None
    rl = rl_run(node.params["rl"])
    seed = rl.seed
    if rl.engine != "openrlhf":
        _fail(f"{recipe} has rl.engine={rl.engine}; add rl.engine=openrlhf to see the OpenRLHF command")
    try:
        policy_path = resolve(node.params["policy"]["path"], outs["toy"], "policy")
        argv, _, _ = job_command(rl, seed, policy_path, outs["rm"], run_dir / node.stage / node.key)
    except (CommandError, ValueError) as exc:
        _fail(str(exc))
    print(one_line(argv))
    if any(TOKEN_REF in a for a in argv):
        Console(stderr=True).print(
            f"The RM token shows as ***. The rl_train node reads it from ${outs['rm']['api_key_env']} and "
            f"hands it to the Ray job as {TOKEN_ENV} in its runtime_env; the job's shell puts it in the URL.",
            highlight=False)


def main() -> None:
    quiet_libraries()
    app()


if __name__ == "__main__":
    sys.exit(main())
