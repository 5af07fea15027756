#include "engine/cuda/experts_kernels.h"

#include <cuda_bf16.h>

#include "engine/cuda/device_codecs.cuh"
#include "engine/cuda/kernel_util.cuh"

namespace fp4lab::cuda {
namespace {

constexpr int kWarps = kThreads / 32;  // GEMV rows per block

// Grid of a grid-stride loop over `count` items (at least one block).
unsigned Blocks(int64_t count) { return count > 0 ? GridFor(count) : 1u; }

// True when expert a (logit la) ranks before expert b (logit lb): larger logit, then lower id.
__device__ __forceinline__ bool RanksBefore(float la, int a, float lb, int b) { return la > lb || (la == lb && a < b); }

// One thread per row, in the CPU reference's order (engine/cpu/cpu_experts.h).
__global__ void RouteTopKKernel(const float* logits, int64_t rows, int64_t experts, int k, bool renormalize,
                                const float* expert_scale, int32_t* ids, float* weights) {
  for (int64_t m = GlobalThread(); m < rows; m += GlobalStride()) {
    const float* l = logits + m * experts;
    int32_t* id = ids + m * k;
    float* w = weights + m * k;
    // Rank j is the best expert ranking after rank j - 1 (a total order: no flags needed for any E).
    for (int j = 0; j < k; ++j) {
      int best = -1;
      for (int e = 0; e < experts; ++e) {
        if (j > 0 && !RanksBefore(l[id[j - 1]], id[j - 1], l[e], e)) continue;
        if (best < 0 || RanksBefore(l[e], e, l[best], best)) best = e;
      }
      id[j] = best;
    }
    const float max = l[id[0]];
    float sum = 0.0f;
    for (int64_t e = 0; e < experts; ++e) sum = __fadd_rn(sum, expf(__fsub_rn(l[e], max)));
    for (int j = 0; j < k; ++j) w[j] = __fdiv_rn(expf(__fsub_rn(l[id[j]], max)), sum);
    if (renormalize) {
      float total = 0.0f;
      for (int j = 0; j < k; ++j) total = __fadd_rn(total, w[j]);
      for (int j = 0; j < k; ++j) w[j] = __fdiv_rn(w[j], total);
    }
    if (expert_scale != nullptr) {
      for (int j = 0; j < k; ++j) w[j] = __fmul_rn(w[j], expert_scale[id[j]]);
    }
  }
}

// Output row r of expert e's W for input row xr, by one warp (the result in every lane): f32 products of the
// exactly decoded weights, FMA-accumulated per lane, then WarpSum.
__device__ __forceinline__ float Bf16RowDot(const __nv_bfloat16* w, int64_t e, int64_t r, int64_t n, int64_t k,
                                            const float* xr, int lane) {
  const __nv_bfloat16* row = w + (e * n + r) * k;
  float acc = 0.0f;
  for (int64_t c = int64_t{lane} * 8; c < k; c += 32 * 8) {
    const uint4 packed = *reinterpret_cast<const uint4*>(row + c);
    const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&packed);
    const float4 x0 = *reinterpret_cast<const float4*>(xr + c);
    const float4 x1 = *reinterpret_cast<const float4*>(xr + c + 4);
    const float xs[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 wf = __bfloat1622float2(pairs[i]);
      acc = fmaf(xs[2 * i], wf.x, acc);
      acc = fmaf(xs[2 * i + 1], wf.y, acc);
    }
  }
  return WarpSum(acc);
}

// The same for NVFP4 (each lane takes whole 16-element blocks), times the row's alpha.
__device__ __forceinline__ float Nvfp4RowDot(const ExpertMatrices& w, int64_t e, int64_t r, const float* xr,
                                             int lane) {
  const int64_t n = w.n, k = w.k, blocks = k / 16;
  const uint8_t* row_codes = w.codes + (e * n + r) * (k / 2);
  const uint8_t* row_scales = w.scales + (e * n + r) * blocks;
  float acc = 0.0f;
  for (int64_t b = lane; b < blocks; b += 32) {
    const uint2 packed = *reinterpret_cast<const uint2*>(row_codes + b * 8);
    const float scale = DeviceE4M3ToF32(row_scales[b]);
    const uint32_t words[2] = {packed.x, packed.y};
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const float wv = __fmul_rn(DeviceE2M1ToF32((words[i / 8] >> (4 * (i % 8))) & 0xFu), scale);  // exact
      acc = fmaf(xr[b * 16 + i], wv, acc);
    }
  }
  return __fmul_rn(WarpSum(acc), w.alpha[e * w.parts + r / (n / w.parts)]);
}

