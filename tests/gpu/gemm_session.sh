#!/usr/bin/env bash
# One call on a GPU machine, for the W4A16 tensor-core GEMM (docs/perf/w4a16_mma_gemm.md): builds fp4lab,
# fp4lab_gpu_tests and fp4lab_bench, runs the GEMM's GPU tests, the kernel benchmark (the GEMM beside the GEMV,
# the dequantize + cuBLASLt path and cuBLASLt bf16, with the read ceiling), `fp4lab bench` on llama-3.1-8b twice
# (bf16 and nvfp4-w4a16 with the GEMM, the default; FP4LAB_W4A16_GEMM=dequant: nvfp4-w4a16 through the dequantize +
# cuBLASLt path, the baseline of the same run; batches 1, 8, 32, prompts 128 and 2048), then the other GPU tests while
# time is left.
# Run from the repository root: OUT=DIR [BUDGET=seconds] tests/gpu/gemm_session.sh
# Machines without SQLite, PCRE2, ICU or zlib headers: the .gpu/ helpers (prepare.sh, deps.sh) are used when present.
# Logs and the JSON benchmark output land in $OUT; a short table comes last.
set -u
: "${OUT:?set OUT to the folder for logs}"
mkdir -p "$OUT"
T0=$(date +%s)
left() { echo $(( ${BUDGET:-285} - ($(date +%s) - T0) )); }  # seconds left of the call's budget
at() { echo "$1 exit $2 at $(( $(date +%s) - T0 )) s"; }
FP4LAB_GPU_CMAKE_ARGS="" FP4LAB_DEPS_CMAKE_ARGS=""
[ -f .gpu/prepare.sh ] && eval "$(bash .gpu/prepare.sh /tmp/sqlite-dev)"
[ -f .gpu/deps.sh ] && eval "$(bash .gpu/deps.sh)"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm --format=csv >"$OUT/device.txt" 2>&1
{ git rev-parse --short HEAD; git status --short; } >"$OUT/commit.txt" 2>/dev/null
B=build-gpu
# shellcheck disable=SC2086  # the CMake argument lists are lists
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DFP4LAB_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DFP4LAB_BUILD_BENCHMARKS=ON $FP4LAB_GPU_CMAKE_ARGS $FP4LAB_DEPS_CMAKE_ARGS >"$OUT/configure.log" 2>&1 ||
  { tail -20 "$OUT/configure.log"; exit 2; }
cmake --build $B -j "$(nproc)" --target fp4lab_gpu_tests fp4lab_bench fp4lab >"$OUT/build.log" 2>&1 ||
  { grep -E "error|FAILED" "$OUT/build.log" | head -30; exit 2; }
at build 0
timeout "$(left)" $B/tests/fp4lab_gpu_tests --gtest_filter='W4A16MmaGemm*' >"$OUT/mma_tests.txt" 2>&1
at "GEMM tests" $?
grep -E "^\[  (PASSED|FAILED) |max \|err\||Failure|exact" "$OUT/mma_tests.txt" | head -20
kernels='BM_W4A16Gemm|BM_W4A16DequantGemm|BM_CublasLtBf16/N:[0-9]+/K:[0-9]+/M:|BM_W4A16Gemv/.*/PDL:1|BM_DeviceRead'
timeout "$(( $(left) - 70 ))" $B/tests/fp4lab_bench --benchmark_filter="${KERNELS:-$kernels}" \
  --benchmark_format=json --benchmark_out="$OUT/kernels.json" >"$OUT/kernels.txt" 2>&1
at "kernel benchmark" $?
bench() {  # bench PRECISIONS LOG: the command
  timeout "$(left)" $B/harness/fp4lab bench --device cuda --preset llama-3.1-8b --precisions "$1" --batches 1,8,32 \
    --prompt-lengths 128,2048 --decode-tokens 64 --repetitions 3 --db "$OUT/bench.sqlite" >"$OUT/$2" 2>&1
}
bench bf16,nvfp4-w4a16 bench_mma.txt
at "fp4lab bench (default: the tensor-core GEMM)" $?
FP4LAB_W4A16_GEMM=dequant bench nvfp4-w4a16 bench_dequant.txt
at "fp4lab bench (FP4LAB_W4A16_GEMM=dequant: dequantize + cuBLASLt)" $?
timeout "$(left)" $B/tests/fp4lab_gpu_tests --gtest_filter='-W4A16MmaGemm*' >"$OUT/gpu_tests.txt" 2>&1
at "other GPU tests" $?
grep -E "^\[  (PASSED|FAILED) " "$OUT/gpu_tests.txt" | tail -12
echo "=== kernels (name, time)"
grep -E "^BM_" "$OUT/kernels.txt" | awk '{sub(/^BM_/, "", $1); print $1, $2, $3}' | head -150
echo "=== fp4lab bench, default (the tensor-core GEMM)"
tail -22 "$OUT/bench_mma.txt"
echo "=== fp4lab bench, FP4LAB_W4A16_GEMM=dequant"
tail -12 "$OUT/bench_dequant.txt"
