// Launchers of the block-diffusion step kernels of the CUDA backend (Backend::ProcessCanvasRows and
// Backend::SelfConditioningSoftmax; references: engine/diffusion/canvas_row.h and self_conditioning_probs.h). One
// block per canvas row. Tensors are f32 row-major device memory; each launcher enqueues on `stream` and returns the
// launch error.
//
// Where they differ from the CPU reference (u = 2^-53, V = the vocabulary, R = max - min of a row's finite scaled
// logits): the scaling x / T, the maximum and the argmax are exact, so the processed logits and the argmax are
// bit-identical. The sums of w_i = exp(x_i - max) run in double as on the CPU, but as a tree over contiguous chunks
// (one per thread) where the CPU sums left to right, and CUDA's exp and log are within 1 ulp where glibc's are
// correctly rounded: Z = sum w_i and W = sum w_i (x_i - max) (terms of one sign each) are within (V + 3) u
// relatively on either side, so the entropy H = ln Z - W / Z differs by at most 2 (V + 4) u (1 + R + |ln Z|)
// (tests/gpu/canvas_gpu_test.cc checks that bound). The drawn token is the first id whose cumulative weight exceeds
// uniform * Z: the same id unless that target lies within 2 (V + 4) u Z of the cumulative weight at the boundary
// between the two ids (a uniform within rounding of a CDF boundary); on random draws that is a probability of
// about 1e-10 per row.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// One row's outcome as the kernel writes it (the fields of CanvasRowOutcome, engine/diffusion/canvas_row.h).
struct CanvasRowResult {
  int32_t sampled;
  int32_t argmax;
  double entropy;  // NaN when the row has a NaN, a +inf or nothing above -inf
};

// logits [rows, vocab] in place: x / temperature; out[r] = argmax, entropy and the token drawn with uniforms[r]
// (device memory, [rows] doubles in [0, 1)). REQUIRES temperature > 0, vocab < 2^31.
cudaError_t LaunchProcessCanvasRows(float* logits, int64_t rows, int64_t vocab, float temperature,
                                    const double* uniforms, CanvasRowResult* out, cudaStream_t stream);

// probs[r, :] = softmax(x) with x = logits[r, :] rounded to bf16 (round to nearest even) when round_to_bf16; exp and
// the sum in double (a tree where the CPU sums left to right: within (V + 3) u relatively), each p rounded to f32,
// so p is the CPU's or its f32 neighbour. `probs` may alias `logits`.
cudaError_t LaunchSelfConditioningSoftmax(const float* logits, int64_t rows, int64_t vocab, bool round_to_bf16,
                                          float* probs, cudaStream_t stream);

}  // namespace fp4lab::cuda
