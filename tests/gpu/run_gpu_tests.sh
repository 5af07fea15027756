#!/usr/bin/env bash
# Builds fp4lab with the CUDA backend for this machine's GPU and runs the GPU tests (ctest label "gpu"), the engine
# tests, and `fp4lab run --device cuda` end to end. Run it on a machine with an NVIDIA GPU, from anywhere:
#
#   tests/gpu/run_gpu_tests.sh [BUILD_DIR]          (default: <repo>/build-gpu)
#
# Environment (all optional):
#   CUDA_ARCHS             CMAKE_CUDA_ARCHITECTURES; default: the local GPU's compute capability (nvidia-smi), e.g. 90
#   JOBS                   parallel build jobs; default: nproc
#   FP4LAB_GPU_CMAKE_ARGS  extra CMake arguments (e.g. from .gpu/prepare.sh on machines without SQLite headers)
#   LOG_DIR                where the logs go; default: BUILD_DIR/gpu-logs
# Exit status: 0 when every step passed, 1 when a test step failed, 2 when configuring or building failed.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-gpu}
jobs=${JOBS:-$(nproc)}
logs=${LOG_DIR:-$build/gpu-logs}
mkdir -p "$logs"

if [ -z "${CUDA_ARCHS:-}" ]; then
  CUDA_ARCHS=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
fi
if [ -z "$CUDA_ARCHS" ]; then
  echo "no GPU found by nvidia-smi; set CUDA_ARCHS to build anyway (the GPU tests will skip)" >&2
  CUDA_ARCHS=90
fi

{
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv 2>&1
  cmake --version | head -1
} | tee "$logs/device.txt"

# shellcheck disable=SC2086  # FP4LAB_GPU_CMAKE_ARGS is a list of arguments
cmake -S "$root" -B "$build" -G Ninja -DFP4LAB_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS" \
  -DFP4LAB_BUILD_BENCHMARKS=OFF ${FP4LAB_GPU_CMAKE_ARGS:-} >"$logs/configure.log" 2>&1 ||
  { tail -30 "$logs/configure.log"; exit 2; }
cmake --build "$build" -j "$jobs" --target fp4lab_engine_tests fp4lab_gpu_tests >"$logs/build.log" 2>&1 ||
  { grep -E "error|FAILED" "$logs/build.log" | head -40; exit 2; }

failed=0
step() {  # step NAME COMMAND...: runs a test step, logs it, remembers a failure
  local name=$1
  shift
  echo "=== $name"
  if "$@" >"$logs/$name.log" 2>&1; then
    echo "    passed"
  else
    echo "    FAILED (exit $?)"
    failed=1
  fi
  grep -E "^\[(  PASSED|  FAILED|  SKIPPED) \]|tests passed|tests failed" "$logs/$name.log" | head -40
}

# The GPU binary on its own prints the measured errors, bounds and device facts; ctest runs the labels.
step gpu_tests "$build/tests/fp4lab_gpu_tests"
grep -E "^\[" "$logs/gpu_tests.log" | grep -vE "^\[ *(RUN|OK|PASSED|SKIPPED|FAILED|-+|=+) *\]" || true
step engine_tests "$build/tests/fp4lab_engine_tests"
step ctest_gpu_engine ctest --test-dir "$build" -L "gpu|engine" --output-on-failure
# The CLI needs every library of the project; build it last so that the tests above run whatever its state.
step build_cli cmake --build "$build" -j "$jobs" --target fp4lab
if [ -x "$build/harness/fp4lab" ]; then
  step fp4lab_run_cuda "$build/harness/fp4lab" run --device cuda --db "$logs/run.sqlite" --report "$logs/report.html"
  tail -25 "$logs/fp4lab_run_cuda.log"
else
  grep -E "error|FAILED" "$logs/build_cli.log" | head -20
fi
exit $failed
