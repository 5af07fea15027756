// Google Benchmark micro-benchmarks of the CUDA kernels on Llama-3.1-8B layer shapes (N x K = 4096x4096,
// 14336x4096, 4096x14336, 6144x4096) at M = 1 (decode) and M = 8, 16 (batched decode), all in one binary so that
// ratios come from one run:
//   BM_W4A16Gemv    the NVFP4 W4A16 GEMV (engine/cuda/w4a16_gemv.h), with programmatic dependent launch as the engine
//                   launches it (PDL = 1: each call's first weight loads overlap the previous call) and without
//                   (PDL = 0: ordinary launches), so that one run shows what the overlap gains on back-to-back calls
//   BM_CublasLtBf16 the bf16 GEMM of the backend (CublasLtGemm::Bf16, cuBLASLt) on the same shapes, and the lm_head
//                   (128256 x 4096) at M = 1, 8; and at M = 2, 3, 8, 16, 32, 64, 128, 256, 512 beside:
//   BM_W4A16Gemm    the NVFP4 W4A16 tensor-core GEMM (engine/cuda/w4a16_mma_gemm.h) as the backend runs it: packing
//                   of the f32 x, the MMA kernel, and the split-K reduction where the plan splits K
//   BM_W4A16DequantGemm  the path it replaces: f32 x -> bf16, all weights dequantized to bf16, cuBLASLt
//   BM_Bf16Gemv     the bf16 decode GEMV (engine/cuda/bf16_gemv.h, f32 x) on the same shapes at M = 1, 2, 3, 4, 6, 8,
//                   12, 16 and the lm_head at M = 1, 8, with PDL = 1 (as the engine launches it), and PDL = 0 at M = 1
//   BM_DeviceCopy   a device-to-device cudaMemcpy of 512 MiB: the bandwidth ceiling of reading and writing
//   BM_DeviceRead   a read-only pass over 1 GiB (engine/cuda/read_probe.h): the ceiling of a kernel that only reads
//   BM_DecodeAttention  the backend's decode attention (engine/cuda/attention_kernel.h: split-K kernel and combine
//                   pass) at Llama-3.1-8B attention shapes, batch B = 1, 8 at T = 128, 512, 2048 keys per sequence
// Timing: after warm-up, CUDA events around a graph replay of about kLaunches back-to-back calls on the backend's
// stream (direct launches if the stream cannot be captured); the manual time of an iteration is the event time per
// call. Weights rotate over enough copies to span 4x the L2 cache, so every call reads its weights from device memory.
// Counters (from the event time, plain values):
//   weight_bytes_per_second  weight bytes the call must read (NVFP4: N K / 2 codes + N K / 16 E4M3 scales; bf16:
//                            2 N K); for the copy bytes read + bytes written, for the read probe bytes read, for
//                            decode attention the K and V cache bytes read (2 B T kv_heads head_dim 4)
//   flop_per_second          2 M N K per call (decode attention: 4 B heads T head_dim, q.k and p v)
// Built only with the CUDA backend (tests/CMakeLists.txt). Without a device every benchmark skips with the reason.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/codecs.h"
#include "engine/cuda/attention_kernel.h"
#include "engine/cuda/bf16_gemv.h"
#include "engine/cuda/cublaslt_gemm.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_context.h"
#include "engine/cuda/read_probe.h"
#include "engine/cuda/elementwise_kernels.h"
#include "engine/cuda/nvfp4_kernels.h"
#include "engine/cuda/w4a16_gemv.h"
#include "engine/cuda/w4a16_mma_gemm.h"

