#include "engine/cpu/cpu_linear.h"

#include "engine/codecs.h"
#include "engine/fp8.h"
#include "engine/nvfp4.h"

namespace fp4lab {

Result<std::unique_ptr<CpuLinear>> CpuLinear::PrepareStacked(std::span<const LinearWeights> parts,
                                                            const std::string& name) {
  FP4LAB_ASSIGN_OR_RETURN(LinearWeights stacked, StackLinearWeights(parts, name));
  FP4LAB_ASSIGN_OR_RETURN(auto lin, Prepare(stacked));
  lin->stored_bytes_ = 0;
  for (const LinearWeights& w : parts) lin->stored_bytes_ += w.StoredBytes();
  return lin;
}

Result<std::unique_ptr<CpuLinear>> CpuLinear::Prepare(const LinearWeights& w) {
  auto lin = std::unique_ptr<CpuLinear>(new CpuLinear());
  lin->name_ = w.name;
  lin->n_ = w.out_features;
  lin->k_ = w.in_features;
  lin->scheme_ = w.scheme;
  lin->stored_bytes_ = w.StoredBytes();
  lin->bias_ = w.bias;
  const size_t nk = static_cast<size_t>(w.out_features * w.in_features);
  lin->w_.resize(nk);
  switch (w.scheme) {
    case LinearScheme::kBf16:
      if (w.bf16.size() != nk) return Status::Internal(w.name + ": bf16 weight size mismatch");
      DecodeBf16Row(w.bf16, lin->w_);
      break;
    case LinearScheme::kNvfp4:
    case LinearScheme::kNvfp4W4A16:
      if (w.codes.size() * 2 != nk || w.block_scales.size() * 16 != nk) {
        return Status::Internal(w.name + ": NVFP4 codes/scales size mismatch");
      }
      {
        // The E2M1 x E4M3 products are exact in bf16 (engine/nvfp4.h), so decoding them to f32 loses nothing.
        std::vector<uint16_t> products(nk);
        FP4LAB_RETURN_IF_ERROR(DequantizeNvfp4Unscaled({w.out_features, w.in_features, w.codes, w.block_scales},
                                                       products).WithContext(w.name));
        DecodeBf16Row(products, lin->w_);
      }
      lin->weight_global_ = w.weight_scale_2;
      lin->input_scale_ = w.input_scale;
      break;
    case LinearScheme::kFp8:
      if (w.fp8.size() != nk) return Status::Internal(w.name + ": fp8 weight size mismatch");
      DecodeE4M3Row(w.fp8, lin->w_);
      lin->weight_global_ = w.fp8_weight_scale;
      lin->input_scale_ = w.input_scale;
      break;
  }
  return lin;
}

void CpuLinear::DequantizedRow(int64_t r, float* out) const {
  const float* row = w_.data() + r * k_;
  for (int64_t i = 0; i < k_; ++i) out[i] = row[i] * weight_global_;
}

Status CpuLinear::Forward(const float* x, int64_t rows, float* y) const {
  std::vector<float> xq(static_cast<size_t>(k_));
  float alpha = weight_global_;
  if (scheme_ == LinearScheme::kNvfp4 || scheme_ == LinearScheme::kFp8) alpha = input_scale_ * weight_global_;
  for (int64_t m = 0; m < rows; ++m) {
    const std::span<const float> xrow(x + m * k_, static_cast<size_t>(k_));
    const float* a = xrow.data();
    if (scheme_ == LinearScheme::kNvfp4) {
      FP4LAB_RETURN_IF_ERROR(FakeQuantizeNvfp4ActivationRow(xrow, input_scale_, xq).WithContext(name_));
      a = xq.data();
    } else if (scheme_ == LinearScheme::kFp8) {
      FP4LAB_RETURN_IF_ERROR(FakeQuantizeFp8Activation(xrow, input_scale_, xq).WithContext(name_));
      a = xq.data();
    }
    float* yrow = y + m * n_;
    for (int64_t n = 0; n < n_; ++n) {
      const float* wrow = w_.data() + n * k_;
      float acc = 0.0f;
      for (int64_t k = 0; k < k_; ++k) acc += a[k] * wrow[k];
      yrow[n] = scheme_ == LinearScheme::kBf16 ? acc : acc * alpha;
      if (!bias_.empty()) yrow[n] += bias_[n];
    }
  }
  return Status::Ok();
}

}  // namespace fp4lab
