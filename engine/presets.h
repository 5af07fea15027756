// Built-in model configurations for benchmarking real-size shapes without a checkpoint: each preset is a Hugging
// Face config.json object that Engine::OpenPreset (engine/engine.h) pairs with deterministic random weights
// (engine/synthetic_weights.h), so latency and memory of a real-size model are measured in any precision.
//
// Presets (published architecture values; see datasets/configs/ for the same configs as files):
//   "llama-3.1-8b" : 32 layers, hidden 4096, 32/8 heads, head_dim 128, FFN 14336, vocab 128256, untied lm_head,
//                    llama3 RoPE (factor 8, theta 500000), context 131072; 8,030,261,248 parameters.
//   "llama-3.2-1b" : 16 layers, hidden 2048, 32/8 heads, head_dim 64, FFN 8192, vocab 128256, tied embeddings,
//                    llama3 RoPE (factor 32, theta 500000), context 131072; 1,235,814,400 parameters.
//   "qwen3-8b"     : 36 layers, hidden 4096, 32/8 heads, head_dim 128, QK-norm, FFN 12288, vocab 151936, untied,
//                    rope_theta 1e6, context 40960; 8,190,735,360 parameters (published: 8.2B, 6.95B non-embedding).
//   "gemma-3-27b"  : the text model of Gemma 3 27B: 62 layers (5 sliding with window 1024 : 1 global), hidden 5376,
//                    32/16 heads, head_dim 128, FFN 21504, vocab 262208, tied, query_pre_attn_scalar 168, global
//                    RoPE 1e6 linearly scaled by 8; 27,009,346,304 parameters (the published 27.4B adds the vision
//                    tower, which fp4lab's text engine does not load).
//   "gemma-4-26b-a4b": the text model of Gemma 4 26B-A4B: 30 layers (5 sliding with window 1024 : 1 global),
//                    hidden 2816, 16 heads; sliding 8 KV heads of 256, global 2 KV heads of 512 with K = V and
//                    proportional RoPE; dense GeGLU 2112 beside 128 experts of 704 (top 8), vocab 262144, tied;
//                    25,233,141,790 parameters, 3,822,530,590 active per token (published: 25.4B with the vision
//                    tower's 0.17B, 3.8B active).
//   "tiny"         : a 2-layer llama (hidden 128, FFN 384, 4/2 heads, vocab 2048, context 512) that the CPU
//                    reference runs in well under a second per pass; for CI and tests, not a real model.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"

namespace fp4lab {

struct ModelPreset {
  std::string name;         // "llama-3.1-8b"
  std::string description;  // one line for listings
  nlohmann::json config;    // a complete HF config.json object (model_type, sizes, rope, token ids)
};

// Every preset, in the order listings show them.
const std::vector<ModelPreset>& ModelPresets();
// Their names, comma-separated in that order (for help texts and messages).
std::string PresetNames();

// The preset called `name`. InvalidArgument "unknown preset 'x' (valid: llama-3.1-8b, llama-3.2-1b, tiny)".
Result<const ModelPreset*> FindPreset(const std::string& name);

}  // namespace fp4lab