namespace fp4lab::cuda {
namespace {

constexpr int64_t kLaunches = 20;      // calls between the two events of one iteration (at least)
constexpr int kWarmupLaunches = 50;    // before timing: module load, cuBLASLt heuristics, clocks
constexpr int64_t kL2Multiple = 4;     // weight copies span at least this many L2 caches
constexpr int64_t kCopyBytes = int64_t{512} << 20;
constexpr int64_t kReadBytes = int64_t{1} << 30;
constexpr int kIterations = 200;       // timed iterations per repetition (repeat with --benchmark_repetitions)

struct Device {
  std::shared_ptr<CudaContext> context;
  std::unique_ptr<CublasLtGemm> gemm;
  std::string label;  // "NVIDIA H100 80GB HBM3, L2 50 MiB"
  int64_t l2_bytes = 0;
};

Result<std::unique_ptr<Device>> CreateDevice() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    return Status::Unimplemented("no CUDA device present");
  }
  auto device = std::make_unique<Device>();
  FP4LAB_ASSIGN_OR_RETURN(device->context, CudaContext::Create(0, 0));
  FP4LAB_ASSIGN_OR_RETURN(device->gemm, CublasLtGemm::Create(device->context));
  cudaDeviceProp props{};
  CUDA_CHECK(cudaGetDeviceProperties(&props, 0));
  device->l2_bytes = props.l2CacheSize;
  device->label = std::string(props.name) + ", L2 " + std::to_string(props.l2CacheSize >> 20) + " MiB";
  return device;
}

// The device shared by every benchmark, created on first use.
const Result<std::unique_ptr<Device>>& GetDevice() {
  static const Result<std::unique_ptr<Device>> device = CreateDevice();
  return device;
}

// `count` device copies of `bytes`.
Result<std::vector<DeviceBuffer>> Upload(const Device& device, const std::vector<uint8_t>& bytes, int64_t count,
                                         const std::string& what) {
  std::vector<DeviceBuffer> copies;
  for (int64_t i = 0; i < count; ++i) {
    FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer buffer,
                            DeviceBuffer::Allocate(device.context, static_cast<int64_t>(bytes.size()), what));
    CUDA_CHECK(cudaMemcpy(buffer.data(), bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
    copies.push_back(std::move(buffer));
  }
  return copies;
}

// Copies of a buffer of `bytes` so that all of them together span kL2Multiple L2 caches (at least 2).
int64_t CopiesFor(const Device& device, int64_t bytes) {
  return std::max<int64_t>(2, (kL2Multiple * device.l2_bytes + bytes - 1) / bytes);
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(dist(rng));
  return out;
}

// bf16 bits of n values ~ N(0, sigma^2), as bytes.
std::vector<uint8_t> RandomBf16(size_t n, uint32_t seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  std::vector<uint16_t> bits(n);
  EncodeBf16Row(values, bits);
  std::vector<uint8_t> out(n * 2);
  std::copy_n(reinterpret_cast<const uint8_t*>(bits.data()), out.size(), out.data());
  return out;
}

std::vector<uint8_t> RandomF32(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  std::vector<uint8_t> out(n * 4);
  std::copy_n(reinterpret_cast<const uint8_t*>(values.data()), out.size(), out.data());
  return out;
}

// Captures calls first_call .. first_call + count - 1 into a graph (the kernels of a decode step run as graphs
// too, without per-launch gaps). Null when the stream cannot be captured.
template <typename Launch>
cudaGraphExec_t CaptureLaunches(cudaStream_t stream, int64_t first_call, int64_t count, Launch& launch) {
  if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) return nullptr;
  bool ok = true;
  for (int64_t i = 0; i < count && ok; ++i) ok = launch(first_call + i).ok();
  cudaGraph_t graph = nullptr;
  ok = cudaStreamEndCapture(stream, &graph) == cudaSuccess && ok;
  cudaGraphExec_t exec = nullptr;
  if (ok && cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) exec = nullptr;
  if (graph != nullptr) cudaGraphDestroy(graph);
  cudaGetLastError();  // a failed capture leaves nothing behind: the loop below launches directly instead
  return exec;
}

