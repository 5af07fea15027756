// CpuLinear: one Linear layer on the CPU reference backend.
//
// Numerics (f32 accumulation in every scheme; the global scale is applied once per output, as Blackwell does):
//   kBf16        y = sum_k x[k] * W[n,k]                                   (W decoded from bf16, exact)
//   kNvfp4W4A16  y = weight_scale_2 * sum_k x[k] * (e2m1 * e4m3)[n,k]      (the products are exact in f32)
//   kNvfp4       y = (input_scale * weight_scale_2) * sum_k (qa*sa)[k] * (qw*sw)[n,k]
//                where x is quantized per 16-block per row exactly as engine/nvfp4.h specifies
//   kFp8         y = (input_scale * fp8_weight_scale) * sum_k e4m3(x/input_scale)[k] * w8[n,k]
// then + bias[n].
#pragma once

#include <string>
#include <vector>

#include "engine/backend.h"

namespace fp4lab {

class CpuLinear : public DeviceLinear {
 public:
  static Result<std::unique_ptr<CpuLinear>> Prepare(const LinearWeights& w);
  // One layer whose rows are the parts' rows stacked (StackLinearWeights); DeviceBytes stays the parts' sum (the
  // stored form keeps each part's global scales).
  static Result<std::unique_ptr<CpuLinear>> PrepareStacked(std::span<const LinearWeights> parts,
                                                           const std::string& name);

  int64_t out_features() const override { return n_; }
  int64_t in_features() const override { return k_; }
  LinearScheme scheme() const override { return scheme_; }
  int64_t DeviceBytes() const override { return stored_bytes_; }
  const std::string& name() const override { return name_; }

  // y[m, n] for x[m, k], m = rows. REQUIRES y holds rows * out_features() floats.
  Status Forward(const float* x, int64_t rows, float* y) const;
  // Row `r` of the dequantized weight W[r, :] (global scale applied), K floats (used by embedding lookups).
  void DequantizedRow(int64_t r, float* out) const;

 private:
  CpuLinear() = default;

  std::string name_;
  int64_t n_ = 0, k_ = 0;
  LinearScheme scheme_ = LinearScheme::kBf16;
  std::vector<float> w_;        // [N, K]: bf16 values, E2M1*E4M3 products or E4M3 values (no global scale)
  float weight_global_ = 1.0f;  // weight_scale_2 or fp8_weight_scale (1 for bf16)
  float input_scale_ = 1.0f;    // kNvfp4 / kFp8 static activation scale
  std::vector<float> bias_;
  int64_t stored_bytes_ = 0;
};

}  // namespace fp4lab
