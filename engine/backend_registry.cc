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
