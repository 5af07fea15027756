#!/bin/bash
# A Slurm job array, one array element per shard: each element runs one `fp4lab run --shard auto`, which takes shard
# (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) of SLURM_ARRAY_TASK_COUNT. Elements may run whenever the queue lets
# them; a merge job that waits for all of them joins the shards:
#   jobid=$(sbatch --parsable job_array.sh)
#   sbatch --dependency=afterok:$jobid --wrap 'fp4lab merge results/results.sqlite results/shards/results-*.sqlite'
#SBATCH --job-name=fp4lab-shard
#SBATCH --array=0-7
#SBATCH --ntasks=1
#SBATCH --gpus=1
#SBATCH --time=02:00:00
set -euo pipefail

FP4LAB=${FP4LAB:-fp4lab}
OUT=${OUT:-results}
DEVICE=${DEVICE:-cuda}
RUN_ARGS=${RUN_ARGS:---model /models/ckpt-nvfp4 --reference /models/ckpt-bf16 --precisions nvfp4,fp8 --tasks mmlu,humaneval,perplexity --allow-code-exec}

mkdir -p "$OUT/shards"
# A resubmitted element finishes its shard instead of starting over.
resume=()
if [ -e "$OUT/shards/results-$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN)).sqlite" ]; then resume=(--resume); fi
# shellcheck disable=SC2086  # RUN_ARGS is a list of words
"$FP4LAB" run --shard auto --device "$DEVICE" --db "$OUT/shards/results-{rank}.sqlite" --report "" "${resume[@]}" $RUN_ARGS
