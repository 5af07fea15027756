// Mixture-of-experts kernels (Backend::RouteTopK, Backend::Experts on CUDA; engine/cuda/cuda_experts.h drives them).
// Every expert id is read on the device, so the launches are recordable (no host sync, no host-side routing).
// Numerics against the CPU reference (engine/cpu/cpu_experts.h), op by op:
//   routing   the same ids (exact comparisons); weights from expf (<= 2 ulp, glibc's is correctly rounded) in the
//             same summation order: a few ulp apart
//   GEMVs     f32 products of exactly decoded weights, warp-parallel FMA summation  [summation order]
//   W4A4 x    quantized per 16-block bit-identically (DeviceQuantizeActivationBlock)
//   combine   bit-identical given the same expert outputs (slots in ascending expert id, round-to-nearest mul, add)
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// Per row of logits [rows, experts]: ids [rows * k] by descending logit (lower id first among equal logits) and
// weights [rows, k] = softmax probabilities, renormalized over the k if `renormalize`, times expert_scale[id] if
// expert_scale (device f32 [experts]) is not null. REQUIRES 1 <= k <= experts, no NaN logits.
cudaError_t LaunchRouteTopK(const float* logits, int64_t rows, int64_t experts, int k, bool renormalize,
                            const float* expert_scale, int32_t* ids, float* weights, cudaStream_t stream);

// The weights of one projection of all E experts: expert e's W [n, k] at e * n * k elements.
struct ExpertMatrices {
  const void* bf16 = nullptr;            // bf16 [E, n, k], or null for NVFP4
  const uint8_t* codes = nullptr;        // NVFP4 packed E2M1 [E, n, k / 2]
  const uint8_t* scales = nullptr;       // NVFP4 linear E4M3 [E, n, k / 16]
  const float* alpha = nullptr;          // NVFP4: f32 [E * parts], the factor of output row r of expert e is
                                         // alpha[e * parts + r / (n / parts)] (weight_scale_2, times input_scale
                                         // under W4A4); null for bf16
  int parts = 1;                         // gate|up stacked: 2
  int64_t n = 0, k = 0;
};

// y[s, r] = alpha * sum_c x[(s / x_row_div), c] * W_{ids[s]}[r, c] for every slot s < slots (x_row_div = k of the
// routing when x holds one row per token, 1 when one row per slot). REQUIRES k % 8 == 0 (bf16) or % 16 (NVFP4), x
// 16-byte aligned.
cudaError_t LaunchExpertsGemv(const ExpertMatrices& w, const float* x, int64_t x_row_div, const int32_t* ids,
                              int64_t slots, float* y, cudaStream_t stream);

// Tokens grouped by expert (larger batches): offsets [experts + 1] and slots_by_expert [slots] such that the slots
// routed to expert e are slots_by_expert[offsets[e] .. offsets[e + 1]) (in no particular order). One block.
cudaError_t LaunchGroupSlotsByExpert(const int32_t* ids, int64_t slots, int64_t experts, int32_t* offsets,
                                     int32_t* slots_by_expert, cudaStream_t stream);

// LaunchExpertsGemv with the slots grouped by expert: one block per (expert, rows tile) runs every slot of its
// expert, so each weight row is read from memory once per step rather than once per slot (the later reads hit the
// cache). The same per-output arithmetic as LaunchExpertsGemv: bit-identical results.
cudaError_t LaunchGroupedExpertsGemv(const ExpertMatrices& w, const float* x, int64_t x_row_div,
                                     const int32_t* offsets, const int32_t* slots_by_expert, int64_t experts,
                                     float* y, cudaStream_t stream);

// W4A4 inputs: products[s, :] = the NVFP4 fake-quantization of x[s / x_row_div, :] (k columns) with input scale
// input_scale[ids[s]] (FakeQuantizeNvfp4ActivationRow, bit for bit).
cudaError_t LaunchQuantizeExpertInputs(const float* x, int64_t x_row_div, const int32_t* ids,
                                       const float* input_scale, int64_t slots, int64_t k, float* products,
                                       cudaStream_t stream);

// out[m, c] = sum over the k slots of row m, in ascending expert id, of weights[m, j] * y[m * k + j, c] (f32
// multiply then add, from 0), for out [rows, h].
cudaError_t LaunchCombineExperts(const float* y, const int32_t* ids, const float* weights, int64_t rows, int k,
                                 int64_t h, float* out, cudaStream_t stream);

}  // namespace fp4lab::cuda