// Warm-up, then the timed loop: `launch(i)` enqueues call i on the stream and returns its Status. An iteration is
// `per_iteration` calls (a multiple of `copies`, so every weight copy is read equally), replayed from a graph when
// the stream can be captured, else launched one by one; the label says which.
template <typename Launch>
void TimeLaunches(benchmark::State& state, const Device& device, int64_t copies, double bytes_per_call,
                  double flop_per_call, Launch launch) {
  cudaStream_t stream = device.context->stream();
  const int64_t per_iteration = copies * ((kLaunches + copies - 1) / copies);
  Status status = Status::Ok();
  for (int i = 0; i < kWarmupLaunches && status.ok(); ++i) status = launch(i);
  if (status.ok() && cudaStreamSynchronize(stream) != cudaSuccess) status = Status::Internal("warm-up failed");
  cudaGraphExec_t graph = status.ok() ? CaptureLaunches(stream, 0, per_iteration, launch) : nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) {
    status = Status::Internal("cudaEventCreate failed");
  }
  if (graph != nullptr && status.ok() && (cudaGraphLaunch(graph, stream) != cudaSuccess ||
                                          cudaStreamSynchronize(stream) != cudaSuccess)) {
    status = Status::Internal("graph warm-up failed");
  }
  double seconds = 0.0;
  int64_t calls = 0;
  for (auto _ : state) {
    if (!status.ok()) break;
    cudaEventRecord(start, stream);
    if (graph != nullptr) {
      if (cudaGraphLaunch(graph, stream) != cudaSuccess) status = Status::Internal("cudaGraphLaunch failed");
    } else {
      for (int64_t i = 0; i < per_iteration && status.ok(); ++i) status = launch(i);
    }
    cudaEventRecord(stop, stream);
    float ms = 0.0f;
    if (cudaEventSynchronize(stop) != cudaSuccess || cudaEventElapsedTime(&ms, start, stop) != cudaSuccess) {
      status = Status::Internal(cudaGetErrorString(cudaGetLastError()));
      break;
    }
    state.SetIterationTime(ms * 1e-3 / static_cast<double>(per_iteration));
    seconds += ms * 1e-3;
    calls += per_iteration;
  }
  if (graph != nullptr) cudaGraphExecDestroy(graph);
  if (start != nullptr) cudaEventDestroy(start);
  if (stop != nullptr) cudaEventDestroy(stop);
  if (!status.ok()) {
    state.SkipWithError(status.ToString().c_str());
    return;
  }
  state.counters["weight_bytes_per_second"] = bytes_per_call * static_cast<double>(calls) / seconds;
  state.counters["flop_per_second"] = flop_per_call * static_cast<double>(calls) / seconds;
  state.counters["weight_bytes"] = bytes_per_call;
  state.counters["weight_copies"] = static_cast<double>(copies);
  state.SetLabel(device.label + (graph != nullptr ? ", graph of " : ", stream of ") +
                 std::to_string(per_iteration) + " calls");
}

// Skips the benchmark (returning null) when there is no device.
const Device* DeviceOrSkip(benchmark::State& state) {
  const auto& device = GetDevice();
  if (!device.ok()) {
    state.SkipWithError(device.status().ToString().c_str());
    return nullptr;
  }
  return device->get();
}

