#include "engine/cuda/elementwise_kernels.h"

#include "engine/cuda/device_codecs.cuh"
#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/launch.h"

namespace fp4lab::cuda {
namespace {

// Programmatic dependent launch (kernel_util.cuh): the kernels that a W4A16 GEMV follows in a decode step (RMSNorm,
// SiLU-mul) call LetDependentGridsLaunch() first, so the GEMV (launched with the PDL attribute) starts loading its
// weights while they run; it waits for their completion before it reads their output. The call has no effect when
// the next kernel is launched without the attribute. The kernels that follow a Linear in a decode step (the fused
// add + RMSNorm, RoPE + KV write, SiLU-mul) are themselves launched with the attribute, so their launch overlaps the
// Linear's tail: they call WaitForPriorGrids() before their first access to global memory, and read with ordinary
// loads (no __ldg / const __restrict__, which the wait does not order).

__global__ void ConvertToBf16Kernel(const float* x, int64_t count, __nv_bfloat16* out) {
  for (int64_t i = GlobalThread(); i < count; i += GlobalStride()) out[i] = DeviceF32ToBf16(x[i]);
}

__global__ void AddBiasKernel(float* y, const float* bias, int64_t rows, int64_t cols) {
  for (int64_t i = GlobalThread(); i < rows * cols; i += GlobalStride()) y[i] = __fadd_rn(y[i], bias[i % cols]);
}

__global__ void AddInPlaceKernel(float* x, const float* y, int64_t count) {
  for (int64_t i = GlobalThread(); i < count; i += GlobalStride()) x[i] = __fadd_rn(x[i], y[i]);
}

// act(g) with the CPU's operations in its order (no contraction into FMAs).
__device__ __forceinline__ float Activate(GateActivation act, float g) {
  if (act == GateActivation::kSilu) return __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));
  const float cubic = __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, g), g), g);
  const float inner = __fmul_rn(0.7978845608028654f, __fadd_rn(g, cubic));
  return __fmul_rn(__fmul_rn(0.5f, g), __fadd_rn(1.0f, tanhf(inner)));
}

__global__ void GatedMulKernel(GateActivation act, const float* gate, const float* up, float* out, int64_t count) {
  LetDependentGridsLaunch();  // see the note on programmatic dependent launch above
  for (int64_t i = GlobalThread(); i < count; i += GlobalStride()) out[i] = __fmul_rn(Activate(act, gate[i]), up[i]);
}

__global__ void GatedMulHalvesKernel(GateActivation act, const float* gate_up, int64_t rows, int64_t f, float* out) {
  LetDependentGridsLaunch();  // see the note on programmatic dependent launch above
  WaitForPriorGrids();
  for (int64_t i = GlobalThread(); i < rows * f; i += GlobalStride()) {
    const int64_t r = i / f, c = i % f;
    out[i] = __fmul_rn(Activate(act, gate_up[r * 2 * f + c]), gate_up[r * 2 * f + f + c]);
  }
}

__global__ void ScaleKernel(float* x, float factor, int64_t count) {
  for (int64_t i = GlobalThread(); i < count; i += GlobalStride()) x[i] = __fmul_rn(x[i], factor);
}

__global__ void SoftCapKernel(float* x, float cap, int64_t count) {
  for (int64_t i = GlobalThread(); i < count; i += GlobalStride()) x[i] = __fmul_rn(cap, tanhf(__fdiv_rn(x[i], cap)));
}

