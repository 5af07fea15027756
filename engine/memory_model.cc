#include "engine/memory_model.h"

#include <algorithm>
#include <map>
#include <regex>

#include "engine/arch/architecture.h"
#include "engine/file_util.h"
#include "engine/nvfp4.h"

namespace fp4lab {

namespace {

using nlohmann::json;

WeightBlock Vector(std::string part, std::string name, int64_t count, int64_t length) {
  return {std::move(part), std::move(name), count, length, 1, false, ""};
}

WeightBlock Linear(std::string part, std::string name, int64_t count, int64_t rows, int64_t cols,
                   std::string keep_bf16 = "") {
  return {std::move(part), std::move(name), count, rows, cols, true, std::move(keep_bf16)};
}

// A positive integer field of `object` ("<section>.<key>" in messages).
Result<int64_t> PositiveInt(const json& object, const std::string& section, const char* key, const std::string& path) {
  const std::string field = section.empty() ? key : section + "." + key;
  if (!object.contains(key)) return Status::InvalidArgument(path + ": missing field '" + field + "'");
  const json& v = object[key];
  if (!v.is_number_integer() || v.get<int64_t>() <= 0) {
    return Status::InvalidArgument(path + ": field '" + field + "' must be a positive integer, got " + v.dump());
  }
  return v.get<int64_t>();
}

Result<bool> OptionalBool(const json& object, const std::string& field_name, const char* key, bool fallback,
                          const std::string& path) {
  if (!object.contains(key) || object[key].is_null()) return fallback;
  if (!object[key].is_boolean()) {
    return Status::InvalidArgument(path + ": field '" + field_name + "' must be true or false");
  }
  return object[key].get<bool>();
}

// Per-layer attention geometry of a Gemma-4 style decoder.
struct AttentionShape {
  int64_t head_dim = 0;
  int64_t kv_heads = 0;
  bool k_eq_v = false;  // full-attention layer whose V is its K (no v_proj)
  auto operator<=>(const AttentionShape&) const = default;
};

Result<std::vector<AttentionShape>> GemmaAttentionShapes(const json& text, int64_t layers, const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(const int64_t head_dim, PositiveInt(text, "text_config", "head_dim", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t kv_heads, PositiveInt(text, "text_config", "num_key_value_heads", path));
  FP4LAB_ASSIGN_OR_RETURN(const bool k_eq_v,
                          OptionalBool(text, "text_config.attention_k_eq_v", "attention_k_eq_v", false, path));
  std::vector<AttentionShape> shapes(static_cast<size_t>(layers), {head_dim, kv_heads, false});
  if (text.contains("layer_types") && !text["layer_types"].is_null()) {
    const json& types = text["layer_types"];
    if (!types.is_array() || static_cast<int64_t>(types.size()) != layers) {
      return Status::InvalidArgument(path + ": field 'text_config.layer_types' must be a list of " +
                                     std::to_string(layers) + " layer types (num_hidden_layers)");
    }
    for (int64_t l = 0; l < layers; ++l) {
      if (!types[l].is_string()) {
        return Status::InvalidArgument(path + ": text_config.layer_types[" + std::to_string(l) + "] must be a string");
      }
      shapes[l].k_eq_v = k_eq_v && types[l].get<std::string>() == "full_attention";
    }
  } else if (k_eq_v) {
    return Status::InvalidArgument(path + ": text_config.attention_k_eq_v is true but 'text_config.layer_types' is "
                                   "missing (K=V applies to the full_attention layers)");
  }
  if (text.contains("per_layer_config") && !text["per_layer_config"].is_null()) {
    if (!text["per_layer_config"].is_object()) {
      return Status::InvalidArgument(path + ": field 'text_config.per_layer_config' must be an object");
    }
    for (const auto& [key, overrides] : text["per_layer_config"].items()) {
      const std::string field = "text_config.per_layer_config." + key;
      size_t used = 0;
      int64_t layer = -1;
      try {
        layer = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != key.size() || layer < 0 || layer >= layers) {
        return Status::InvalidArgument(path + ": '" + field + "': the key must be a layer index in 0.." +
                                       std::to_string(layers - 1));
      }
      if (!overrides.is_object()) return Status::InvalidArgument(path + ": '" + field + "' must be an object");
      if (overrides.contains("head_dim")) {
        FP4LAB_ASSIGN_OR_RETURN(shapes[layer].head_dim, PositiveInt(overrides, field, "head_dim", path));
      }
      if (overrides.contains("num_key_value_heads")) {
        FP4LAB_ASSIGN_OR_RETURN(shapes[layer].kv_heads, PositiveInt(overrides, field, "num_key_value_heads", path));
      }
    }
  }
  return shapes;
}

Status AddGemmaVisionTower(const json& config, int64_t text_hidden, const std::string& path,
                           std::vector<WeightBlock>* blocks) {
  const json& v = config["vision_config"];
  const std::string s = "vision_config";
  FP4LAB_ASSIGN_OR_RETURN(const int64_t d, PositiveInt(v, s, "hidden_size", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t f, PositiveInt(v, s, "intermediate_size", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t layers, PositiveInt(v, s, "num_hidden_layers", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t heads, PositiveInt(v, s, "num_attention_heads", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t kv_heads, PositiveInt(v, s, "num_key_value_heads", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t head_dim, PositiveInt(v, s, "head_dim", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t patch, PositiveInt(v, s, "patch_size", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t positions, PositiveInt(v, s, "position_embedding_size", path));
  const std::string why = "vision tower: ModelOpt and vLLM keep vision_tower unquantized";
  const std::string p = "model.encoder.vision_tower.";
  const std::string l = p + "encoder.layers.*.";
  blocks->push_back(Linear("vision", p + "patch_embedder.input_proj", 1, d, 3 * patch * patch, why));
  blocks->push_back({"vision", p + "patch_embedder.position_embedding_table", 2, positions, d, false, ""});
  blocks->push_back(Linear("vision", l + "self_attn.q_proj", layers, heads * head_dim, d, why));
  blocks->push_back(Linear("vision", l + "self_attn.k_proj", layers, kv_heads * head_dim, d, why));
  blocks->push_back(Linear("vision", l + "self_attn.v_proj", layers, kv_heads * head_dim, d, why));
  blocks->push_back(Linear("vision", l + "self_attn.o_proj", layers, d, heads * head_dim, why));
  blocks->push_back(Vector("vision", l + "self_attn.{q,k}_norm", 2 * layers, head_dim));
  blocks->push_back(Linear("vision", l + "mlp.gate_proj", layers, f, d, why));
  blocks->push_back(Linear("vision", l + "mlp.up_proj", layers, f, d, why));
  blocks->push_back(Linear("vision", l + "mlp.down_proj", layers, d, f, why));
  blocks->push_back(Vector("vision", l + "{input,post_attention,pre_feedforward,post_feedforward}_layernorm",
                           4 * layers, d));
  blocks->push_back(Linear("vision", "model.encoder.embed_vision.embedding_projection", 1, text_hidden, d, why));
  return Status::Ok();
}

Result<ModelInventory> DiffusionGemmaInventoryImpl(const json& config, const std::string& path) {
  if (!config.is_object() || !config.contains("text_config") || !config["text_config"].is_object()) {
    return Status::InvalidArgument(path + ": missing object 'text_config'");
  }
  const json& text = config["text_config"];
  const std::string s = "text_config";
  FP4LAB_ASSIGN_OR_RETURN(const int64_t d, PositiveInt(text, s, "hidden_size", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t layers, PositiveInt(text, s, "num_hidden_layers", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t heads, PositiveInt(text, s, "num_attention_heads", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t f, PositiveInt(text, s, "intermediate_size", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t fe, PositiveInt(text, s, "moe_intermediate_size", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t experts, PositiveInt(text, s, "num_experts", path));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t vocab, PositiveInt(text, s, "vocab_size", path));
  FP4LAB_ASSIGN_OR_RETURN(const bool top_tied,
                          OptionalBool(config, "tie_word_embeddings", "tie_word_embeddings", true, path));
  FP4LAB_ASSIGN_OR_RETURN(const bool tied, OptionalBool(text, "text_config.tie_word_embeddings",
                                                        "tie_word_embeddings", top_tied, path));
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<AttentionShape> shapes, GemmaAttentionShapes(text, layers, path));

  ModelInventory inv;
  inv.model_type = config.value("model_type", "diffusion_gemma");
  inv.source = path;
  auto& b = inv.blocks;
  const std::string p = "model.decoder.";
  const std::string l = p + "layers.*.";
  b.push_back({"embedding", p + "embed_tokens", 1, vocab, d, false, ""});
  // Attention: one block set per distinct layer geometry (sliding layers, full layers with K=V).
  std::map<AttentionShape, int64_t> geometry;
  for (const AttentionShape& shape : shapes) geometry[shape]++;
  for (const auto& [shape, count] : geometry) {
    const int64_t q = heads * shape.head_dim, kv = shape.kv_heads * shape.head_dim;
    const std::string kind = shape.k_eq_v ? " (full attention, K=V)" : "";
    b.push_back(Linear("attention", l + "self_attn.q_proj" + kind, count, q, d));
    b.push_back(Linear("attention", l + "self_attn.k_proj" + kind, count, kv, d));
    if (!shape.k_eq_v) b.push_back(Linear("attention", l + "self_attn.v_proj" + kind, count, kv, d));
    b.push_back(Linear("attention", l + "self_attn.o_proj" + kind, count, d, q));
    b.push_back(Vector("attention", l + "self_attn.{q,k}_norm" + kind, 2 * count, shape.head_dim));
  }
  b.push_back(Linear("mlp", l + "mlp.gate_proj", layers, f, d));
  b.push_back(Linear("mlp", l + "mlp.up_proj", layers, f, d));
  b.push_back(Linear("mlp", l + "mlp.down_proj", layers, d, f));
  // Experts as ModelOpt exports them: one Linear per expert and projection (NVFP4.md section 4, MoE).
  b.push_back(Linear("experts", l + "experts.*.gate_proj", layers * experts, fe, d));
  b.push_back(Linear("experts", l + "experts.*.up_proj", layers * experts, fe, d));
  b.push_back(Linear("experts", l + "experts.*.down_proj", layers * experts, d, fe));
  b.push_back(Linear("router", l + "router.proj", layers, experts, d, "router: excluded by default (*router*)"));
  b.push_back(Vector("router", l + "router.scale", layers, d));
  b.push_back(Vector("router", l + "router.per_expert_scale", layers, experts));
  b.push_back(Linear("self_conditioning", p + "self_conditioning.gate_proj", 1, f, d));
  b.push_back(Linear("self_conditioning", p + "self_conditioning.up_proj", 1, f, d));
  b.push_back(Linear("self_conditioning", p + "self_conditioning.down_proj", 1, d, f));
  b.push_back(Vector("self_conditioning", p + "self_conditioning.pre_norm", 1, d));
  b.push_back(Vector("norms", l + "{input,post_attention,pre_feedforward,post_feedforward}_layernorm, "
                                  "pre_feedforward_layernorm_2, post_feedforward_layernorm_{1,2}",
                     7 * layers, d));
  b.push_back(Vector("norms", l + "layer_scalar", layers, 1));
  b.push_back(Vector("norms", "model.encoder.language_model.layers.*.layer_scalar", layers, 1));
  b.push_back(Vector("norms", p + "norm", 1, d));
  if (tied) {
    inv.notes.push_back("lm_head tied to the embedding: stored once, bf16");
  } else {
    b.push_back(Linear("lm_head", "lm_head", 1, vocab, d, "lm_head: excluded by default"));
  }
  if (config.contains("vision_config") && !config["vision_config"].is_null()) {
    if (!config["vision_config"].is_object()) {
      return Status::InvalidArgument(path + ": field 'vision_config' must be an object");
    }
    FP4LAB_RETURN_IF_ERROR(AddGemmaVisionTower(config, d, path, &b));
    inv.skipped_parts.push_back("vision");
    inv.notes.push_back("vision tower (model.encoder.vision_tower.*, model.encoder.embed_vision.*): stored in the "
                        "checkpoint and counted here, recognised and skipped by fp4lab (text only: not loaded)");
  }
  inv.notes.push_back("routers and the vision tower stay bf16; the 3-D expert tensors are counted as one Linear per "
                      "expert and projection, each with its own global scales");
  return inv;
}

}  // namespace

int64_t ModelInventory::Parameters() const {
  int64_t total = 0;
  for (const WeightBlock& block : blocks) total += block.Parameters();
  return total;
}

ModelInventory InventoryFromManifest(const TensorManifest& manifest, const std::string& model_type) {
  ModelInventory inv;
  inv.model_type = model_type;
  // Tensors that differ only in their layer index form one block: "model.layers.*.self_attn.q_proj".
  static const std::regex kLayerIndex(R"(\.layers\.[0-9]+\.)");
  std::map<std::string, size_t> block_of;
  const auto add = [&](WeightBlock block) {
    block.name = std::regex_replace(block.name, kLayerIndex, ".layers.*.");
    const std::string key = block.part + "|" + block.name + "|" + std::to_string(block.rows) + "x" +
                            std::to_string(block.cols) + (block.linear ? "L" : "");
    const auto [it, inserted] = block_of.emplace(key, inv.blocks.size());
    if (inserted) {
      inv.blocks.push_back(std::move(block));
    } else {
      inv.blocks[it->second].count += block.count;
    }
  };
  const auto strip_weight = [](const std::string& name) {
    const std::string suffix = ".weight";
    return name.ends_with(suffix) ? name.substr(0, name.size() - suffix.size()) : name;
  };
  bool has_lm_head = false;
  for (const ManifestTensor& t : manifest.tensors) {
    switch (t.kind) {
      case TensorKind::kEmbedding:
        add({t.part, strip_weight(t.name), 1, t.shape[0], t.shape[1], false, ""});
        break;
      case TensorKind::kVector:
        add(Vector(t.part, strip_weight(t.name), 1, t.shape[0]));
        break;
      case TensorKind::kLinear:
        has_lm_head = has_lm_head || t.part == "lm_head";
        add(Linear(t.part, t.name, t.experts > 0 ? t.experts : 1, t.shape[0], t.shape[1], t.keep_bf16));
        if (t.bias) add(Vector(t.part, t.name + ".bias", t.experts > 0 ? t.experts : 1, t.shape[0]));
        break;
    }
  }
  if (!has_lm_head) inv.notes.push_back("lm_head tied to the embedding: stored once, bf16");
  return inv;
}

Result<ModelInventory> DiffusionGemmaInventory(const nlohmann::json& config, const std::string& path) {
  try {
    return DiffusionGemmaInventoryImpl(config, path);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(path + ": a field has the wrong type: " + e.what());
  }
}

Result<ModelInventory> InventoryFromConfigFile(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json config, ReadJsonFile(path));
  return InventoryFromConfig(config, path);
}

Result<ModelInventory> InventoryFromConfig(const nlohmann::json& config, const std::string& path) {
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string()) {
    return Status::InvalidArgument(path + ": missing string field 'model_type'");
  }
  const std::string model_type = config["model_type"].get<std::string>();
  if (model_type == "diffusion_gemma") return DiffusionGemmaInventory(config, path);
  auto blueprint = ParseModelBlueprint(config, path);
  if (!blueprint.ok()) {
    return Status(blueprint.status().code(),
                  blueprint.status().message() + "; config-only prediction also supports diffusion_gemma");
  }
  ModelInventory inv = InventoryFromManifest((*blueprint)->manifest(), model_type);
  inv.source = path;
  return inv;
}

int64_t LinearStoredBytes(LinearScheme scheme, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  switch (scheme) {
    case LinearScheme::kBf16: return 2 * n;
    case LinearScheme::kNvfp4: return n / 2 + n / kNvfp4BlockSize + 8;
    case LinearScheme::kNvfp4W4A16: return n / 2 + n / kNvfp4BlockSize + 4;
    case LinearScheme::kFp8: return n + 8;
  }
  return 2 * n;
}

MemoryPrediction PredictWeightMemory(const ModelInventory& inventory, LinearScheme scheme) {
  MemoryPrediction out;
  out.model_type = inventory.model_type;
  out.scheme = scheme;
  const bool nvfp4 = scheme == LinearScheme::kNvfp4 || scheme == LinearScheme::kNvfp4W4A16;
  for (const WeightBlock& block : inventory.blocks) {
    auto part = std::find_if(out.parts.begin(), out.parts.end(), [&](const auto& p) { return p.part == block.part; });
    if (part == out.parts.end()) {
      out.parts.push_back({block.part, 0, 0, 0});
      part = out.parts.end() - 1;
    }
    const int64_t params = block.Parameters();
    part->parameters += params;
    out.parameters += params;
    std::string keep = block.keep_bf16;
    if (block.linear && keep.empty() && nvfp4 && block.cols % kNvfp4BlockSize != 0) {
      keep = "K=" + std::to_string(block.cols) + " is not a multiple of 16";
    }
    if (!block.linear || !keep.empty() || scheme == LinearScheme::kBf16) {
      if (block.linear && !keep.empty() && scheme != LinearScheme::kBf16) {
        out.kept_bf16.push_back({block.name, params, keep});
      }
      part->bytes += 2 * params;
      out.bf16_bytes += 2 * params;
      continue;
    }
    const int64_t bytes = block.count * LinearStoredBytes(scheme, block.rows, block.cols);
    const int64_t codes = nvfp4 ? params / 2 : params;
    part->bytes += bytes;
    part->quantized_parameters += params;
    out.quantized_parameters += params;
    out.code_bytes += codes;
    out.scale_bytes += bytes - codes;
  }
  out.bytes = out.code_bytes + out.scale_bytes + out.bf16_bytes;
  return out;
}

}  // namespace fp4lab