#define BENCH_ASSIGN_OR_SKIP(lhs, expr)                        \
  auto lhs##_result = (expr);                                  \
  if (!lhs##_result.ok()) {                                    \
    state.SkipWithError(lhs##_result.status().ToString().c_str()); \
    return;                                                    \
  }                                                            \
  auto lhs = std::move(lhs##_result).value()

void BM_W4A16Gemv(benchmark::State& state) {
  const Device* device = DeviceOrSkip(state);
  if (device == nullptr) return;
  const int64_t n = state.range(0), k = state.range(1), m = state.range(2);
  const bool allow_overlap = state.range(3) != 0;
  const int64_t code_bytes = n * k / 2, scale_bytes = n * k / 16;
  const int64_t copies = CopiesFor(*device, code_bytes + scale_bytes);
  BENCH_ASSIGN_OR_SKIP(codes, Upload(*device, RandomBytes(code_bytes, 1, 0, 255), copies, "bench NVFP4 codes"));
  // Normal E4M3 scales 2^-4 .. 2^4 (codes 0x18 .. 0x58): no zeros, no NaN.
  BENCH_ASSIGN_OR_SKIP(scales, Upload(*device, RandomBytes(scale_bytes, 2, 0x18, 0x58), copies, "bench scales"));
  BENCH_ASSIGN_OR_SKIP(x, Upload(*device, RandomF32(m * k, 3), 1, "bench x"));
  BENCH_ASSIGN_OR_SKIP(y, Upload(*device, RandomF32(m * n, 4), 1, "bench y"));
  const cudaStream_t stream = device->context->stream();
  TimeLaunches(state, *device, copies, static_cast<double>(code_bytes + scale_bytes), 2.0 * m * n * k,
               [&](int64_t call) -> Status {
                 const size_t c = static_cast<size_t>(call % copies);
                 CUDA_CHECK(LaunchW4A16Gemv(x[0].as<float>(), m, codes[c].as<uint8_t>(), scales[c].as<uint8_t>(), n,
                                            k, 1.0f / 2688.0f, nullptr, y[0].as<float>(), stream, allow_overlap));
                 return Status::Ok();
               });
}

void BM_CublasLtBf16(benchmark::State& state) {
  const Device* device = DeviceOrSkip(state);
  if (device == nullptr) return;
  const int64_t n = state.range(0), k = state.range(1), m = state.range(2);
  const int64_t weight_bytes = 2 * n * k;
  const int64_t copies = CopiesFor(*device, weight_bytes);
  BENCH_ASSIGN_OR_SKIP(w, Upload(*device, RandomBf16(n * k, 5, 1.0f / std::sqrt(float(k))), copies, "bench bf16 W"));
  BENCH_ASSIGN_OR_SKIP(x, Upload(*device, RandomBf16(m * k, 6, 1.0f), 1, "bench bf16 x"));
  BENCH_ASSIGN_OR_SKIP(y, Upload(*device, RandomF32(m * n, 7), 1, "bench y"));
  TimeLaunches(state, *device, copies, static_cast<double>(weight_bytes), 2.0 * m * n * k, [&](int64_t call) {
    return device->gemm->Bf16(x[0].data(), w[static_cast<size_t>(call % copies)].data(), m, n, k, 1.0f,
                              y[0].as<float>());
  });
}

void BM_W4A16Gemm(benchmark::State& state) {
  const Device* device = DeviceOrSkip(state);
  if (device == nullptr) return;
  const int64_t n = state.range(0), k = state.range(1), m = state.range(2);
  const int64_t code_bytes = n * k / 2, scale_bytes = n * k / 16;
  const int64_t copies = CopiesFor(*device, code_bytes + scale_bytes);
  W4A16GemmPlan plan;
  if (PlanW4A16Gemm(m, n, k, &plan) != cudaSuccess) {
    state.SkipWithError("PlanW4A16Gemm failed");
    return;
  }
  BENCH_ASSIGN_OR_SKIP(codes, Upload(*device, RandomBytes(code_bytes, 1, 0, 255), copies, "bench NVFP4 codes"));
  BENCH_ASSIGN_OR_SKIP(scales, Upload(*device, RandomBytes(scale_bytes, 2, 0x18, 0x58), copies, "bench scales"));
  BENCH_ASSIGN_OR_SKIP(x, Upload(*device, RandomF32(m * k, 3), 1, "bench x"));
  BENCH_ASSIGN_OR_SKIP(y, Upload(*device, RandomF32(m * n, 4), 1, "bench y"));
  BENCH_ASSIGN_OR_SKIP(packed, DeviceBuffer::Allocate(device->context, plan.packed_x_bytes, "bench packed x"));
  BENCH_ASSIGN_OR_SKIP(partials,
                       DeviceBuffer::Allocate(device->context, std::max<int64_t>(plan.partial_bytes, 4), "partials"));
  const cudaStream_t stream = device->context->stream();
  TimeLaunches(state, *device, copies, static_cast<double>(code_bytes + scale_bytes), 2.0 * m * n * k,
               [&](int64_t call) -> Status {
                 const size_t c = static_cast<size_t>(call % copies);
                 CUDA_CHECK(LaunchW4A16Gemm(x[0].as<float>(), m, codes[c].as<uint8_t>(), scales[c].as<uint8_t>(), n,
                                            k, 1.0f / 2688.0f, nullptr, y[0].as<float>(), plan, packed.data(),
                                            partials.as<float>(), stream));
                 return Status::Ok();
               });
  state.counters["splits"] = plan.splits;
}

void BM_W4A16DequantGemm(benchmark::State& state) {
  const Device* device = DeviceOrSkip(state);
  if (device == nullptr) return;
  const int64_t n = state.range(0), k = state.range(1), m = state.range(2);
  const int64_t code_bytes = n * k / 2, scale_bytes = n * k / 16;
  const int64_t copies = CopiesFor(*device, code_bytes + scale_bytes);
  BENCH_ASSIGN_OR_SKIP(codes, Upload(*device, RandomBytes(code_bytes, 1, 0, 255), copies, "bench NVFP4 codes"));
  BENCH_ASSIGN_OR_SKIP(scales, Upload(*device, RandomBytes(scale_bytes, 2, 0x18, 0x58), copies, "bench scales"));
  BENCH_ASSIGN_OR_SKIP(x, Upload(*device, RandomF32(m * k, 3), 1, "bench x"));
  BENCH_ASSIGN_OR_SKIP(y, Upload(*device, RandomF32(m * n, 4), 1, "bench y"));
  BENCH_ASSIGN_OR_SKIP(x_bf16, DeviceBuffer::Allocate(device->context, m * k * 2, "bench bf16 x"));
  BENCH_ASSIGN_OR_SKIP(w_bf16, DeviceBuffer::Allocate(device->context, n * k * 2, "bench bf16 W"));
  const cudaStream_t stream = device->context->stream();
  TimeLaunches(state, *device, copies, static_cast<double>(code_bytes + scale_bytes), 2.0 * m * n * k,
               [&](int64_t call) -> Status {
                 const size_t c = static_cast<size_t>(call % copies);
                 CUDA_CHECK(LaunchConvertToBf16(x[0].as<float>(), m * k, x_bf16.data(), stream));
                 CUDA_CHECK(LaunchDequantizeNvfp4(codes[c].as<uint8_t>(), scales[c].as<uint8_t>(), n, k,
                                                  w_bf16.data(), stream));
                 return device->gemm->Bf16(x_bf16.data(), w_bf16.data(), m, n, k, 1.0f / 2688.0f, y[0].as<float>());
               });
}

// f32 x, as the engine's bf16 Linear gets it (no conversion kernel).
void BM_Bf16Gemv(benchmark::State& state) {
  const Device* device = DeviceOrSkip(state);
  if (device == nullptr) return;
  const int64_t n = state.range(0), k = state.range(1), m = state.range(2);
  const bool allow_overlap = state.range(3) != 0;
  const int64_t weight_bytes = 2 * n * k;
  const int64_t copies = CopiesFor(*device, weight_bytes);
  BENCH_ASSIGN_OR_SKIP(w, Upload(*device, RandomBf16(n * k, 5, 1.0f / std::sqrt(float(k))), copies, "bench bf16 W"));
  BENCH_ASSIGN_OR_SKIP(x, Upload(*device, RandomF32(m * k, 6), 1, "bench x"));
  BENCH_ASSIGN_OR_SKIP(y, Upload(*device, RandomF32(m * n, 7), 1, "bench y"));
  const cudaStream_t stream = device->context->stream();
  TimeLaunches(state, *device, copies, static_cast<double>(weight_bytes), 2.0 * m * n * k,
               [&](int64_t call) -> Status {
                 CUDA_CHECK(LaunchBf16Gemv(x[0].as<float>(), m, w[static_cast<size_t>(call % copies)].as<uint16_t>(),
                                           n, k, nullptr, y[0].as<float>(), stream, allow_overlap));
                 return Status::Ok();
               });
}

void BM_DeviceCopy(benchmark::State& state) {
  const Device* device = DeviceOrSkip(state);
  if (device == nullptr) return;
  BENCH_ASSIGN_OR_SKIP(src, DeviceBuffer::Allocate(device->context, kCopyBytes, "bench copy source"));
  BENCH_ASSIGN_OR_SKIP(dst, DeviceBuffer::Allocate(device->context, kCopyBytes, "bench copy destination"));
  const cudaStream_t stream = device->context->stream();
  if (cudaMemset(src.data(), 0x5A, kCopyBytes) != cudaSuccess) {  // a copy's speed does not depend on the bytes
    state.SkipWithError("cudaMemset of the copy source failed");
    return;
  }
  TimeLaunches(state, *device, 1, 2.0 * kCopyBytes, 0.0, [&](int64_t) -> Status {
    CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), kCopyBytes, cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  });
}

void BM_DeviceRead(benchmark::State& state) {
  const Device* device = DeviceOrSkip(state);
  if (device == nullptr) return;
  BENCH_ASSIGN_OR_SKIP(src, DeviceBuffer::Allocate(device->context, kReadBytes, "bench read source"));
  BENCH_ASSIGN_OR_SKIP(sink, DeviceBuffer::Allocate(device->context, 4, "bench read sink"));
  const cudaStream_t stream = device->context->stream();
  // Every 32-bit word equal, so each 16-byte fold is 0: never the `never` below, so the sink is never written.
  if (cudaMemset(src.data(), 0x5A, kReadBytes) != cudaSuccess) {
    state.SkipWithError("cudaMemset of the read source failed");
    return;
  }
  TimeLaunches(state, *device, 1, static_cast<double>(kReadBytes), 0.0, [&](int64_t) -> Status {
    CUDA_CHECK(LaunchReadProbe(src.data(), kReadBytes, 0xFFFFFFFFu, sink.as<uint32_t>(), stream));
    return Status::Ok();
  });
}

// Decode attention at Llama-3.1-8B shapes (32 query heads, 8 kv heads, head_dim 128, f32 caches): B sequences of
// T keys, one query each at position T - 1. The plan sees caches of kAttentionCapacity positions per sequence, as the
// engine's KV cache of a long-context run, so the split count (counter "splits") and the chunks past T that exit at
// once are the engine's; the buffers hold only the T rows a query reads, rotated over copies like the weights.
void BM_DecodeAttention(benchmark::State& state) {
  const Device* device = DeviceOrSkip(state);
  if (device == nullptr) return;
  constexpr int kHeads = 32, kKvHeads = 8, kHeadDim = 128;
  constexpr int64_t kAttentionCapacity = 4096;
  const int64_t batch = state.range(0), context = state.range(1);
  const int64_t q_dim = int64_t{kHeads} * kHeadDim, cache_floats = batch * context * kKvHeads * kHeadDim;
  const int64_t copies = CopiesFor(*device, 2 * cache_floats * 4);
  BENCH_ASSIGN_OR_SKIP(k, Upload(*device, RandomF32(cache_floats, 8), copies, "bench K cache"));
  BENCH_ASSIGN_OR_SKIP(v, Upload(*device, RandomF32(cache_floats, 9), copies, "bench V cache"));
  BENCH_ASSIGN_OR_SKIP(q, Upload(*device, RandomF32(batch * q_dim, 10), 1, "bench q"));
  BENCH_ASSIGN_OR_SKIP(out, Upload(*device, RandomF32(batch * q_dim, 11), 1, "bench attention out"));
  // positions [B] then cache rows [B]: sequence b's keys are rows b T .. b T + T - 1.
  std::vector<int32_t> placement(static_cast<size_t>(2 * batch));
  for (int64_t b = 0; b < batch; ++b) {
    placement[b] = static_cast<int32_t>(context - 1);
    placement[batch + b] = static_cast<int32_t>(b * context + context - 1);
  }
  const auto* placement_bytes = reinterpret_cast<const uint8_t*>(placement.data());
  BENCH_ASSIGN_OR_SKIP(placed, Upload(*device, std::vector<uint8_t>(placement_bytes, placement_bytes + 8 * batch),
                                      1, "bench placement"));
  int sm_count = 0;
  if (cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device->context->device()) != cudaSuccess) {
    state.SkipWithError("cudaDeviceGetAttribute(multiprocessor count) failed");
    return;
  }
  const AttentionShape shape{batch, kHeads, kKvHeads, kHeadDim, batch * kAttentionCapacity, false};
  const AttentionPlan plan = PlanAttention(shape, sm_count);
  BENCH_ASSIGN_OR_SKIP(scratch, DeviceBuffer::Allocate(device->context, plan.scratch_bytes, "bench attention scratch"));
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  const int32_t* positions = placed[0].as<int32_t>();
  const cudaStream_t stream = device->context->stream();
  TimeLaunches(state, *device, copies, 2.0 * static_cast<double>(cache_floats) * 4,
               4.0 * static_cast<double>(batch * kHeads * context * kHeadDim), [&](int64_t call) -> Status {
                 const size_t c = static_cast<size_t>(call % copies);
                 CUDA_CHECK(LaunchAttention(shape, plan, q[0].as<float>(), k[c].as<float>(), v[c].as<float>(),
                                            positions, positions + batch, ScoreRule{scale, 0, 0.0f}, scratch.data(),
                                            out[0].as<float>(),
                                            stream));
                 return Status::Ok();
               });
  state.counters["splits"] = plan.splits;
}

