// ModelConfig: what tasks and the harness need to know about a model, whatever its family: vocabulary, context,
// special token ids, and a few sizes for descriptions. Everything else a family reads from config.json stays in
// its own file (engine/arch/<family>.cc), behind ModelBlueprint (engine/arch/architecture.h).
#pragma once

#include <string>
#include <vector>

namespace fp4lab {

struct ModelConfig {
  std::string model_type;        // config.json's model_type, e.g. "llama", "qwen3", "gemma3_text"
  std::string architecture;      // the family that runs it, e.g. "llama"
  int vocab_size = 0;
  int max_position_embeddings = 0;
  int bos_token_id = 1;
  int eos_token_id = 2;             // the first of eos_token_ids
  std::vector<int> eos_token_ids;   // every id that ends generation (config.json's eos_token_id may be a list)
  int hidden_size = 0;              // for descriptions and messages only
  int num_layers = 0;
  // A block-diffusion model (diffusion_gemma): no causal next-token distribution; LanguageModel::AsBlockDenoiser.
  bool block_diffusion = false;
  int canvas_length = 0;            // block-diffusion models: tokens per denoised canvas (config.json canvas_length)
};

}  // namespace fp4lab
