#include <cstring>
#include <string>

#include "engine/backend.h"
#include "engine/cpu/cpu_backend.h"
#ifdef FP4LAB_WITH_CUDA
#include "engine/cuda/cuda_backend.h"
#endif

namespace fp4lab {

std::vector<DecodedScore> DecodeScores(std::span<const float> out) {
  std::vector<DecodedScore> scores(out.size() / 3);
  for (size_t i = 0; i < scores.size(); ++i) {
    std::memcpy(&scores[i].logprob, &out[3 * i], sizeof(double));
    scores[i].is_greedy = out[3 * i + 2] != 0.0f;
  }
  return scores;
}

const char* ActivationName(Activation act) {
  switch (act) {
    case Activation::kSilu: return "silu";
    case Activation::kGeluTanh: return "gelu_pytorch_tanh";
  }
  return "unknown";
}

Result<std::unique_ptr<DeviceLinear>> Backend::PrepareFusedLinear(std::span<const LinearWeights> parts,
                                                                  const std::string& name) {
  (void)parts;
  return Status::Unimplemented(Name() + " does not stack Linears (" + name + "); prepare them one by one");
}

Status Backend::RopeAndStoreKv(const DeviceTensor& qkv, int heads, int kv_heads, int head_dim,
                               const DeviceTensor& rope_table, const RowPlacement& rows, DeviceTensor& q,
                               DeviceTensor& k_cache, DeviceTensor& v_cache) {
  (void)qkv, (void)heads, (void)kv_heads, (void)head_dim, (void)rope_table, (void)rows, (void)q, (void)k_cache,
      (void)v_cache;
  return Status::Unimplemented(Name() + " has no RopeAndStoreKv (FusedOps::stacked_linears is off)");
}

Status Backend::GatedMulHalves(Activation act, const DeviceTensor& gate_up, DeviceTensor& out) {
  (void)act, (void)gate_up, (void)out;
  return Status::Unimplemented(Name() + " has no GatedMulHalves (FusedOps::stacked_linears is off)");
}

Status Backend::AddRmsNorm(DeviceTensor& x, const DeviceTensor& delta, const DeviceTensor& weight, int64_t group,
                           float eps, float weight_offset, DeviceTensor& out) {
  if (const std::string error = AddRmsNormOperandError(x, delta, weight, group, out); !error.empty()) {
    return Status::Internal(Name() + " AddRmsNorm: " + error);
  }
  FP4LAB_RETURN_IF_ERROR(AddInPlace(x, delta));
  return RmsNorm(x, weight, group, eps, weight_offset, out);
}

std::string ExpertsOperandError(const DeviceTensor& x, const DeviceExperts& experts, const DeviceIndices& ids,
                                const DeviceTensor& weights, const DeviceTensor& out, const DeviceTensor* hidden) {
  const int64_t m = x.rows(), k = weights.cols();
  if (x.cols() != experts.hidden_size() || out.rows() != m || out.cols() != x.cols() || weights.rows() != m ||
      ids.size() != m * k ||
      (hidden != nullptr && (hidden->rows() != m * k || hidden->cols() != experts.intermediate_size()))) {
    return experts.name() + ": x [M, H], ids [M * k], weights [M, k], out [M, H] and hidden [M * k, I] disagree";
  }
  return "";
}

bool RopeAndStoreKvShapesAgree(const DeviceTensor& qkv, int heads, int kv_heads, int head_dim,
                               const DeviceTensor& rope_table, const RowPlacement& rows, const DeviceTensor& q,
                               const DeviceTensor& k_cache, const DeviceTensor& v_cache) {
  const int64_t q_dim = int64_t{heads} * head_dim, kv_dim = int64_t{kv_heads} * head_dim;
  return qkv.cols() == q_dim + 2 * kv_dim && q.cols() == q_dim && q.rows() == qkv.rows() &&
         k_cache.cols() == kv_dim && v_cache.cols() == kv_dim && k_cache.rows() == v_cache.rows() &&
         rows.positions->size() == qkv.rows() && rows.cache_rows->size() == qkv.rows() &&
         rope_table.cols() == head_dim;
}

std::string AddRmsNormOperandError(const DeviceTensor& x, const DeviceTensor& delta, const DeviceTensor& weight,
                                   int64_t group, const DeviceTensor& out) {
  if (x.size() != delta.size() || x.size() != out.size() || weight.size() != group || group <= 0 ||
      x.size() % group != 0) {
    return "x, delta and out must match and be a multiple of the weight size";
  }
  return &out == &x ? "out must not alias x" : "";
}

Result<std::unique_ptr<Backend>> CreateBackend(const std::string& device) {
  if (device == "cpu") return CreateCpuBackend();
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
#ifdef FP4LAB_WITH_CUDA
    return CreateCudaBackend(device);
#else
    return Status::Unimplemented("device '" + device + "': this fp4lab was built without CUDA (-DFP4LAB_CUDA=OFF); "
                                 "available devices: cpu");
#endif
  }
  return Status::InvalidArgument("unknown device '" + device + "' (expected cpu, cuda or cuda:N)");
}

}  // namespace fp4lab