__device__ __forceinline__ float RowDot(const ExpertMatrices& w, int64_t e, int64_t r, const float* xr, int lane) {
  return w.bf16 != nullptr ? Bf16RowDot(static_cast<const __nv_bfloat16*>(w.bf16), e, r, w.n, w.k, xr, lane)
                           : Nvfp4RowDot(w, e, r, xr, lane);
}

// One warp per (slot, output row): grid (slots, ceil(n / kWarps)).
__global__ void ExpertsGemvKernel(ExpertMatrices w, const float* x, int64_t x_row_div, const int32_t* ids, float* y) {
  const int64_t s = blockIdx.x;
  const int64_t r = static_cast<int64_t>(blockIdx.y) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= w.n) return;
  const float dot = RowDot(w, ids[s], r, x + (s / x_row_div) * w.k, lane);
  if (lane == 0) y[s * w.n + r] = dot;
}

// One warp per (expert, output row), over every slot of that expert: grid (experts, ceil(n / kWarps)).
__global__ void GroupedExpertsGemvKernel(ExpertMatrices w, const float* x, int64_t x_row_div,
                                         const int32_t* offsets, const int32_t* slots_by_expert, float* y) {
  const int64_t e = blockIdx.x;
  const int64_t r = static_cast<int64_t>(blockIdx.y) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= w.n) return;
  for (int32_t i = offsets[e]; i < offsets[e + 1]; ++i) {
    const int64_t s = slots_by_expert[i];
    const float dot = RowDot(w, e, r, x + (s / x_row_div) * w.k, lane);
    if (lane == 0) y[s * w.n + r] = dot;
  }
}

// One block: counts per expert in shared memory, an exclusive scan, then each slot placed at its expert's cursor.
__global__ void GroupSlotsKernel(const int32_t* ids, int64_t slots, int64_t experts, int32_t* offsets,
                                 int32_t* slots_by_expert) {
  extern __shared__ int32_t cursor[];  // [experts]
  for (int64_t e = threadIdx.x; e < experts; e += blockDim.x) cursor[e] = 0;
  __syncthreads();
  for (int64_t s = threadIdx.x; s < slots; s += blockDim.x) atomicAdd(&cursor[ids[s]], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t total = 0;
    for (int64_t e = 0; e < experts; ++e) {
      const int32_t count = cursor[e];
      offsets[e] = total;
      cursor[e] = total;
      total += count;
    }
    offsets[experts] = total;
  }
  __syncthreads();
  for (int64_t s = threadIdx.x; s < slots; s += blockDim.x) {
    slots_by_expert[atomicAdd(&cursor[ids[s]], 1)] = static_cast<int32_t>(s);
  }
}

// One thread per (slot, 16-block).
__global__ void QuantizeExpertInputsKernel(const float* x, int64_t x_row_div, const int32_t* ids,
                                           const float* input_scale, int64_t slots, int64_t k, float* products) {
  const int64_t blocks = k / 16;
  for (int64_t i = GlobalThread(); i < slots * blocks; i += GlobalStride()) {
    const int64_t s = i / blocks, b = i % blocks;
    const float* xb = x + (s / x_row_div) * k + b * 16;
    float v[16];
#pragma unroll
    for (int j = 0; j < 16; ++j) v[j] = xb[j];
    uint8_t codes[16];
    const float sa = DeviceE4M3ToF32(DeviceQuantizeActivationBlock(v, input_scale[ids[s]], codes));
#pragma unroll
    for (int j = 0; j < 16; ++j) products[s * k + b * 16 + j] = __fmul_rn(DeviceE2M1ToF32(codes[j]), sa);
  }
}