// One block of kThreads per request: the first index of its row's maximum, then the sum of exp(x - max) in double.
__global__ void ScoreTokensKernel(const float* logits, int64_t vocab, const int32_t* rows, const int32_t* targets,
                                  float* out) {
  __shared__ float max_s[kMaxWarps];
  __shared__ int64_t index_s[kMaxWarps];
  __shared__ double sum_s[kMaxWarps];
  const float* row = logits + static_cast<int64_t>(rows[blockIdx.x]) * vocab;
  float best = -INFINITY;
  int64_t best_index = vocab;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) {
    if (row[v] > best) {  // strictly greater: a thread keeps its first maximum
      best = row[v];
      best_index = v;
    }
  }
  BlockArgMax(best, best_index, vocab, max_s, index_s);  // (max, first index) over the block
  const double row_max = best;
  double sum = 0.0;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) sum += exp(static_cast<double>(row[v]) - row_max);
  sum = WarpSum(sum);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) sum_s[warp] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < warps; ++w) total += sum_s[w];
    const int32_t target = targets[blockIdx.x];
    const double logprob = static_cast<double>(row[target]) - (row_max + log(total));
    const unsigned long long bits = __double_as_longlong(logprob);
    out[3 * blockIdx.x] = __uint_as_float(static_cast<unsigned>(bits));
    out[3 * blockIdx.x + 1] = __uint_as_float(static_cast<unsigned>(bits >> 32));
    out[3 * blockIdx.x + 2] = best_index == target ? 1.0f : 0.0f;
  }
}

// Threads per block of the RMSNorm kernels (one block per group): the block size fixes the order of the sum of
// squares, so RmsNormKernel and AddRmsNormKernel must launch with the same one. A multiple of 32 (BlockSum).
int RmsNormThreads(int64_t group) {
  return group >= kThreads ? kThreads : static_cast<int>((group + 31) / 32 * 32);
}

// One block per group; weight == nullptr: the scale-free form y = x * inv.
__global__ void RmsNormKernel(const float* x, const float* weight, int64_t group, float eps, float offset,
                              float* out) {
  LetDependentGridsLaunch();  // see the note on programmatic dependent launch above
  __shared__ float partials[kMaxWarps];
  const float* row = x + blockIdx.x * group;
  float* out_row = out + blockIdx.x * group;
  float sum_sq = 0.0f;
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) sum_sq = __fadd_rn(sum_sq, __fmul_rn(row[i], row[i]));
  sum_sq = BlockSum(sum_sq, partials);
  const float inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(sum_sq, static_cast<float>(group)), eps)));
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) {
    const float normed = __fmul_rn(row[i], inv);
    out_row[i] = weight != nullptr ? __fmul_rn(normed, __fadd_rn(offset, weight[i])) : normed;
  }
}

// x += delta, then RmsNormKernel on x, one block per group of at most kCached * blockDim.x elements, bit-identical
// to AddInPlaceKernel + RmsNormKernel at the same block size: each thread forms the same sums
// __fadd_rn(x[i], delta[i]) and accumulates their squares in the same order (i = threadIdx.x, + blockDim.x, ...),
// BlockSum reduces the same partials, and each output element takes the same two multiplications. A thread keeps
// its sums and (offset + w) in registers and loads x, delta and the weight before any store (one memory round trip
// before the reduction). REQUIRES blockDim.x == RmsNormThreads(group), group <= kCached * blockDim.x and, when
// kCached > 1, blockDim.x == kThreads (element j of a thread is then at the constant offset j * kThreads). Each
// element of delta is read by the thread that later writes the element of out in its place, so out may alias
// delta; it must not alias x.
template <int kCached>
__global__ void AddRmsNormKernel(float* x, const float* delta, const float* weight, int64_t group, float eps,
                                 float offset, float* out) {
  LetDependentGridsLaunch();  // see the note on programmatic dependent launch above
  WaitForPriorGrids();
  __shared__ float partials[kMaxWarps];
  float* row = x + blockIdx.x * group;
  const float* delta_row = delta + blockIdx.x * group;
  float* out_row = out + blockIdx.x * group;
  float sums[kCached], scales[kCached];
  float sum_sq = 0.0f;
#pragma unroll
  for (int j = 0; j < kCached; ++j) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kThreads;
    if (i < group) {
      sums[j] = __fadd_rn(row[i], delta_row[i]);
      scales[j] = __fadd_rn(offset, weight[i]);
      sum_sq = __fadd_rn(sum_sq, __fmul_rn(sums[j], sums[j]));
    }
  }
