#include "tasks/causal_only.h"

#include <string>

namespace fp4lab {

const BlockDenoiser* BlockDenoiserFacts(const LanguageModel& model) {
  // AsBlockDenoiser() only returns a pointer the model owns and changes nothing, so asking a const model is safe.
  return const_cast<LanguageModel&>(model).AsBlockDenoiser();
}

int MinGenerationRoom(const LanguageModel& model) {
  const BlockDenoiser* denoiser = BlockDenoiserFacts(model);
  return denoiser != nullptr ? denoiser->canvas_length() : 1;
}

bool IsBlockDiffusionModel(const LanguageModel& model) { return BlockDenoiserFacts(model) != nullptr; }

Status RefuseBlockDiffusionModel(const LanguageModel& model, std::string_view task, std::string_view instead) {
  if (!IsBlockDiffusionModel(model)) return Status::Ok();
  return Status::InvalidArgument(std::string(task) + ": " + model.Describe() +
                                 " is a block-diffusion model: it has no causal next-token distribution to score (its "
                                 "decoder denoises a whole canvas at once); use the " + std::string(instead) +
                                 " task instead");
}

}  // namespace fp4lab
