// What `--tasks` means on a block-diffusion model (DiffusionGemma). Tasks that score a causal next-token distribution
// have counterparts stating a diffusion convention, and `run` substitutes them, so one task list (e.g. the issue's
// `--tasks humaneval,mmlu,fidelity`) runs on both kinds of model:
//   mmlu      -> mmlu_generative    lm-eval's generative MMLU (the answer letter parsed from generated text)
//   fidelity  -> denoiser_fidelity  the decoder's KL and top-1 against the bf16 reference on identical canvases
// `perplexity` has no counterpart and stays, so that its task refuses the model with exit 2 saying why
// (tasks/causal_only.h). The tasks themselves still refuse a diffusion model when called directly.
#pragma once

#include <string>
#include <vector>

namespace fp4lab {

struct DiffusionTaskList {
  std::vector<std::string> tasks;         // in the given order, each substituted task once
  std::vector<std::string> substitutions;  // "mmlu runs as mmlu_generative (...)", one per substituted name
};

DiffusionTaskList SubstituteDiffusionTasks(const std::vector<std::string>& tasks);

// True when DIR/config.json parses into a block-diffusion model's blueprint; false when it does not, or cannot be
// read or parsed (opening the engine reports that file's errors).
bool IsBlockDiffusionCheckpoint(const std::string& dir);

}  // namespace fp4lab
