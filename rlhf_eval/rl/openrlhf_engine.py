"""The cluster engine: submit OpenRLHF's `train_ppo_ray` to a Ray cluster with the Ray Jobs SDK,
follow its status and logs, and pick up its HF checkpoints.

The job id is written to `job.json` before anything else, so when our node is killed and rerun
while the job still runs, it follows that job instead of submitting a second one.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from rlhf_eval import store
from rlhf_eval.config import RLSettings
from rlhf_eval.errors import UserError
from rlhf_eval.rl.base import RLJob
from rlhf_eval.rl.openrlhf_cmd import (
    TOKEN_ENV,
    TOKEN_REF,
    CommandError,
    build,
    entrypoint,
    hf_checkpoints,
    one_line,
    write_prompt_file,
)

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


class JobFailed(UserError, RuntimeError):
    """The Ray job failed or wrote nothing usable; its log tail says why."""


def ray_auth_headers() -> dict:
    """Ray >= 2.59 enables token auth on local clusters; the token is found the way Ray finds it:
    RAY_AUTH_TOKEN, then the file at RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    if not token:
        path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
        token = path.read_text().strip() if path.is_file() else None
    return {"Authorization": f"Bearer {token}"} if token else {}


def rm_token_env(rm: dict, argv: list[str]) -> dict:
    """{TOKEN_ENV: token} for the Ray job's runtime_env, read from the RM card's `api_key_env`
    where the node runs; {} when the command needs no token."""
    if not any(TOKEN_REF in a for a in argv):
        return {}
    token = os.environ.get(rm["api_key_env"])
    if not token:
        raise CommandError(f"remote RM '{rm['name']}': environment variable {rm['api_key_env']} (api_key_env) "
                           "is not set where the rl_train node runs; OpenRLHF would get HTTP 401 and train "
                           "with no reward")
    if not re.fullmatch(r"[A-Za-z0-9._~-]+", token):
        raise CommandError(f"remote RM '{rm['name']}': the token in {rm['api_key_env']} must be URL-safe "
                           "(letters, digits, . _ ~ -): it travels in the URL")
    return {TOKEN_ENV: token}


def redact(text: str, secrets) -> str:
    for s in secrets:
        text = text.replace(s, "***")
    return text


def submit(client, command: str, runtime_env: dict, wait_s: float = 120, poll_s: float = 2.0) -> str:
    """client.submit_job, again while the head answers that no job agent is up yet: Ray 2.55 (the
    GPU set's) starts its agent some seconds after the head and says "please try again later";
    the job was not created then."""
    deadline = time.time() + wait_s
    while True:
        try:
            return client.submit_job(entrypoint=command, runtime_env=runtime_env)
        except RuntimeError as exc:
            if "No available agent to submit job" not in str(exc) or time.time() > deadline:
                raise
            time.sleep(poll_s)


def submit_and_follow(argv: list[str], address: str, out_dir: Path, timeout_s: float = 86400,
                      poll_s: float = 2.0, progress=None, env_vars: dict | None = None) -> dict:
    """env_vars go to the job's runtime_env only: job.json keeps the masked command, and job.log
    (OpenRLHF logs the reward URL) has their values replaced by ***."""
    from ray.job_submission import JobSubmissionClient

    out_dir.mkdir(parents=True, exist_ok=True)
    client = JobSubmissionClient(address, headers=ray_auth_headers())
    record = out_dir / "job.json"
    job_id = None
    if record.is_file():
        old = json.loads(record.read_text())
        if old.get("entrypoint") == one_line(argv):
            try:
                status = str(client.get_job_status(old["job_id"]).value)
            except RuntimeError:  # not on this cluster (a Slurm job's own Ray cluster, started again)
                status = "UNKNOWN"
            if status not in ("FAILED", "STOPPED", "UNKNOWN"):
                job_id = old["job_id"]  # still running, or finished: follow it
    if job_id is None:
        job_id = submit(client, entrypoint(argv), {"env_vars": dict(env_vars or {})})
        store.atomic_write_json(record, {"job_id": job_id, "address": address, "entrypoint": one_line(argv)})
    deadline = time.time() + timeout_s
    while True:
        status = str(client.get_job_status(job_id).value)
        store.atomic_write_text(out_dir / "job.log", redact(client.get_job_logs(job_id), (env_vars or {}).values()))
        if progress:
            progress(len(hf_checkpoints(out_dir)))
        if status in TERMINAL:
            break
        if time.time() > deadline:
            raise TimeoutError(f"Ray job {job_id} at {address} still {status} after {timeout_s:.0f} s; "
                               "it keeps running there, rerun to follow it again")
        time.sleep(poll_s)
    if status != "SUCCEEDED":
        tail = "\n".join((out_dir / "job.log").read_text().splitlines()[-20:])
        raise JobFailed(f"Ray job {job_id} {status}; last log lines:\n{tail}")
    return {"job_id": job_id, "status": status, "log": str(out_dir / "job.log")}


def job_command(rl: RLSettings, seed: int, policy_path: str, rm_out: dict,
                node_dir: Path) -> tuple[list[str], Path, Path]:
    """(argv, prompts file, output folder) of an rl_train node's OpenRLHF job: the one function
    `train` submits from and `rlhf-eval rl-command` prints from, so the two cannot drift. Outputs
    go to rl.openrlhf.checkpoint_dir/<key> (shared storage), else the node's keep folder, which
    outlives a killed node so a rerun follows the same job."""
    o = rl.openrlhf
    node_dir = Path(node_dir)
    keep = node_dir.with_name(f"{node_dir.name}.keep")  # NodeContext.keep_dir
    out_dir = Path(o.checkpoint_dir) / node_dir.name if o.checkpoint_dir else keep
    prompts_path = node_dir / "prompts.jsonl"
    return build(rl, seed, policy_path, rm_out, str(prompts_path), str(out_dir)), prompts_path, out_dir


def train(ctx, job: RLJob, progress) -> dict:
    """ENGINES["openrlhf"]: on the cluster the RM is loaded by OpenRLHF (or called remotely), not here."""
    rl, policy_path, rows = job.rl, job.policy_path, job.rows
    o = rl.openrlhf
    argv, prompts_path, out_dir = job_command(rl, job.seed, policy_path, ctx.out("rm"), ctx.dir)
    write_prompt_file(prompts_path, rows)
    env_vars = rm_token_env(ctx.out("rm"), argv)
    # A Slurm Ray-cluster job (slurm/ray_cluster.sh.j2) names the head it started.
    address = os.environ.get("RLHF_EVAL_RAY_ADDRESS") or o.ray_address
    job = submit_and_follow(argv, address, out_dir, o.timeout_s, env_vars=env_vars,
                            progress=lambda saved: progress(saved * rl.save_every))
    ckpts = hf_checkpoints(out_dir)
    final = out_dir / "final"
    path = final if (final / "config.json").is_file() else (ckpts[-1][1] if ckpts else None)
    if path is None:
        raise JobFailed(f"Ray job {job['job_id']} succeeded but wrote no HF model under {out_dir}")
    steps = [{"step": s, "path": str(p)} for s, p in ckpts if s < rl.steps]
    # Rewards per step stay in the job log; only the TRL engine reports a history here.
    return job | {"path": str(path), "command": one_line(argv), "history": [],
                  "checkpoints": steps + [{"step": rl.steps, "path": str(path)}]}
