#include "harness/diffusion_tasks.h"

#include <algorithm>
#include <filesystem>

#include "engine/arch/architecture.h"
#include "engine/file_util.h"

namespace fp4lab {

namespace {

struct Substitution {
  const char* causal;
  const char* diffusion;
  const char* convention;
};

constexpr Substitution kSubstitutions[] = {
    {"mmlu", "mmlu_generative", "lm-eval's generative MMLU: the answer letter parsed from generated text"},
    {"fidelity", "denoiser_fidelity", "the decoder's KL and top-1 against the bf16 reference on identical canvases"},
};

}  // namespace

DiffusionTaskList SubstituteDiffusionTasks(const std::vector<std::string>& tasks) {
  DiffusionTaskList out;
  for (const std::string& task : tasks) {
    std::string name = task;
    for (const Substitution& s : kSubstitutions) {
      if (task != s.causal) continue;
      name = s.diffusion;
      out.substitutions.push_back(std::string(s.causal) + " runs as " + s.diffusion + " (" + s.convention + ")");
    }
    if (std::find(out.tasks.begin(), out.tasks.end(), name) == out.tasks.end()) out.tasks.push_back(name);
  }
  return out;
}

bool IsBlockDiffusionCheckpoint(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  auto config = ReadJsonFile(path);
  if (!config.ok()) return false;
  auto blueprint = ParseModelBlueprint(*config, path);
  return blueprint.ok() && (*blueprint)->config().block_diffusion;
}

}  // namespace fp4lab
