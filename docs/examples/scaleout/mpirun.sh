#!/bin/bash
# Open MPI: mpirun starts the processes (here 8 over the hosts in hostfile, 4 per node); each `fp4lab run --shard
# auto` takes its shard from OMPI_COMM_WORLD_RANK/SIZE and its GPU from OMPI_COMM_WORLD_LOCAL_RANK. fp4lab uses no
# MPI calls: mpirun is only the launcher. Inside a Slurm allocation mpirun's variables take precedence over Slurm's.
set -euo pipefail

FP4LAB=${FP4LAB:-fp4lab}
OUT=${OUT:-results}
DEVICE=${DEVICE:-cuda}
RUN_ARGS=${RUN_ARGS:---model /models/ckpt-nvfp4 --reference /models/ckpt-bf16 --precisions nvfp4,fp8 --tasks mmlu,humaneval,perplexity --allow-code-exec}
NP=${NP:-8}

mkdir -p "$OUT/shards"
# shellcheck disable=SC2086  # RUN_ARGS is a list of words
mpirun -np "$NP" --map-by ppr:4:node -x FP4LAB_DATA_DIR \
  "$FP4LAB" run --shard auto --device "$DEVICE" --db "$OUT/shards/results-{rank}.sqlite" --report "" $RUN_ARGS
"$FP4LAB" merge "$OUT/results.sqlite" "$OUT"/shards/results-*.sqlite
