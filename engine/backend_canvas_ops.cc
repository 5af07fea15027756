// The default (host reference) implementations of Backend's block-diffusion ops: download, the row functions of
// engine/diffusion/, upload. Any backend gets them; a device overrides them with kernels.
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/diffusion/self_conditioning_probs.h"

namespace fp4lab {

std::string CanvasRowsOperandError(const DeviceTensor& logits, float temperature, std::span<const double> uniforms,
                                   std::span<const CanvasRowOutcome> outcomes) {
  if (!(temperature > 0.0f)) return "temperature must be positive, got " + std::to_string(temperature);
  if (logits.cols() < 1 || static_cast<int64_t>(uniforms.size()) != logits.rows() ||
      static_cast<int64_t>(outcomes.size()) != logits.rows()) {
    return "logits [" + std::to_string(logits.rows()) + ", " + std::to_string(logits.cols()) +
           "] need one uniform and one outcome per row; got " + std::to_string(uniforms.size()) + " and " + std::to_string(outcomes.size());
  }
  return "";
}

Status Backend::ProcessCanvasRows(DeviceTensor& logits, float temperature, std::span<const double> uniforms,
                                  std::span<CanvasRowOutcome> outcomes) {
  if (const std::string error = CanvasRowsOperandError(logits, temperature, uniforms, outcomes); !error.empty()) {
    return Status::Internal(Name() + " ProcessCanvasRows: " + error);
  }
  const size_t vocab = static_cast<size_t>(logits.cols());
  std::vector<float> host(static_cast<size_t>(logits.size()));
  FP4LAB_RETURN_IF_ERROR(Download(logits, host));
  for (size_t c = 0; c < outcomes.size(); ++c) {
    outcomes[c] = ProcessCanvasRow(std::span<float>(host).subspan(c * vocab, vocab), temperature, uniforms[c]);
  }
  return Upload(host, logits);
}

Status Backend::SelfConditioningSoftmax(const DeviceTensor& logits, bool round_to_bf16, DeviceTensor& probs) {
  if (logits.rows() != probs.rows() || logits.cols() != probs.cols() || logits.cols() < 1) {
    return Status::Internal(Name() + " SelfConditioningSoftmax: logits and probs must be the same [C, V], V >= 1");
  }
  const size_t vocab = static_cast<size_t>(logits.cols());
  std::vector<float> host(static_cast<size_t>(logits.size()));
  FP4LAB_RETURN_IF_ERROR(Download(logits, host));
  for (size_t offset = 0; offset < host.size(); offset += vocab) {
    const std::span<float> row = std::span<float>(host).subspan(offset, vocab);
    SelfConditioningSoftmaxRow(row, round_to_bf16, row);
  }
  return Upload(host, probs);
}

}  // namespace fp4lab
