#include "engine/arch/decoder_config.h"

namespace fp4lab {

Result<DecoderConfig> ParseDecoderConfig(const ConfigReader& r, const std::string& family,
                                         const std::string& default_act) {
  FP4LAB_RETURN_IF_ERROR(r.CheckObject());
  DecoderConfig c;
  ModelConfig& m = c.model;
  m.architecture = family;
  FP4LAB_ASSIGN_OR_RETURN(m.model_type, r.OptionalString("model_type", family));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t vocab, r.Int("vocab_size", 1, kMaxVocabulary));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t hidden, r.Int("hidden_size", 1, kMaxModelDimension));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t ffn, r.Int("intermediate_size", 1, kMaxModelDimension));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t layers, r.Int("num_hidden_layers", 1, kMaxLayers));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t heads, r.Int("num_attention_heads", 1, kMaxHeads));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t kv_heads, r.OptionalInt("num_key_value_heads", heads, 1, kMaxHeads));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t context, r.OptionalInt("max_position_embeddings", 2048, 1, kMaxContext));
  if (!r.Has("head_dim") && hidden % heads != 0) {
    return r.Error("hidden_size", "(" + std::to_string(hidden) + ") is not a multiple of num_attention_heads (" +
                                      std::to_string(heads) + ") and no head_dim is given");
  }
  FP4LAB_ASSIGN_OR_RETURN(const int64_t head_dim, r.OptionalInt("head_dim", hidden / heads, 2, kMaxModelDimension));
  FP4LAB_ASSIGN_OR_RETURN(const double eps, r.OptionalNumber("rms_norm_eps", 1e-6, 1e-30, 1.0));
  FP4LAB_ASSIGN_OR_RETURN(c.tie_word_embeddings, r.OptionalBool("tie_word_embeddings", false));
  FP4LAB_ASSIGN_OR_RETURN(c.attention_bias, r.OptionalBool("attention_bias", false));
  FP4LAB_ASSIGN_OR_RETURN(const std::string activation, r.OptionalString("hidden_activation", default_act));
  FP4LAB_ASSIGN_OR_RETURN(c.hidden_act, r.OptionalString("hidden_act", activation));
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<int64_t> bos, r.IdList("bos_token_id", vocab - 1));
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<int64_t> eos, r.IdList("eos_token_id", vocab - 1));
  FP4LAB_ASSIGN_OR_RETURN(c.layer_types, r.OptionalStringList("layer_types", static_cast<size_t>(layers)));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t window, r.OptionalInt("sliding_window", 0, 0, kMaxContext));
  FP4LAB_ASSIGN_OR_RETURN(c.rope, ParseRopeConfig(r));
  if (heads % kv_heads != 0) {
    return r.Error("num_key_value_heads", "(" + std::to_string(kv_heads) + ") must divide num_attention_heads (" +
                                              std::to_string(heads) + ")");
  }
  if (head_dim % 2 != 0) return r.Error("head_dim", "is " + std::to_string(head_dim) + ", expected an even number");
  for (size_t l = 0; l < c.layer_types.size(); ++l) {
    const std::string& type = c.layer_types[l];
    if (type != "full_attention" && type != "sliding_attention") {
      return r.Error("layer_types[" + std::to_string(l) + "]",
                     "is '" + type + "', expected full_attention or sliding_attention");
    }
    if (type == "sliding_attention" && window == 0) {
      return r.Error("sliding_window", "must be a positive integer when a layer is sliding_attention");
    }
  }
  if (c.layer_types.empty()) c.layer_types.assign(static_cast<size_t>(layers), "full_attention");
  m.vocab_size = static_cast<int>(vocab);
  m.max_position_embeddings = static_cast<int>(context);
  m.bos_token_id = bos.empty() ? 1 : static_cast<int>(bos.front());
  for (const int64_t id : eos) m.eos_token_ids.push_back(static_cast<int>(id));
  if (m.eos_token_ids.empty()) m.eos_token_ids.push_back(2);
  m.eos_token_id = m.eos_token_ids.front();
  m.hidden_size = static_cast<int>(hidden);
  m.num_layers = static_cast<int>(layers);
  c.hidden_size = static_cast<int>(hidden);
  c.intermediate_size = static_cast<int>(ffn);
  c.num_layers = static_cast<int>(layers);
  c.num_heads = static_cast<int>(heads);
  c.num_kv_heads = static_cast<int>(kv_heads);
  c.head_dim = static_cast<int>(head_dim);
  c.rms_norm_eps = static_cast<float>(eps);
  c.sliding_window = static_cast<int>(window);
  return c;
}

}  // namespace fp4lab