#pragma unroll
  for (int j = 0; j < kCached; ++j) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kThreads;
    if (i < group) row[i] = sums[j];
  }
  sum_sq = BlockSum(sum_sq, partials);
  const float inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(sum_sq, static_cast<float>(group)), eps)));
#pragma unroll
  for (int j = 0; j < kCached; ++j) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kThreads;
    if (i < group) out_row[i] = __fmul_rn(__fmul_rn(sums[j], inv), scales[j]);
  }
}

// The rotation of one (a, b) pair (RopeKernel, RopeAndStoreKvKernel), as the CPU computes it.
__device__ __forceinline__ void Rotate(float a, float b, float c, float s, float& out_a, float& out_b) {
  out_a = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
  out_b = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
}

__global__ void RopeKernel(float* x, int64_t rows, int heads, int head_dim, const float* rope_table,
                           const int32_t* positions) {
  const int half = head_dim / 2;
  const int64_t total = rows * heads * half;
  for (int64_t idx = GlobalThread(); idx < total; idx += GlobalStride()) {
    const int i = static_cast<int>(idx % half);
    const int64_t row_head = idx / half;  // r * heads + h
    const int64_t r = row_head / heads;
    float* v = x + row_head * head_dim;
    const float* cos_sin = rope_table + static_cast<int64_t>(positions[r]) * head_dim;
    Rotate(v[i], v[i + half], cos_sin[i], cos_sin[half + i], v[i], v[i + half]);
  }
}

// Per row, work items: heads * half q pairs, then kv_heads * half k pairs, then kv_dim v values.
__global__ void RopeAndStoreKvKernel(const float* qkv, int64_t rows, int heads, int kv_heads, int head_dim,
                                     const float* rope_table, const int32_t* positions, const int32_t* cache_rows,
                                     float* q, float* k_cache, float* v_cache) {
  WaitForPriorGrids();  // see the note on programmatic dependent launch above
  const int half = head_dim / 2;
  const int64_t q_dim = static_cast<int64_t>(heads) * head_dim, kv_dim = static_cast<int64_t>(kv_heads) * head_dim;
  const int64_t q_pairs = static_cast<int64_t>(heads) * half, k_pairs = static_cast<int64_t>(kv_heads) * half;
  const int64_t per_row = q_pairs + k_pairs + kv_dim;
  for (int64_t idx = GlobalThread(); idx < rows * per_row; idx += GlobalStride()) {
    const int64_t r = idx / per_row;
    int64_t j = idx % per_row;
    const float* src = qkv + r * (q_dim + 2 * kv_dim);
    const int64_t cache_row = cache_rows[r];
    if (j >= q_pairs + k_pairs) {  // v: a copy
      j -= q_pairs + k_pairs;
      v_cache[cache_row * kv_dim + j] = src[q_dim + kv_dim + j];
      continue;
    }
    const bool is_q = j < q_pairs;
    if (!is_q) j -= q_pairs;
    const int64_t i = j % half, offset = (j / half) * head_dim + i;  // element i of head j / half
    const float* cos_sin = rope_table + static_cast<int64_t>(positions[r]) * head_dim;
    const float* in = is_q ? src : src + q_dim;
    float* out = is_q ? q + r * q_dim : k_cache + cache_row * kv_dim;
    Rotate(in[offset], in[offset + half], cos_sin[i], cos_sin[half + i], out[offset], out[offset + half]);
  }
}

__global__ void ScatterRowsKernel(const float* src, int64_t rows, int64_t cols, const int32_t* dst_rows,
                                  float* dst) {
  for (int64_t idx = GlobalThread(); idx < rows * cols; idx += GlobalStride()) {
    const int64_t r = idx / cols;
    dst[static_cast<int64_t>(dst_rows[r]) * cols + idx % cols] = src[idx];
  }
}

