"""The Slurm executor: one sbatch script per node (or one job array per group of sibling nodes, or,
with slurm.pack, one job per wave of small CPU nodes: launch/pack.py), submitted in dependency
order with `--dependency=afterok:...` and `--kill-on-invalid-dep=yes`.
Every job runs the same entry point as the local executor, `rlhf-eval node RUN_DIR NODE_ID`, so a
run's files are the same wherever it ran.

Job ids go to RUN_DIR/slurm/jobs.json. Submitting again submits only the nodes that are neither
done (manifest) nor queued or running (squeue).
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import jinja2

from rlhf_eval import store
from rlhf_eval.errors import UserError
from rlhf_eval.launch.address import head_address
from rlhf_eval.launch.pack import read_failure
from rlhf_eval.pipeline import Node, node_done
from rlhf_eval.stages import stage

TEMPLATES = Path(__file__).resolve().parents[2] / "slurm"
SAFE = re.compile(r"^[A-Za-z0-9_.:/=,@+%-]+$")  # no quotes, spaces, $, `, ;, |, &, <, >, newlines
ACTIVE = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED")


class SlurmError(UserError, RuntimeError):
    pass


def safe(value, what: str) -> str:
    """A value going into an #SBATCH line, where shell quoting does not apply: it must be plain."""
    text = str(value)
    if not SAFE.match(text):
        raise SlurmError(f"{what}={text!r}: only letters, digits and _.:/=,@+%- may go into an #SBATCH line")
    return text


def resources(recipe, stage: str) -> dict:
    r = asdict(recipe.slurm.stages.get(stage, recipe.slurm.defaults))
    for k, v in r.items():
        for item in (v if isinstance(v, list) else [v]):
            if item not in (None, ""):
                safe(item, f"slurm.{k}")
    return r


def needs_ray_cluster(node: Node) -> bool:
    """Whether a node runs inside a Ray cluster its own job starts (its stage says: an OpenRLHF
    rl_train node does)."""
    hook = stage(node.stage).ray_cluster
    return hook is not None and hook(node)


def groups(nodes: list[Node], arrays: bool) -> list[list[Node]]:
    """Nodes in plan order, siblings (same stage, same inputs) together when arrays are on."""
    out, index = [], {}
    for n in nodes:
        sig = (n.stage, tuple(sorted(n.deps.values())))
        if arrays and sig in index and not needs_ray_cluster(n):
            out[index[sig]].append(n)
        else:
            index[sig] = len(out)
            out.append([n])
    return out


def job_groups(recipe, nodes: list[Node]) -> list[tuple[bool, list[Node]]]:
    """(packed, nodes) of each job, in an order where every job's inputs come first: with
    slurm.pack, each wave's packable nodes in one job per set of resources (launch/pack.py), the
    others as groups() makes them; ordered by wave."""
    if not recipe.slurm.pack:
        return [(False, g) for g in groups(nodes, recipe.slurm.arrays)]
    from rlhf_eval.launch.pack import packable, waves
    wave = waves(nodes)
    packed: dict[tuple, list[Node]] = {}
    rest = []
    for n in nodes:
        if packable(resources(recipe, n.stage), needs_ray_cluster(n)):  # one job per wave and set of resources
            packed.setdefault((wave[n.id], json.dumps(resources(recipe, n.stage), sort_keys=True)), []).append(n)
        else:
            rest.append(n)
    jobs = [(wave[g[0].id], False, g) for g in groups(rest, recipe.slurm.arrays)]
    jobs += [(w, True, g) for (w, _), g in packed.items()]
    return [(p, g) for _, p, g in sorted(jobs, key=lambda j: j[0])]


