#!/bin/bash
# rlhf-eval: curated mix
# Rendered by `rlhf-eval submit`; every value below was validated or shell-quoted.
#SBATCH --job-name=gpu-cluster-curate-b65cda2b28c0
#SBATCH --output={RUN}/slurm/logs/slurm-%j.out
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --time=01:00:00
#SBATCH --mem=64G
#SBATCH --partition=cpu
#SBATCH --requeue
#SBATCH --open-mode=append

set -euo pipefail
module load cuda/12.4
source "$HOME/venvs/rlhf-eval/bin/activate"

cd {ROOT}
NODE=curate/b65cda2b28c0

LOG={RUN}/slurm/logs/"${NODE//\//-}.out"
exec >>"$LOG" 2>&1
echo "== $(date -u +%FT%TZ) job ${SLURM_JOB_ID:-?} on $(hostname): $NODE"
# A requeued or rerun node starts over cleanly (or resumes from its .keep checkpoints).
exec {PYTHON}/python -m rlhf_eval.cli node {RUN} "$NODE"
