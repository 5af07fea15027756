#include "engine/cuda/cuda_experts.h"

#include <vector>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/experts_kernels.h"
#include "engine/cuda/synthetic_device.h"
#include "engine/nvfp4.h"

namespace fp4lab::cuda {

namespace {

Status Unsupported(const std::string& name, const std::string& why) {
  return Status::Unimplemented("cuda backend: " + name + ": " + why);
}

}  // namespace

Result<std::unique_ptr<CudaExperts>> CudaExperts::Prepare(const std::shared_ptr<CudaContext>& context,
                                                          std::span<const ExpertLinears> experts,
                                                          const std::string& name) {
  if (experts.empty()) return Status::InvalidArgument(name + ": no experts");
  auto out = std::unique_ptr<CudaExperts>(new CudaExperts(context));
  out->name_ = name;
  out->e_ = static_cast<int>(experts.size());
  out->i_ = experts[0].gate.out_features;
  out->h_ = experts[0].gate.in_features;
  out->scheme_ = experts[0].gate.scheme;
  const int64_t e_count = out->e_, h = out->h_, i = out->i_;
  const LinearScheme scheme = out->scheme_;
  const bool nvfp4 = scheme == LinearScheme::kNvfp4 || scheme == LinearScheme::kNvfp4W4A16;
  if (!nvfp4 && scheme != LinearScheme::kBf16) {
    return Unsupported(name, std::string("experts in ") + LinearSchemeName(scheme) + " are not implemented");
  }
  if (h % 16 != 0 || i % 16 != 0) {
    return Unsupported(name, "expert widths " + std::to_string(h) + " and " + std::to_string(i) +
                                 " must be multiples of 16");
  }
  for (size_t e = 0; e < experts.size(); ++e) {
    const ExpertLinears& x = experts[e];
    for (const LinearWeights* w : {&x.gate, &x.up, &x.down}) {
      const bool down = w == &x.down;
      if (w->out_features != (down ? h : i) || w->in_features != (down ? i : h)) {
        return Status::InvalidArgument(name + ": expert " + std::to_string(e) + " " + w->name +
                                       " does not have the shape of expert 0's");
      }
      if (w->scheme != scheme) return Unsupported(name, "experts in several schemes are not implemented");
      if (!w->bias.empty()) return Unsupported(name, "experts with a bias are not implemented");
    }
    if (scheme == LinearScheme::kNvfp4 && x.gate.input_scale != x.up.input_scale) {
      return Unsupported(name, "expert " + std::to_string(e) + ": gate and up with different input scales");
    }
  }
  FP4LAB_RETURN_IF_ERROR(context->Activate());
  const auto allocate = [&](DeviceBuffer& dst, int64_t bytes, const std::string& what) -> Status {
    FP4LAB_ASSIGN_OR_RETURN(dst, DeviceBuffer::Allocate(context, bytes, name + " " + what));
    out->device_bytes_ += bytes;
    return Status::Ok();
  };
  // Row bytes of a [rows, k] weight and of its block scales.
  const auto row_bytes = [&](int64_t k) { return nvfp4 ? k / 2 : 2 * k; };
  FP4LAB_RETURN_IF_ERROR(allocate(out->gate_up_, e_count * 2 * i * row_bytes(h), "gate|up weights"));
  FP4LAB_RETURN_IF_ERROR(allocate(out->down_, e_count * h * row_bytes(i), "down weights"));
  if (nvfp4) {
    FP4LAB_RETURN_IF_ERROR(allocate(out->gate_up_scales_, e_count * 2 * i * (h / 16), "gate|up block scales"));
    FP4LAB_RETURN_IF_ERROR(allocate(out->down_scales_, e_count * h * (i / 16), "down block scales"));
    FP4LAB_RETURN_IF_ERROR(allocate(out->gate_up_alpha_, e_count * 2 * 4, "gate|up scales"));
    FP4LAB_RETURN_IF_ERROR(allocate(out->down_alpha_, e_count * 4, "down scales"));
  }
  if (scheme == LinearScheme::kNvfp4) {
    FP4LAB_RETURN_IF_ERROR(allocate(out->gate_up_input_, e_count * 4, "gate|up input scales"));
    FP4LAB_RETURN_IF_ERROR(allocate(out->down_input_, e_count * 4, "down input scales"));
  }
  // `bytes` at dst from the host payload (`held` bytes of it), or generated from the synthetic description.
  const auto fill = [&](uint8_t* dst, const void* src, int64_t held, int64_t bytes, const SyntheticTensor* generated,
                        const LinearWeights& w) -> Status {
    if (generated != nullptr) {
      if (generated->Bytes() != bytes) return Status::Internal(w.name + ": synthetic payload size mismatch");
      return GenerateSyntheticTensor(*context, *generated, dst);
    }
    if (held != bytes) return Status::Internal(w.name + ": payload size does not match its shape");
    CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyHostToDevice, context->stream()));
    return Status::Ok();
  };
  // One projection's weights (and scales) into row `row0` of expert e's slab in `weights` / `scales`.
  const auto put = [&](const LinearWeights& w, DeviceBuffer& weights, DeviceBuffer& scales, int64_t slab_rows,
                       int64_t e, int64_t row0) -> Status {
    const int64_t k = w.in_features, rows = w.out_features, first = e * slab_rows + row0;
    const void* payload = nvfp4 ? static_cast<const void*>(w.codes.data()) : static_cast<const void*>(w.bf16.data());
    const int64_t held = nvfp4 ? static_cast<int64_t>(w.codes.size()) : 2 * static_cast<int64_t>(w.bf16.size());
    FP4LAB_RETURN_IF_ERROR(fill(weights.as<uint8_t>() + first * row_bytes(k), payload, held, rows * row_bytes(k),
                                w.synthetic ? &w.synthetic->weight : nullptr, w));
    if (!nvfp4) return Status::Ok();
    return fill(scales.as<uint8_t>() + first * (k / 16), w.block_scales.data(),
                static_cast<int64_t>(w.block_scales.size()), rows * (k / 16),
                w.synthetic ? &w.synthetic->block_scales : nullptr, w);
  };
  std::vector<float> gate_up_alpha, down_alpha, gate_up_input, down_input;
  for (int64_t e = 0; e < e_count; ++e) {
    const ExpertLinears& x = experts[static_cast<size_t>(e)];
    FP4LAB_RETURN_IF_ERROR(put(x.gate, out->gate_up_, out->gate_up_scales_, 2 * i, e, 0));
    FP4LAB_RETURN_IF_ERROR(put(x.up, out->gate_up_, out->gate_up_scales_, 2 * i, e, i));
    FP4LAB_RETURN_IF_ERROR(put(x.down, out->down_, out->down_scales_, h, e, 0));
    // alpha as CpuLinear forms it: weight_scale_2, times input_scale under W4A4 (one f32 product).
    const auto alpha = [&](const LinearWeights& w) {
      return scheme == LinearScheme::kNvfp4 ? w.input_scale * w.weight_scale_2 : w.weight_scale_2;
    };
    gate_up_alpha.push_back(alpha(x.gate));
    gate_up_alpha.push_back(alpha(x.up));
    down_alpha.push_back(alpha(x.down));
    gate_up_input.push_back(x.gate.input_scale);
    down_input.push_back(x.down.input_scale);
  }
  const auto upload = [&](DeviceBuffer& dst, const std::vector<float>& values) -> Status {
    CUDA_CHECK(cudaMemcpyAsync(dst.data(), values.data(), values.size() * 4, cudaMemcpyHostToDevice,
                               context->stream()));
    return Status::Ok();
  };
  if (nvfp4) {
    FP4LAB_RETURN_IF_ERROR(upload(out->gate_up_alpha_, gate_up_alpha));
    FP4LAB_RETURN_IF_ERROR(upload(out->down_alpha_, down_alpha));
  }
  if (scheme == LinearScheme::kNvfp4) {
    FP4LAB_RETURN_IF_ERROR(upload(out->gate_up_input_, gate_up_input));
    FP4LAB_RETURN_IF_ERROR(upload(out->down_input_, down_input));
  }
  // The host vectors above are pageable: the copies have been staged when cudaMemcpyAsync returns.
  return out;
}