def render(recipe, run_dir: Path, group: list[Node], packed: bool = False) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    first = group[0]
    run_dir = run_dir.absolute()
    if packed:
        return env.get_template("pack.sh.j2").render(
            label=f"{len(group)} nodes: " + " ".join(n.label for n in group)[:200].replace("\n", " "),
            job_name=safe(f"{recipe.name}-pack-x{len(group)}-{first.key}", "job name"),
            log=safe(run_dir / "slurm" / "logs" / "slurm-%j.out", "log path"), r=resources(recipe, first.stage),
            array=False, requeue=recipe.slurm.requeue, setup=recipe.slurm.setup,
            cwd=shlex.quote(str(Path.cwd())), python=shlex.quote(sys.executable),
            run_dir=shlex.quote(str(run_dir)), node_ids=[shlex.quote(n.id) for n in group])
    name = f"{recipe.name}-{first.stage}" + (f"-x{len(group)}" if len(group) > 1 else f"-{first.key}")
    # Slurm's own output (before the node starts); each node then logs to <stage>-<key>.out.
    log = run_dir / "slurm" / "logs" / ("slurm-%A_%a.out" if len(group) > 1 else "slurm-%j.out")
    r = resources(recipe, first.stage)
    ray = needs_ray_cluster(first)
    return env.get_template("ray_cluster.sh.j2" if ray else "node.sh.j2").render(
        label=" ".join(n.label for n in group)[:200].replace("\n", " "),
        job_name=safe(name, "job name"), log=safe(log, "log path"), r=r,
        array=len(group) > 1, requeue=recipe.slurm.requeue,
        setup=recipe.slurm.setup,  # the user's own shell lines, run as written
        cwd=shlex.quote(str(Path.cwd())), python=shlex.quote(sys.executable),
        ray=shlex.quote(str(Path(sys.executable).with_name("ray"))), join_timeout=600,
        head_address=head_address(recipe.slurm.ray_head_address),
        run_dir=shlex.quote(str(run_dir)), node_ids=[shlex.quote(n.id) for n in group],
        logdir=shlex.quote(str(run_dir / "slurm" / "logs")))


