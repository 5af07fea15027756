// LinearWeights: one Linear layer's weights in host memory, in the numeric form the run uses, before a backend
// prepares them for its device. Produced by the weight loader (read from a checkpoint, or quantized on load).
// A synthetic layer may leave its payload unmaterialized for a backend that generates it on its device (`synthetic`).
//
// Layout: W[N, K] row-major (N = out_features, K = in_features), y[M, N] = x[M, K] * W^T (+ bias).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/linear_scheme.h"
#include "engine/status.h"
#include "engine/synthetic_spec.h"

namespace fp4lab {

// The payload of a synthetic Linear as descriptions (engine/synthetic_spec.h) instead of bytes.
struct SyntheticLinearPayload {
  SyntheticTensor weight;        // the bf16 values, packed E2M1 codes or E4M3 bytes, as the vector it replaces
  SyntheticTensor block_scales;  // NVFP4 schemes: the linear E4M3 block scales; elements 0 otherwise
};

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
  // Set only for a backend that generates synthetic weights on its device (Backend::GeneratesSyntheticWeights):
  // then bf16, codes, block_scales and fp8 are empty and the backend produces exactly the bytes they would hold
  // from these descriptions. Scalars and bias are set as usual.
  std::optional<SyntheticLinearPayload> synthetic;

  // Elements of the weight payload (bf16 values, packed code bytes or E4M3 bytes for the scheme) and of the block
  // scales, materialized or synthetic.
  int64_t WeightElements() const;
  int64_t BlockScaleElements() const;
  // Bytes the stored form occupies (codes + scales + globals + bias), the figure memory predictions use.
  int64_t StoredBytes() const;
};

// Whether `parts` can run as one Linear whose output rows are theirs stacked in order (fused q|k|v, gate|up): same
// in_features and scheme, bit-equal global scales (weight_scale_2, fp8_weight_scale, input_scale), a bias on all
// or none, and either all materialized or all synthetic. FailedPrecondition naming the first difference otherwise.
Status CheckFusable(std::span<const LinearWeights> parts);

// The materialized parts stacked into one LinearWeights named `name` (W rows, block-scale rows and biases
// concatenated; the scalars of the first part). CheckFusable's FailedPrecondition when they cannot be stacked;
// InvalidArgument for a synthetic part.
Result<LinearWeights> StackLinearWeights(std::span<const LinearWeights> parts, const std::string& name);

}  // namespace fp4lab