// Llama-3.1-8B layers, N x K: q/o proj, gate/up proj, down proj, fused qkv; at M = 1 (decode) and M = 8, 16
// (batched decode).
constexpr std::pair<int64_t, int64_t> kLlamaLayers[] = {{4096, 4096}, {14336, 4096}, {4096, 14336}, {6144, 4096}};
constexpr int64_t kDecodeRows[] = {1, 8, 16};
constexpr std::pair<int64_t, int64_t> kLmHead = {128256, 4096};

void LlamaShapes(benchmark::internal::Benchmark* b) {
  for (const int64_t m : kDecodeRows) {
    for (const auto& [n, k] : kLlamaLayers) b->Args({n, k, m});
  }
  b->ArgNames({"N", "K", "M"})->UseManualTime()->Iterations(kIterations)->Unit(benchmark::kMicrosecond);
}

// The Llama layers at the batches of the tensor-core GEMM and beyond (batched decode, short and long prefill chunks).
void GemmShapes(benchmark::internal::Benchmark* b) {
  for (const int64_t m : {2, 3, 8, 16, 32, 64, 128, 256, 512}) {
    for (const auto& [n, k] : kLlamaLayers) b->Args({n, k, m});
  }
  b->ArgNames({"N", "K", "M"})->UseManualTime()->Iterations(kIterations)->Unit(benchmark::kMicrosecond);
}