def _sh(args: list[str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SlurmError(f"{' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def parse_sacct(text: str) -> dict[str, dict]:
    """`sacct -n -P -X -o JobID,State,ExitCode,Reason` lines; array tasks are listed as <id>_<k>,
    a state may read "CANCELLED by 1000"."""
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        jid, state, code, reason = (line.split("|") + ["", "", ""])[:4]
        out[jid] = {"state": state.split()[0] if state else None, "reason": reason or None, "exit_code": code or None}
    return out


def _sacct(job_ids: list[str]) -> dict[str, dict] | None:
    """States from Slurm's accounting, or None where the cluster keeps none."""
    proc = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode,Reason", "-j", ",".join(job_ids)],
                          capture_output=True, text=True)
    if proc.returncode != 0 or "accounting storage is disabled" in proc.stdout + proc.stderr:
        return None
    return parse_sacct(proc.stdout)


def _scontrol(jid: str) -> dict[str, dict]:
    out = {}
    show = subprocess.run(["scontrol", "-o", "show", "job", jid], capture_output=True, text=True)
    for line in show.stdout.splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        key = f"{f['ArrayJobId']}_{f['ArrayTaskId']}" if f.get("ArrayTaskId") else f.get("JobId", jid)
        out[key] = {"state": f.get("JobState"), "reason": f.get("Reason"), "exit_code": f.get("ExitCode")}
    return out


def job_states(job_ids: list[str]) -> dict[str, dict]:
    """{job id (array tasks as <id>_<k>): {state, reason, exit_code}} from squeue, then, for jobs
    squeue no longer lists, sacct where the cluster keeps accounting, else scontrol (which forgets
    a job MinJobAge seconds after it ended, 300 by default)."""
    out: dict[str, dict] = {}
    if not job_ids:
        return out
    q = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T|%r", "-j", ",".join(job_ids)], capture_output=True,
                       text=True)
    for line in q.stdout.splitlines():
        jid, state, reason = line.split("|", 2)
        out[jid] = {"state": state, "reason": reason, "exit_code": None}
    gone = [j for j in job_ids if not any(k == j or k.startswith(f"{j}_") for k in out)]
    if gone:
        acct = _sacct(gone)
        for jid in gone:
            found = {k: v for k, v in (acct or {}).items() if k == jid or k.startswith(f"{jid}_")}
            out |= found or _scontrol(jid)
    return out


def jobs_file(run_dir: Path) -> Path:
    return run_dir / "slurm" / "jobs.json"


def read_jobs(run_dir: Path) -> dict[str, str]:
    """{node id: job ref} recorded by earlier submits; a ref is <job> or <job>_<array task>."""
    return json.loads(jobs_file(run_dir).read_text()) if jobs_file(run_dir).is_file() else {}


def job_ids(jobs: dict[str, str]) -> list[str]:
    return sorted({ref.split("_")[0] for ref in jobs.values()})


def state_of(states: dict[str, dict], ref: str | None) -> dict | None:
    """The state of a job ref: its own entry, else its array job's."""
    return (states.get(ref) or states.get(ref.split("_")[0])) if ref else None


def submit(recipe, run_dir: Path, nodes: list[Node], dry_run: bool = False, echo=print) -> dict:
    """Render and submit every node that is neither done nor queued; returns {node id: job ref}."""
    jobs = read_jobs(run_dir)
    states = {} if dry_run else job_states(job_ids(jobs))
    live = {nid: ref for nid, ref in jobs.items() if (state_of(states, ref) or {}).get("state") in ACTIVE}
    by_id = {n.id: n for n in nodes}
    for n in nodes:  # what a node's stage says its Slurm resources must hold (Stage.slurm_check)
        check = stage(n.stage).slurm_check
        problem = check(n, by_id, resources(recipe, n.stage)) if check is not None else None
        if problem:
            raise SlurmError(problem)
    submitted = {}
    for packed, group in job_groups(recipe, nodes):
        todo = [n for n in group if node_done(run_dir, n)[0] is None and n.id not in live]
        if not todo:
            continue
        script = render(recipe, run_dir, todo, packed)
        path = run_dir / "slurm" / "scripts" / f"{'pack-' if packed else ''}{todo[0].stage}-{todo[0].key}.sh"
        store.atomic_write_text(path, script)
        (run_dir / "slurm" / "logs").mkdir(parents=True, exist_ok=True)
        # An array element is depended on as <job>_<task>, so one failed sibling does not
        # cancel what depends only on the others.
        parents = sorted({live.get(d) or submitted.get(d) for n in todo for d in n.deps.values()
                          if live.get(d) or submitted.get(d)})
        cmd = ["sbatch", "--parsable", "--kill-on-invalid-dep=yes"]
        if parents:
            cmd.append("--dependency=afterok:" + ":".join(parents))
        cmd.append(str(path))
        if dry_run:
            echo(shlex.join(cmd))
            job = f"DRYRUN-{len(submitted)}"
        else:
            job = _sh(cmd).strip().split(";")[0]
        for k, n in enumerate(todo):
            submitted[n.id] = f"{job}_{k}" if len(todo) > 1 and not packed else job
    if not dry_run:
        store.atomic_write_json(jobs_file(run_dir), jobs | submitted)
    return submitted


def node_states(run_dir: Path, nodes: list[Node]) -> list[dict]:
    """done / running / pending / failed / todo per node, with Slurm's reason and exit code."""
    jobs = read_jobs(run_dir)
    states = job_states(job_ids(jobs))
    rows = []
    for n in nodes:
        ref = jobs.get(n.id)
        s = state_of(states, ref)
        if node_done(run_dir, n)[0] is not None:
            state = "done"
        elif s is None:
            state = "todo" if ref is None else "unknown"
        elif s["state"] in ("RUNNING", "COMPLETING", "CONFIGURING"):
            state = "running"
        elif s["state"] in ACTIVE:
            state = "pending"
        else:
            state = "failed"
        log = run_dir / "slurm" / "logs" / f"{n.stage}-{n.key}.out"
        # a packed node fails inside a job that goes on: its own record says why
        failure = read_failure(run_dir, n) if state in ("failed", "unknown") else None
        if failure:
            state = "failed"
        rows.append({"node": n.id, "label": n.label, "state": state, "job": ref,
                     "slurm_state": s["state"] if s else None,
                     "reason": failure or (s["reason"] if s else None),
                     "exit_code": s["exit_code"] if s else None, "log": str(log) if log.exists() else None})
    return rows


def cancel(run_dir: Path) -> list[str]:
    ids = job_ids(read_jobs(run_dir))
    if ids:
        _sh(["scancel", *ids])
    return ids
