// LinearWeights: one Linear layer's weights in host memory, in the numeric form the run uses, before a backend
// prepares them for its device. Produced by the weight loader (read from a checkpoint, or quantized on load).
//
// Layout: W[N, K] row-major (N = out_features, K = in_features), y[M, N] = x[M, K] * W^T (+ bias).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/linear_scheme.h"

namespace fp4lab {


struct LinearWeights {
  std::string name;  // module prefix, e.g. "model.layers.0.self_attn.q_proj"
  int64_t out_features = 0;  // N
  int64_t in_features = 0;   // K
  LinearScheme scheme = LinearScheme::kBf16;
  std::string reason;  // why this scheme: "checkpoint NVFP4", "excluded by 'lm_head'", "K=172 not a multiple of 16"

  // kBf16: bf16 bit patterns [N * K].
  std::vector<uint16_t> bf16;
  // kNvfp4 / kNvfp4W4A16: packed E2M1 codes [N, K/2] (low nibble = even k), E4M3 block scales [N, K/16]
  // (linear layout, not swizzled), FP32 global weight_scale_2 (ModelOpt convention: W = e2m1 * e4m3 * ws2).
  std::vector<uint8_t> codes;
  std::vector<uint8_t> block_scales;
  float weight_scale_2 = 1.0f;
  // kNvfp4: static activation global scale (input_scale = calibrated amax / 2688).
  // kFp8: static activation scale (amax / 448).
  float input_scale = 1.0f;
  // kFp8: E4M3 weight bytes [N * K] and the per-tensor weight scale (amax / 448).
  std::vector<uint8_t> fp8;
  float fp8_weight_scale = 1.0f;
  // Optional bias [N] in f32 (from the checkpoint's bf16/f32 values).
  std::vector<float> bias;

  // Bytes the stored form occupies (codes + scales + globals + bias), the figure memory predictions use.
  int64_t StoredBytes() const;
};

}  // namespace fp4lab
