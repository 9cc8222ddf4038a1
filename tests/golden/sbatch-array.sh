#!/bin/bash
# rlhf-eval: rm=skywork-llama-8b bench=rewardbench rm=skywork-llama-8b bench=rewardbench2 rm=skywork-llama-8b bench=rm-bench
# Rendered by `rlhf-eval submit`; every value below was validated or shell-quoted.
#SBATCH --job-name=gpu-cluster-static_bench-x3
#SBATCH --output={RUN}/slurm/logs/slurm-%A_%a.out
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --mem=64G
#SBATCH --gpus-per-node=1
#SBATCH --partition=gpu
#SBATCH --array=0-2
#SBATCH --requeue
#SBATCH --open-mode=append

set -euo pipefail
module load cuda/12.4
source "$HOME/venvs/rlhf-eval/bin/activate"

cd {ROOT}
NODES=(static_bench/1a2c49f3bfa9 static_bench/c622de16d6f3 static_bench/69284ce73e58 )
NODE="${NODES[$SLURM_ARRAY_TASK_ID]}"

LOG={RUN}/slurm/logs/"${NODE//\//-}.out"
exec >>"$LOG" 2>&1
echo "== $(date -u +%FT%TZ) job ${SLURM_JOB_ID:-?} on $(hostname): $NODE"
# A requeued or rerun node starts over cleanly (or resumes from its .keep checkpoints).
exec {PYTHON}/python -m rlhf_eval.cli node {RUN} "$NODE"