__global__ void EmbedKernel(EmbedTable table, const int32_t* tokens, int64_t count, float* out) {
  const int64_t cols = table.cols;
  for (int64_t idx = GlobalThread(); idx < count * cols; idx += GlobalStride()) {
    const int64_t token = tokens[idx / cols];
    const int64_t c = idx % cols;
    float value;
    switch (table.format) {
      case EmbedTable::Format::kBf16: {
        const uint16_t bits = static_cast<const uint16_t*>(table.values)[token * cols + c];
        value = __uint_as_float(static_cast<uint32_t>(bits) << 16);
        break;
      }
      case EmbedTable::Format::kNvfp4: {
        const uint8_t byte = static_cast<const uint8_t*>(table.values)[(token * cols + c) / 2];
        const uint8_t code = (c % 2 == 0) ? (byte & 0xFu) : (byte >> 4);
        const uint8_t scale = table.block_scales[(token * cols + c) / 16];
        value = __fmul_rn(DeviceE2M1ToF32(code), DeviceE4M3ToF32(scale));  // exact (engine/nvfp4.h)
        break;
      }
      default:
        value = DeviceE4M3ToF32(static_cast<const uint8_t*>(table.values)[token * cols + c]);
        break;
    }
    out[idx] = __fmul_rn(value, table.global_scale);
  }
}

}  // namespace

cudaError_t LaunchConvertToBf16(const float* x, int64_t count, void* out_bf16, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  ConvertToBf16Kernel<<<GridFor(count), kThreads, 0, stream>>>(x, count, static_cast<__nv_bfloat16*>(out_bf16));
  return cudaGetLastError();
}

cudaError_t LaunchAddBias(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows * cols == 0) return cudaSuccess;
  AddBiasKernel<<<GridFor(rows * cols), kThreads, 0, stream>>>(y, bias, rows, cols);
  return cudaGetLastError();
}

cudaError_t LaunchAddInPlace(float* x, const float* y, int64_t count, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  AddInPlaceKernel<<<GridFor(count), kThreads, 0, stream>>>(x, y, count);
  return cudaGetLastError();
}

cudaError_t LaunchGatedMul(GateActivation act, const float* gate, const float* up, float* out, int64_t count,
                           cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  GatedMulKernel<<<GridFor(count), kThreads, 0, stream>>>(act, gate, up, out, count);
  return cudaGetLastError();
}

cudaError_t LaunchScale(float* x, float factor, int64_t count, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  ScaleKernel<<<GridFor(count), kThreads, 0, stream>>>(x, factor, count);
  return cudaGetLastError();
}

cudaError_t LaunchSoftCap(float* x, float cap, int64_t count, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  SoftCapKernel<<<GridFor(count), kThreads, 0, stream>>>(x, cap, count);
  return cudaGetLastError();
}

cudaError_t LaunchScoreTokens(const float* logits, int64_t vocab, const int32_t* rows, const int32_t* targets,
                              int64_t requests, float* out, cudaStream_t stream) {
  if (requests == 0) return cudaSuccess;
  if (requests > kMaxGridX || vocab < 1) return cudaErrorInvalidValue;
  ScoreTokensKernel<<<static_cast<unsigned>(requests), kThreads, 0, stream>>>(logits, vocab, rows, targets, out);
  return cudaGetLastError();
}

cudaError_t LaunchRmsNorm(const float* x, const float* weight, int64_t groups, int64_t group, float eps, float offset,
                          float* out, cudaStream_t stream) {
  if (groups == 0) return cudaSuccess;
  if (groups > kMaxGridX) return cudaErrorInvalidConfiguration;
  RmsNormKernel<<<static_cast<unsigned>(groups), RmsNormThreads(group), 0, stream>>>(x, weight, group, eps, offset,
                                                                                     out);
  return cudaGetLastError();
}

