// The default BlockDenoiser::DenoiseStep: Denoise into host memory, then the per-position work on the host.
#include "engine/diffusion/block_denoiser.h"

#include <string>
#include <utility>

#include "engine/codecs.h"

namespace fp4lab {

Status BlockDenoiser::DenoiseStep(std::span<const int32_t> canvas, const DenoiseStepSettings& settings,
                                  std::span<CanvasRowOutcome> outcomes) {
  const size_t length = static_cast<size_t>(canvas_length()), vocab = static_cast<size_t>(vocab_size());
  if (settings.uniforms.size() != length || outcomes.size() != length || !(settings.temperature > 0.0f)) {
    return Status::InvalidArgument("DenoiseStep: expected " + std::to_string(length) +
                                   " uniforms and outcomes and a positive temperature; got " +
                                   std::to_string(settings.uniforms.size()) + ", " + std::to_string(outcomes.size()) +
                                   " and " + std::to_string(settings.temperature));
  }
  if (settings.self_condition && previous_logits_.size() != length * vocab) {
    return Status::FailedPrecondition("DenoiseStep: self-conditioning asked for, but no previous step's logits");
  }
  step_logits_.resize(length * vocab);
  if (settings.self_condition && settings.self_conditioning_in_bf16) {
    // The softmax itself is Denoise's: only the cast happens here.
    for (float& value : previous_logits_) value = Bf16ToF32(F32ToBf16(value));
  }
  FP4LAB_RETURN_IF_ERROR(Denoise(canvas, settings.self_condition ? std::span<const float>(previous_logits_)
                                                                 : std::span<const float>(),
                                 step_logits_));
  for (size_t p = 0; p < length; ++p) {
    outcomes[p] = ProcessCanvasRow(std::span<float>(step_logits_).subspan(p * vocab, vocab), settings.temperature,
                                   settings.uniforms[p]);
  }
  std::swap(step_logits_, previous_logits_);
  return Status::Ok();
}

}  // namespace fp4lab
