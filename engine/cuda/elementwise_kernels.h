// Launchers of the elementwise and row-wise kernels of the CUDA backend. All tensors are f32 row-major device
// memory unless stated; bf16 buffers are passed as void* (__nv_bfloat16 bits). Each launcher enqueues on `stream`
// and returns the launch error (cudaSuccess when queued). Numerics follow engine/cpu/cpu_backend.cc operation for
// operation with explicit round-to-nearest intrinsics, so the only differences from the CPU reference are the ones
// stated per kernel.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fp4lab::cuda {

// out_bf16[i] = bf16(x[i]), round to nearest even.
cudaError_t LaunchConvertToBf16(const float* x, int64_t count, void* out_bf16, cudaStream_t stream);

// y[r, c] += bias[c] for y [rows, cols].
cudaError_t LaunchAddBias(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);

// x[i] += y[i]. Bit-identical to the CPU.
cudaError_t LaunchAddInPlace(float* x, const float* y, int64_t count, cudaStream_t stream);

// The activation of a gated MLP (engine/backend.h Activation, which this header cannot include).
enum class GateActivation { kSilu, kGeluTanh };

// out[i] = act(gate[i]) * up[i]; `out` may alias `gate`. The same operations in the same order as the CPU
// (silu: g / (1 + exp(-g)); gelu_tanh: 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))), so it differs from the CPU
// only through expf / tanhf (CUDA within 2 ulp, glibc within 1).
cudaError_t LaunchGatedMul(GateActivation act, const float* gate, const float* up, float* out, int64_t count,
                           cudaStream_t stream);

// x[i] *= factor. Bit-identical to the CPU.
cudaError_t LaunchScale(float* x, float factor, int64_t count, cudaStream_t stream);

// x[i] = cap * tanh(x[i] / cap). Differs from the CPU only through tanhf.
cudaError_t LaunchSoftCap(float* x, float cap, int64_t count, cudaStream_t stream);

// Backend::ScoreTokens for `requests` requests: request i reads row rows[i] of logits [*, vocab] and target
// targets[i]; ln p = x_t - (max + log(sum exp(x - max))) in double (the sum a block tree, where the CPU sums left to
// right) goes as a double into out[3i .. 3i + 1], and out[3i + 2] = 1 when t is the first index of the row's
// maximum. rows, targets: device int32 [requests], in range.
cudaError_t LaunchScoreTokens(const float* logits, int64_t vocab, const int32_t* rows, const int32_t* targets,
                              int64_t requests, float* out, cudaStream_t stream);

// For each of `groups` consecutive groups of `group` elements: y = (x * inv) * (offset + w[i]) with
// inv = 1 / sqrt(sum(x^2) / group + eps); weight == nullptr: y = x * inv (the scale-free form). `out` may alias `x`. Differs from the CPU only in the order of the
// sum of squares (a tree instead of a left-to-right loop).
cudaError_t LaunchRmsNorm(const float* x, const float* weight, int64_t groups, int64_t group, float eps, float offset,
                          float* out, cudaStream_t stream);

// x[i] += delta[i], then LaunchRmsNorm on x into `out`: bit-identical to LaunchAddInPlace followed by LaunchRmsNorm
// (same block size, so the same order of the sum of squares, and the same per-element operations). One kernel for
// groups of up to 8192 elements; larger groups run as those two kernels. `out` may alias `delta`, not `x`.
cudaError_t LaunchAddRmsNorm(float* x, const float* delta, const float* weight, int64_t groups, int64_t group,
                             float eps, float offset, float* out, cudaStream_t stream);

// Rotate-half RoPE in place on x[rows, heads * head_dim]; row r is at position positions[r] (device int32) and
// reads row positions[r] of rope_table [P, head_dim] (cos in columns 0 .. head_dim/2 - 1, sin after them; built on
// the host by RopeTable exactly as the CPU computes it): bit-identical to the CPU. REQUIRES positions < P.
cudaError_t LaunchRope(float* x, int64_t rows, int heads, int head_dim, const float* rope_table,
                       const int32_t* positions, cudaStream_t stream);

// The fused Rope + KV write (Backend::RopeAndStoreKv) on qkv [rows, Q + 2 KV]: q [rows, Q] gets the rotated q
// heads, row cache_rows[r] of k_cache the rotated k heads and of v_cache the v values; bit-identical to LaunchRope +
// LaunchScatterRows (same per-pair operations). positions, cache_rows: device int32 [rows].
cudaError_t LaunchRopeAndStoreKv(const float* qkv, int64_t rows, int heads, int kv_heads, int head_dim,
                                 const float* rope_table, const int32_t* positions, const int32_t* cache_rows,
                                 float* q, float* k_cache, float* v_cache, cudaStream_t stream);

// out[r, c] = act(gate_up[r, c]) * gate_up[r, f + c] for out [rows, f]: LaunchGatedMul on a fused gate|up output,
// same operations.
cudaError_t LaunchGatedMulHalves(GateActivation act, const float* gate_up, int64_t rows, int64_t f, float* out,
                                 cudaStream_t stream);

// dst[dst_rows[r], :] = src[r, :] for src [rows, cols] (the KV-cache write). dst_rows is device int32 memory;
// REQUIRES every destination row inside dst.
cudaError_t LaunchScatterRows(const float* src, int64_t rows, int64_t cols, const int32_t* dst_rows, float* dst,
                              cudaStream_t stream);

// Where an embedding table's rows live and how they decode (the DeviceLinear's stored form).
struct EmbedTable {
  enum class Format { kBf16, kNvfp4, kFp8 };
  Format format = Format::kBf16;
  const void* values = nullptr;           // bf16 [V, D]; NVFP4 codes [V, D/2]; E4M3 [V, D]
  const uint8_t* block_scales = nullptr;  // NVFP4: E4M3 [V, D/16]
  float global_scale = 1.0f;              // NVFP4 weight_scale_2, FP8 weight scale; 1 for bf16
  int64_t cols = 0;                       // D
};
// out[i, :] = decoded row tokens[i] of the table, times its global scale (as CpuLinear::DequantizedRow):
// bit-identical to the CPU. `tokens` is device memory holding `count` ids, already validated.
cudaError_t LaunchEmbed(const EmbedTable& table, const int32_t* tokens, int64_t count, float* out,
                        cudaStream_t stream);

}  // namespace fp4lab::cuda