Status CudaExperts::Forward(const float* x, int64_t rows, GateActivation act, const int32_t* ids,
                            const float* weights, int k, float* out, float* hidden, Workspace& workspace) const {
  FP4LAB_RETURN_IF_ERROR(context_->Activate());
  const cudaStream_t stream = context_->stream();
  const int64_t slots = rows * k;
  const bool w4a4 = scheme_ == LinearScheme::kNvfp4;
  // Tokens grouped by expert once each expert gets two slots on average: each weight row is then read once per
  // step instead of once per slot; below that (decode) the per-slot GEMV reads only the selected experts.
  const bool grouped = slots >= 2 * int64_t{e_};
  FP4LAB_ASSIGN_OR_RETURN(
      std::vector<void*> scratch,
      workspace.Carve({slots * 2 * i_ * 4, hidden != nullptr ? 0 : slots * i_ * 4, slots * h_ * 4,
                       w4a4 ? slots * (h_ > i_ ? h_ : i_) * 4 : 0, grouped ? (e_ + 1) * 4 : 0,
                       grouped ? slots * 4 : 0},
                      name_ + " experts"));
  float* gate_up = static_cast<float*>(scratch[0]);
  float* h = hidden != nullptr ? hidden : static_cast<float*>(scratch[1]);
  float* y = static_cast<float*>(scratch[2]);
  float* quantized = static_cast<float*>(scratch[3]);
  int32_t* offsets = static_cast<int32_t*>(scratch[4]);
  int32_t* slots_by_expert = static_cast<int32_t*>(scratch[5]);
  if (grouped) CUDA_CHECK(LaunchGroupSlotsByExpert(ids, slots, e_, offsets, slots_by_expert, stream));
  // y_out[s] = W_{ids[s]} in[s / div] for every slot.
  const auto gemv = [&](const ExpertMatrices& m, const float* in, int64_t div, float* y_out) -> Status {
    if (grouped) {
      CUDA_CHECK(LaunchGroupedExpertsGemv(m, in, div, offsets, slots_by_expert, e_, y_out, stream));
    } else {
      CUDA_CHECK(LaunchExpertsGemv(m, in, div, ids, slots, y_out, stream));
    }
    return Status::Ok();
  };
  const bool nvfp4 = scheme_ != LinearScheme::kBf16;
  const auto matrices = [&](const DeviceBuffer& w, const DeviceBuffer& scales, const DeviceBuffer& alpha, int parts,
                            int64_t n, int64_t kk) {
    ExpertMatrices m;
    m.n = n;
    m.k = kk;
    m.parts = parts;
    if (nvfp4) {
      m.codes = w.as<uint8_t>();
      m.scales = scales.as<uint8_t>();
      m.alpha = alpha.as<float>();
    } else {
      m.bf16 = w.data();
    }
    return m;
  };
  const float* gate_up_in = x;
  int64_t gate_up_div = k;
  if (w4a4) {
    CUDA_CHECK(LaunchQuantizeExpertInputs(x, k, ids, gate_up_input_.as<float>(), slots, h_, quantized, stream));
    gate_up_in = quantized;
    gate_up_div = 1;
  }
  FP4LAB_RETURN_IF_ERROR(
      gemv(matrices(gate_up_, gate_up_scales_, gate_up_alpha_, 2, 2 * i_, h_), gate_up_in, gate_up_div, gate_up));
  CUDA_CHECK(LaunchGatedMulHalves(act, gate_up, slots, i_, h, stream));
  const float* down_in = h;
  if (w4a4) {
    CUDA_CHECK(LaunchQuantizeExpertInputs(h, 1, ids, down_input_.as<float>(), slots, i_, quantized, stream));
    down_in = quantized;
  }
  FP4LAB_RETURN_IF_ERROR(gemv(matrices(down_, down_scales_, down_alpha_, 1, h_, i_), down_in, 1, y));
  CUDA_CHECK(LaunchCombineExperts(y, ids, weights, rows, k, h_, out, stream));
  return Status::Ok();
}

}  // namespace fp4lab::cuda
