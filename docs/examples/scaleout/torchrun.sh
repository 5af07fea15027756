#!/bin/bash
# torchrun as a plain process launcher (--no-python runs fp4lab itself): one process per GPU of this machine, each
# taking its shard from RANK/WORLD_SIZE and its GPU from LOCAL_RANK. For several nodes, run it on each node with
# --nnodes, --node-rank and a --rdzv-endpoint as usual; the shard files must land in a folder all nodes see.
set -euo pipefail

FP4LAB=${FP4LAB:-fp4lab}
OUT=${OUT:-results}
DEVICE=${DEVICE:-cuda}
RUN_ARGS=${RUN_ARGS:---model /models/ckpt-nvfp4 --reference /models/ckpt-bf16 --precisions nvfp4,fp8 --tasks mmlu,humaneval,perplexity --allow-code-exec}
NPROC=${NPROC:-gpu}

mkdir -p "$OUT/shards"
# shellcheck disable=SC2086  # RUN_ARGS is a list of words
torchrun --standalone --nnodes=1 --nproc-per-node="$NPROC" --no-python \
  "$FP4LAB" run --shard auto --device "$DEVICE" --db "$OUT/shards/results-{rank}.sqlite" --report "" $RUN_ARGS
"$FP4LAB" merge "$OUT/results.sqlite" "$OUT"/shards/results-*.sqlite
