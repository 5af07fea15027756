#!/bin/bash
# One Slurm job, one task per GPU over two nodes: srun starts the tasks, and each `fp4lab run --shard auto` takes its
# shard from SLURM_PROCID/SLURM_NTASKS and its GPU from SLURM_LOCALID (or the one GPU Slurm bound it to). The merge
# then refuses anything but a complete set of shards of one plan. Submit with: sbatch slurm_batch.sh
#SBATCH --job-name=fp4lab-eval
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --time=04:00:00
set -euo pipefail

FP4LAB=${FP4LAB:-fp4lab}
OUT=${OUT:-results}    # shard files in $OUT/shards, merged run in $OUT/results.sqlite (a folder every node sees)
DEVICE=${DEVICE:-cuda}
RUN_ARGS=${RUN_ARGS:---model /models/ckpt-nvfp4 --reference /models/ckpt-bf16 --precisions nvfp4,fp8 --tasks mmlu,humaneval,perplexity --allow-code-exec}

mkdir -p "$OUT/shards"
# shellcheck disable=SC2086  # RUN_ARGS is a list of words
srun "$FP4LAB" run --shard auto --device "$DEVICE" --db "$OUT/shards/results-{rank}.sqlite" --report "" $RUN_ARGS
"$FP4LAB" merge "$OUT/results.sqlite" "$OUT"/shards/results-*.sqlite
"$FP4LAB" report --db "$OUT/results.sqlite" --out "$OUT/report.html"