// One thread per output element.
__global__ void CombineExpertsKernel(const float* y, const int32_t* ids, const float* weights, int64_t rows, int k,
                                     int64_t h, float* out) {
  for (int64_t i = GlobalThread(); i < rows * h; i += GlobalStride()) {
    const int64_t m = i / h, c = i % h;
    const int32_t* id = ids + m * k;
    float acc = 0.0f;
    int previous = -1;  // the slots in ascending expert id (ids of a row are distinct)
    for (int t = 0; t < k; ++t) {
      int next = -1;
      for (int j = 0; j < k; ++j) {
        if (id[j] > previous && (next < 0 || id[j] < id[next])) next = j;
      }
      acc = __fadd_rn(acc, __fmul_rn(weights[m * k + next], y[(m * k + next) * h + c]));
      previous = id[next];
    }
    out[i] = acc;
  }
}

}  // namespace

cudaError_t LaunchRouteTopK(const float* logits, int64_t rows, int64_t experts, int k, bool renormalize,
                            const float* expert_scale, int32_t* ids, float* weights, cudaStream_t stream) {
  RouteTopKKernel<<<Blocks(rows), kThreads, 0, stream>>>(logits, rows, experts, k, renormalize, expert_scale, ids,
                                                          weights);
  return cudaGetLastError();
}

cudaError_t LaunchExpertsGemv(const ExpertMatrices& w, const float* x, int64_t x_row_div, const int32_t* ids,
                              int64_t slots, float* y, cudaStream_t stream) {
  if (slots == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(slots), static_cast<unsigned>((w.n + kWarps - 1) / kWarps));
  ExpertsGemvKernel<<<grid, kThreads, 0, stream>>>(w, x, x_row_div, ids, y);
  return cudaGetLastError();
}

cudaError_t LaunchGroupSlotsByExpert(const int32_t* ids, int64_t slots, int64_t experts, int32_t* offsets,
                                     int32_t* slots_by_expert, cudaStream_t stream) {
  GroupSlotsKernel<<<1, 1024, static_cast<size_t>(experts) * sizeof(int32_t), stream>>>(ids, slots, experts, offsets,
                                                                                       slots_by_expert);
  return cudaGetLastError();
}

cudaError_t LaunchGroupedExpertsGemv(const ExpertMatrices& w, const float* x, int64_t x_row_div,
                                     const int32_t* offsets, const int32_t* slots_by_expert, int64_t experts,
                                     float* y, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(experts), static_cast<unsigned>((w.n + kWarps - 1) / kWarps));
  GroupedExpertsGemvKernel<<<grid, kThreads, 0, stream>>>(w, x, x_row_div, offsets, slots_by_expert, y);
  return cudaGetLastError();
}

cudaError_t LaunchQuantizeExpertInputs(const float* x, int64_t x_row_div, const int32_t* ids,
                                       const float* input_scale, int64_t slots, int64_t k, float* products,
                                       cudaStream_t stream) {
  QuantizeExpertInputsKernel<<<Blocks(slots * (k / 16)), kThreads, 0, stream>>>(x, x_row_div, ids, input_scale,
                                                                                  slots, k, products);
  return cudaGetLastError();
}

cudaError_t LaunchCombineExperts(const float* y, const int32_t* ids, const float* weights, int64_t rows, int k,
                                 int64_t h, float* out, cudaStream_t stream) {
  CombineExpertsKernel<<<Blocks(rows * h), kThreads, 0, stream>>>(y, ids, weights, rows, k, h, out);
  return cudaGetLastError();
}

}  // namespace fp4lab::cuda
