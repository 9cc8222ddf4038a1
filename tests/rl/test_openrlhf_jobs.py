"""The real Ray Jobs flow against a local Ray head started here: submission, status, logs and HF
checkpoint pick-up, with tests/standin_train_ppo_ray.py (a CPU stand-in, named as such) as the
job's entrypoint in place of OpenRLHF, which needs GPUs."""
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_eval.config import OpenRLHFConfig, RLConfig
from rlhf_eval.pipeline import node_manifests
from rlhf_eval.rl.openrlhf_cmd import build, hf_checkpoints
from rlhf_eval.rl.openrlhf_engine import ray_auth_headers, submit_and_follow

pytestmark = pytest.mark.slow
STANDIN = Path(__file__).resolve().parents[1] / "standin_train_ppo_ray.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    ray = str(Path(sys.executable).with_name("ray"))
    dash = free_port()
    proc = subprocess.run([ray, "start", "--head", "--port", str(free_port()), "--dashboard-host", "127.0.0.1",
                           "--dashboard-port", str(dash), "--num-cpus", "1", "--include-dashboard", "true",
                           "--disable-usage-stats"], capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        pytest.fail(f"ray start failed:\n{proc.stdout}\n{proc.stderr}")
    yield f"http://127.0.0.1:{dash}"
    subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)


def test_submit_follow_logs_and_checkpoints(ray_head, reference_run, tmp_path):
    from ray.job_submission import JobSubmissionClient
    from transformers import AutoModelForCausalLM

    run_dir, _ = reference_run
    [toy] = node_manifests(run_dir, "toy_world")
    policy = toy["outputs"]["policy"]
    rl = RLConfig(engine="openrlhf", algorithm="grpo", steps=4, prompts_per_step=2, save_every=2,
                  openrlhf=OpenRLHFConfig(entrypoint=[sys.executable, str(STANDIN)]))
    rm = {"name": "c", "kind": "classifier", "backend": "transformers", "path": "/unused/rm", "url": None}
    argv = build(rl, 0, policy, rm, str(tmp_path / "prompts.jsonl"), str(tmp_path / "job"))
    seen = []
    job = submit_and_follow(argv, ray_head, tmp_path / "job", timeout_s=300, poll_s=0.5, progress=seen.append)
    assert job["status"] == "SUCCEEDED"
    log = (tmp_path / "job" / "job.log").read_text()
    assert "stand-in step 4/4" in log and "stand-in done" in log
    assert [s for s, _ in hf_checkpoints(tmp_path / "job")] == [2, 4]
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "job" / "ckpt" / "global_step4_hf",
                                                use_safetensors=True) is not None
    assert (tmp_path / "job" / "final" / "config.json").is_file()
    # A rerun of the node follows the recorded job instead of submitting it again.
    again = submit_and_follow(argv, ray_head, tmp_path / "job", timeout_s=60, poll_s=0.5)
    assert again["job_id"] == job["job_id"]
    client = JobSubmissionClient(ray_head, headers=ray_auth_headers())
    assert [j.submission_id for j in client.list_jobs()].count(job["job_id"]) == 1


def test_failed_job_reports_its_log_tail(ray_head, tmp_path):
    argv = [sys.executable, "-c", "import sys; print('boom happened'); sys.exit(3)"]
    with pytest.raises(RuntimeError, match=r"(?s)FAILED; last log lines:.*boom happened"):
        submit_and_follow(argv, ray_head, tmp_path / "job", timeout_s=120, poll_s=0.5)


def test_rm_token_reaches_the_job_through_its_runtime_env_only(ray_head, tmp_path):
    from rlhf_eval.rl.openrlhf_cmd import TOKEN_REF

    # The job's shell expands the reference from the runtime_env, as OpenRLHF's argv would get it.
    argv = ["echo", f"reward url http://10.0.0.2:5000/get_reward?token={TOKEN_REF}"]
    job = submit_and_follow(argv, ray_head, tmp_path / "job", timeout_s=120, poll_s=0.5,
                            env_vars={"RLHF_EVAL_RM_TOKEN": "s3cret-tok"})
    assert job["status"] == "SUCCEEDED"
    log = (tmp_path / "job" / "job.log").read_text()
    assert "get_reward?token=***" in log and "s3cret" not in log  # expanded, then redacted
    record = (tmp_path / "job" / "job.json").read_text()
    assert "s3cret" not in record and "token=***" in record