// The same shapes, each with programmatic dependent launch on and off (PDL = 1, 0).
void W4A16Shapes(benchmark::internal::Benchmark* b) {
  for (const int64_t m : kDecodeRows) {
    for (const auto& [n, k] : kLlamaLayers) {
      for (const int64_t pdl : {1, 0}) b->Args({n, k, m, pdl});
    }
  }
  b->ArgNames({"N", "K", "M", "PDL"})->UseManualTime()->Iterations(kIterations)->Unit(benchmark::kMicrosecond);
}

// The bf16 GEMV: the Llama layers at every padded row count (PDL = 1; PDL = 0 too at M = 1), the lm_head at M = 1,
// 8 (PDL = 1).
void Bf16GemvShapes(benchmark::internal::Benchmark* b) {
  for (const int64_t m : {1, 2, 3, 4, 6, 8, 12, 16}) {
    for (const auto& [n, k] : kLlamaLayers) {
      b->Args({n, k, m, 1});
      if (m == 1) b->Args({n, k, m, 0});
    }
  }
  for (const int64_t m : {1, 8}) b->Args({kLmHead.first, kLmHead.second, m, 1});
  b->ArgNames({"N", "K", "M", "PDL"})->UseManualTime()->Iterations(kIterations)->Unit(benchmark::kMicrosecond);
}

