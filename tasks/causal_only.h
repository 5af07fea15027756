// Tasks that score a causal next-token distribution (perplexity, fidelity, the loglikelihood mmlu) refuse a
// block-diffusion model (LanguageModel::AsBlockDenoiser() not null) in Preflight, before any weights load or the run
// is stored: its decoder denoises a whole canvas at once, so there is no p(token | prefix) to score.
#pragma once

#include <string_view>

#include "engine/language_model.h"
#include "engine/status.h"

namespace fp4lab {

// model.AsBlockDenoiser() for a const model (Task::Preflight sees its models as const): the denoiser's facts
// (vocab_size, canvas_length, max_context) only. Null for a causal model.
const BlockDenoiser* BlockDenoiserFacts(const LanguageModel& model);
// True when `model` is a block-diffusion model.
bool IsBlockDiffusionModel(const LanguageModel& model);
// The least context a generation needs after its prompt: one token on a causal model, one whole canvas on a
// block-diffusion model (its sampler emits whole canvases). Tasks cut long prompts from the left to leave
// max(max_new_tokens, this).
int MinGenerationRoom(const LanguageModel& model);

// Ok for a causal model; for a block-diffusion model InvalidArgument "<task>: <model> is a block-diffusion model:
// ... use the <instead> task".
Status RefuseBlockDiffusionModel(const LanguageModel& model, std::string_view task, std::string_view instead);

}  // namespace fp4lab
