#!/bin/bash
# rlhf-eval: rm=skywork-llama-8b policy=llama-3.1-8b-instruct
# Rendered by `rlhf-eval submit`; every value below was validated or shell-quoted.
# A Ray cluster inside this allocation: the head on the first node (this script's own), a worker on
# each other node, all started with srun; once every node has joined, the node's Ray job is
# submitted to the head, and Ray is stopped on every node when the script exits, however it exits.
#SBATCH --job-name=gpu-cluster-rl_train-93947d2cd402
#SBATCH --output={RUN}/slurm/logs/slurm-%j.out
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=64
#SBATCH --time=24:00:00
#SBATCH --mem=0
#SBATCH --gpus-per-node=8
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --exclusive

set -euo pipefail
module load cuda/12.4
source "$HOME/venvs/rlhf-eval/bin/activate"

cd {ROOT}
NODE=rl_train/93947d2cd402
LOG={RUN}/slurm/logs/"${NODE//\//-}.out"
exec >>"$LOG" 2>&1
echo "== $(date -u +%FT%TZ) job ${SLURM_JOB_ID:-?} on $(hostname): $NODE (Ray cluster of ${SLURM_JOB_NUM_NODES} nodes)"

RAY={PYTHON}/ray
mapfile -t HOSTS < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
HEAD="${HOSTS[0]}"
HEAD_IP=$(hostname -I | awk '{print $1}')  # slurm.ray_head_address names the routable one
# Ports from the job id, so two jobs sharing a node do not collide.
GCS_PORT=$((20000 + SLURM_JOB_ID % 10000))
DASH_PORT=$((GCS_PORT + 10000))
# A fresh token per job: the GCS listens on the head's address, so only holders of the token may
# join or submit. srun passes it to every node through the environment.
export RAY_AUTH_MODE=token
RAY_AUTH_TOKEN=$({PYTHON}/python -c 'import secrets; print(secrets.token_hex(32))')
export RAY_AUTH_TOKEN
# Ray keeps sockets and logs here; per job, so two jobs sharing a node do not collide.
export RAY_TMPDIR="/tmp/ray-${SLURM_JOB_ID}"
RESOURCES=(--num-cpus="${SLURM_CPUS_PER_TASK:-1}" --num-gpus=8 --disable-usage-stats)
# srun does not inherit the job's --cpus-per-task since Slurm 22.05: without -c, cgroups would pin
# a Ray node to one CPU while it advertises them all.
CPUS=(--cpus-per-task="${SLURM_CPUS_PER_TASK:-1}")

stop_ray() {
  srun --overlap --nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 \
    "$RAY" stop --force >/dev/null 2>&1 || true
}
trap stop_ray EXIT

srun --overlap --nodes=1 --ntasks=1 "${CPUS[@]}" -w "$HEAD" "$RAY" start --head --block \
  --node-ip-address="$HEAD_IP" --port="$GCS_PORT" \
  --include-dashboard=true --dashboard-host=127.0.0.1 --dashboard-port="$DASH_PORT" \
  "${RESOURCES[@]}" &
{PYTHON}/python -m rlhf_eval.launch.ray_cluster wait --address "$HEAD_IP:$GCS_PORT" --nodes 1 --timeout 600
for host in "${HOSTS[@]:1}"; do
  srun --overlap --nodes=1 --ntasks=1 "${CPUS[@]}" -w "$host" "$RAY" start --block --address="$HEAD_IP:$GCS_PORT" \
    "${RESOURCES[@]}" &
done
{PYTHON}/python -m rlhf_eval.launch.ray_cluster wait --address "$HEAD_IP:$GCS_PORT" --nodes "$SLURM_JOB_NUM_NODES" --timeout 600

# The node submits its job to this cluster's head in place of rl.openrlhf.ray_address.
export RLHF_EVAL_RAY_ADDRESS="http://127.0.0.1:$DASH_PORT"
# A requeued or rerun node resumes: the job record and DeepSpeed checkpoints are in its .keep folder.
{PYTHON}/python -m rlhf_eval.cli node {RUN} "$NODE"