// Llama-3.1-8B's lm_head (N x K = 128256 x 4096) at M = 1, 8, beside the bf16 GEMV.
void LmHeadShapes(benchmark::internal::Benchmark* b) {
  for (const int64_t m : {1, 8}) b->Args({kLmHead.first, kLmHead.second, m});
  b->ArgNames({"N", "K", "M"})->UseManualTime()->Iterations(kIterations)->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_W4A16Gemv)->Apply(W4A16Shapes);
BENCHMARK(BM_CublasLtBf16)->Apply(LlamaShapes);
BENCHMARK(BM_CublasLtBf16)->Apply(LmHeadShapes);
BENCHMARK(BM_Bf16Gemv)->Apply(Bf16GemvShapes);
BENCHMARK(BM_W4A16Gemm)->Apply(GemmShapes);
BENCHMARK(BM_W4A16DequantGemm)->Apply(GemmShapes);
BENCHMARK(BM_CublasLtBf16)->Apply(GemmShapes);
BENCHMARK(BM_DeviceCopy)->UseManualTime()->Iterations(kIterations)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DeviceRead)->UseManualTime()->Iterations(kIterations)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DecodeAttention)
    ->ArgsProduct({{1, 8}, {128, 512, 2048}})
    ->ArgNames({"B", "T"})
    ->UseManualTime()
    ->Iterations(kIterations)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace fp4lab::cuda
