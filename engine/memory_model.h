// Config-only weight memory prediction: what a model's weights occupy in a quantization scheme, computed from its
// config.json alone (no checkpoint needed), e.g. to check a claim such as "26B parameters at 4 bits is about 13 GB".
//
// A ModelInventory lists every stored weight tensor a config implies, grouped into blocks of identical shape, each
// tagged with the part of the model it belongs to. PredictWeightMemory prices the inventory in one scheme with the
// rules `fp4lab quantize` and the weight loader apply:
//   Linear [N, K] quantized : nvfp4       N*K/2 codes + N*K/16 E4M3 block scales + 8 B (weight_scale_2, input_scale)
//                             nvfp4-w4a16 N*K/2 + N*K/16 + 4 B (weight_scale_2)
//                             fp8         N*K + 8 B (weight_scale, input_scale)
//                             bf16        2*N*K
//   stays bf16 (2 B/param)  : every non-Linear tensor (embeddings, norms, biases, scalars), Linears excluded by
//                             default (lm_head, routers, the vision tower), and for NVFP4 Linears whose K % 16 != 0.
// Bytes are exact for the families the engine runs (equal to the tensor bytes `fp4lab quantize` writes, from their
// manifests); DiffusionGemma is counted from the config fields named in its function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/linear_scheme.h"
#include "engine/arch/tensor_manifest.h"
#include "engine/status.h"

namespace fp4lab {

// `count` identical stored tensors of shape [rows, cols] (a vector has cols == 1).
struct WeightBlock {
  std::string part;       // "embedding", "attention", "mlp", "experts", "router", "self_conditioning", "vision",
                          // "norms", "lm_head"
  std::string name;       // checkpoint name with '*' for repeated indices, e.g. "model.layers.*.self_attn.q_proj"
  int64_t count = 1;
  int64_t rows = 0;       // N (out_features) of a Linear; the length of a vector
  int64_t cols = 1;       // K (in_features) of a Linear; 1 for a vector
  bool linear = false;    // a Linear weight [N, K] that a quantization scheme applies to
  std::string keep_bf16;  // non-empty for a Linear that stays bf16 in every scheme: why

  int64_t Parameters() const { return count * rows * cols; }
};

struct ModelInventory {
  std::string model_type;
  std::string source;               // the config file, for messages
  std::vector<WeightBlock> blocks;  // in checkpoint order, parts contiguous where possible
  std::vector<std::string> notes;   // facts the numbers depend on, e.g. "lm_head tied to the embedding"
  // Parts the checkpoint stores but the engine recognises and does not load (DiffusionGemma's vision tower: fp4lab
  // runs text only); their bytes are checkpoint bytes, not device memory.
  std::vector<std::string> skipped_parts;

  int64_t Parameters() const;
};

// A family's tensor manifest (engine/arch/tensor_manifest.h) as blocks: tensors that differ only in their layer
// index become one block. Parameters() equals manifest.ParameterCount().
ModelInventory InventoryFromManifest(const TensorManifest& manifest, const std::string& model_type);

// DiffusionGemma ("diffusion_gemma": Gemma-4 26B-A4B MoE backbone, block-diffusion decoder, vision tower) from its
// config.json object. Reads text_config {hidden_size D, num_hidden_layers L, num_attention_heads H,
// num_key_value_heads, head_dim, intermediate_size F, moe_intermediate_size Fe, num_experts E, vocab_size V,
// layer_types, per_layer_config {"<layer>": {head_dim, num_key_value_heads}}, attention_k_eq_v,
// tie_word_embeddings} and vision_config {hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, head_dim, patch_size, position_embedding_size}. Per decoder layer: q/k/(v unless K=V on a
// full_attention layer)/o with q/k norms; a dense GeGLU MLP (F); E experts of gate/up [Fe, D] and down [D, Fe]; a
// router proj [E, D] + scale [D] + per_expert_scale [E]; 7 RMSNorms [D] and a layer_scalar; plus the embedding
// [V, D] (tied lm_head), the final norm, the self-conditioning GeGLU block (F) with its pre_norm, the encoder's
// per-layer layer_scalar, and the vision tower (layers, patch embedder [Dv, 3*patch^2], axial position table
// [2, P, Dv], projection [D, Dv]). Matches transformers' parameter count of the published model part by part
// (datasets/SOURCES.md, configs/). Errors: InvalidArgument naming `path` and the missing or malformed field.
Result<ModelInventory> DiffusionGemmaInventory(const nlohmann::json& config, const std::string& path);

// Reads the config.json at `path`: "diffusion_gemma" -> DiffusionGemmaInventory; a model_type the engine runs
// (ParseModelBlueprint) -> InventoryFromManifest of its blueprint. Errors: the file's read/parse errors;
// InvalidArgument for an unknown model_type (naming the supported ones).
Result<ModelInventory> InventoryFromConfigFile(const std::string& path);
// The same for a config.json object; `path` names it in messages.
Result<ModelInventory> InventoryFromConfig(const nlohmann::json& config, const std::string& path);

// Stored bytes of one Linear [rows, cols] in `scheme` (the table at the top of this file).
// REQUIRES: cols % 16 == 0 for the NVFP4 schemes.
int64_t LinearStoredBytes(LinearScheme scheme, int64_t rows, int64_t cols);

struct PartMemory {
  std::string part;
  int64_t parameters = 0;
  int64_t quantized_parameters = 0;  // parameters stored in the scheme (the rest are bf16)
  int64_t bytes = 0;

  double BitsPerParameter() const { return parameters ? 8.0 * static_cast<double>(bytes) / parameters : 0.0; }
};

// A Linear block that stays bf16 in the predicted scheme.
struct KeptBf16 {
  std::string name;
  int64_t parameters = 0;
  std::string reason;
};

struct MemoryPrediction {
  std::string model_type;
  LinearScheme scheme = LinearScheme::kBf16;
  std::vector<PartMemory> parts;  // in first-appearance order of the inventory's parts
  std::vector<KeptBf16> kept_bf16;
  int64_t parameters = 0;
  int64_t quantized_parameters = 0;
  int64_t code_bytes = 0;   // quantized payload: E2M1 codes (NVFP4) or E4M3 weights (FP8)
  int64_t scale_bytes = 0;  // E4M3 block scales and fp32 global scales of the quantized Linears
  int64_t bf16_bytes = 0;   // everything stored as bf16
  int64_t bytes = 0;        // code_bytes + scale_bytes + bf16_bytes

  double BitsPerParameter() const { return parameters ? 8.0 * static_cast<double>(bytes) / parameters : 0.0; }
};

MemoryPrediction PredictWeightMemory(const ModelInventory& inventory, LinearScheme scheme);

}  // namespace fp4lab