cudaError_t LaunchAddRmsNorm(float* x, const float* delta, const float* weight, int64_t groups, int64_t group,
                             float eps, float offset, float* out, cudaStream_t stream) {
  if (groups == 0) return cudaSuccess;
  if (groups > kMaxGridX) return cudaErrorInvalidConfiguration;
  const int threads = RmsNormThreads(group);
  const unsigned blocks = static_cast<unsigned>(groups);
  // Elements per thread: 1 up to a group of 256 (any block size), else at 256 threads up to 32 (a hidden size of
  // 8192; 147 registers and no spills at 32 on sm_90 with nvcc 13.0).
  const int64_t per_thread = (group + threads - 1) / threads;
  if (per_thread > 32) {  // more than the registers hold: the two kernels, which the fused one equals
    const cudaError_t err = LaunchAddInPlace(x, delta, groups * group, stream);
    if (err != cudaSuccess) return err;
    return LaunchRmsNorm(x, weight, groups, group, eps, offset, out, stream);
  }
  const auto kernel = per_thread == 1   ? AddRmsNormKernel<1>
                      : per_thread <= 4  ? AddRmsNormKernel<4>
                      : per_thread <= 16 ? AddRmsNormKernel<16>
                                         : AddRmsNormKernel<32>;
  return LaunchKernel(kernel, dim3(blocks), dim3(threads), 0, stream, /*programmatic=*/true, x, delta, weight, group,
                      eps, offset, out);
}

cudaError_t LaunchRope(float* x, int64_t rows, int heads, int head_dim, const float* rope_table,
                       const int32_t* positions, cudaStream_t stream) {
  const int64_t total = rows * heads * (head_dim / 2);
  if (total == 0) return cudaSuccess;
  RopeKernel<<<GridFor(total), kThreads, 0, stream>>>(x, rows, heads, head_dim, rope_table, positions);
  return cudaGetLastError();
}

cudaError_t LaunchRopeAndStoreKv(const float* qkv, int64_t rows, int heads, int kv_heads, int head_dim,
                                 const float* rope_table, const int32_t* positions, const int32_t* cache_rows,
                                 float* q, float* k_cache, float* v_cache, cudaStream_t stream) {
  const int64_t per_row = static_cast<int64_t>(heads + kv_heads) * (head_dim / 2) +
                          static_cast<int64_t>(kv_heads) * head_dim;
  if (rows * per_row == 0) return cudaSuccess;
  return LaunchKernel(RopeAndStoreKvKernel, dim3(GridFor(rows * per_row)), dim3(kThreads), 0, stream,
                      /*programmatic=*/true, qkv, rows, heads, kv_heads, head_dim, rope_table, positions, cache_rows, q,
                      k_cache, v_cache);
}

cudaError_t LaunchGatedMulHalves(GateActivation act, const float* gate_up, int64_t rows, int64_t f, float* out,
                                 cudaStream_t stream) {
  if (rows * f == 0) return cudaSuccess;
  return LaunchKernel(GatedMulHalvesKernel, dim3(GridFor(rows * f)), dim3(kThreads), 0, stream,
                      /*programmatic=*/true, act, gate_up, rows, f, out);
}

cudaError_t LaunchScatterRows(const float* src, int64_t rows, int64_t cols, const int32_t* dst_rows, float* dst,
                              cudaStream_t stream) {
  if (rows * cols == 0) return cudaSuccess;
  ScatterRowsKernel<<<GridFor(rows * cols), kThreads, 0, stream>>>(src, rows, cols, dst_rows, dst);
  return cudaGetLastError();
}

cudaError_t LaunchEmbed(const EmbedTable& table, const int32_t* tokens, int64_t count, float* out,
                        cudaStream_t stream) {
  if (count * table.cols == 0) return cudaSuccess;
  EmbedKernel<<<GridFor(count * table.cols), kThreads, 0, stream>>>(table, tokens, count, out);
  return cudaGetLastError();
}

}  // namespace fp4lab::cuda
