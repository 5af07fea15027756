// The Llama family: llama, mistral, qwen2 (attention bias), qwen3 (QK-norm). Pre-norm decoder blocks:
//   h = x + o_proj(attn(rope(q_proj(n1(x))), rope(k_proj(n1(x))), v_proj(n1(x))))
//   y = h + down_proj(silu(gate_proj(n2(h))) * up_proj(n2(h)))
// with RMSNorm n1/n2, GQA, rotate-half RoPE, and a final RMSNorm before lm_head (tied to the embedding or not).
#include <cmath>

#include "engine/arch/architecture.h"

namespace fp4lab {

namespace {

// Weights of one decoder block, resident on the backend. Shapes with D = hidden, Q = heads * head_dim,
// KV = kv_heads * head_dim, F = intermediate.
struct LlamaLayer {
  std::unique_ptr<DeviceTensor> input_norm;     // [1, D]
  std::unique_ptr<DeviceLinear> q, k, v;        // [Q, D], [KV, D], [KV, D]
  std::unique_ptr<DeviceTensor> q_norm, k_norm; // [1, head_dim] (qwen3 only)
  std::unique_ptr<DeviceLinear> o;              // [D, Q]
  std::unique_ptr<DeviceTensor> post_norm;      // [1, D]
  std::unique_ptr<DeviceLinear> gate, up;       // [F, D]
  std::unique_ptr<DeviceLinear> down;           // [D, F]
};

class LlamaModel : public Model {
 public:
  LlamaModel(const ModelConfig& config, Backend& backend) : config_(config), backend_(backend) {}

  Status Load(WeightLoader& loader) {
    const ModelConfig& c = config_;
    inv_freq_ = RopeInverseFrequencies(c.rope, c.head_dim);
    FP4LAB_ASSIGN_OR_RETURN(auto embed_w, loader.Dense("model.embed_tokens.weight", "embedding"));
    FP4LAB_ASSIGN_OR_RETURN(embed_, Prepare(embed_w));
    for (int l = 0; l < c.num_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      LlamaLayer layer;
      FP4LAB_ASSIGN_OR_RETURN(layer.input_norm, UploadVector(loader, p + "input_layernorm.weight", c.hidden_size));
      FP4LAB_ASSIGN_OR_RETURN(layer.post_norm,
                              UploadVector(loader, p + "post_attention_layernorm.weight", c.hidden_size));
      const std::vector<std::string> qkv = {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"};
      const std::vector<std::string> gate_up = {p + "mlp.gate_proj", p + "mlp.up_proj"};
      FP4LAB_ASSIGN_OR_RETURN(layer.q, LoadLinear(loader, qkv[0], qkv));
      FP4LAB_ASSIGN_OR_RETURN(layer.k, LoadLinear(loader, qkv[1], qkv));
      FP4LAB_ASSIGN_OR_RETURN(layer.v, LoadLinear(loader, qkv[2], qkv));
      FP4LAB_ASSIGN_OR_RETURN(layer.o, LoadLinear(loader, p + "self_attn.o_proj", {}));
      FP4LAB_ASSIGN_OR_RETURN(layer.gate, LoadLinear(loader, gate_up[0], gate_up));
      FP4LAB_ASSIGN_OR_RETURN(layer.up, LoadLinear(loader, gate_up[1], gate_up));
      FP4LAB_ASSIGN_OR_RETURN(layer.down, LoadLinear(loader, p + "mlp.down_proj", {}));
      if (c.qk_norm) {
        FP4LAB_ASSIGN_OR_RETURN(layer.q_norm, UploadVector(loader, p + "self_attn.q_norm.weight", c.head_dim));
        FP4LAB_ASSIGN_OR_RETURN(layer.k_norm, UploadVector(loader, p + "self_attn.k_norm.weight", c.head_dim));
      }
      layers_.push_back(std::move(layer));
    }
    FP4LAB_ASSIGN_OR_RETURN(final_norm_, UploadVector(loader, "model.norm.weight", c.hidden_size));
    if (!c.tie_word_embeddings || loader.Has("lm_head.weight")) {
      FP4LAB_ASSIGN_OR_RETURN(lm_head_, LoadLinear(loader, "lm_head", {}));
    }
    return Status::Ok();
  }

  const ModelConfig& config() const override { return config_; }
  void SetLinearInputObserver(LinearInputObserver observer) override { observer_ = std::move(observer); }

  Result<std::unique_ptr<KvCache>> NewCache(int64_t capacity) override {
    return AllocateKvCache(backend_, config_.num_layers, capacity, int64_t{config_.num_kv_heads} * config_.head_dim);
  }

  int64_t WeightDeviceBytes() const override {
    int64_t total = embed_->DeviceBytes() + (lm_head_ ? lm_head_->DeviceBytes() : 0);
    for (const auto& l : layers_) {
      for (const DeviceLinear* w : {l.q.get(), l.k.get(), l.v.get(), l.o.get(), l.gate.get(), l.up.get(),
                                    l.down.get()}) {
        total += w->DeviceBytes();
      }
    }
    return total;
  }

  Status Forward(std::span<const int32_t> tokens, KvCache& cache, DeviceTensor& logits) override {
    const ModelConfig& c = config_;
    const int64_t n = static_cast<int64_t>(tokens.size());
    const int64_t pos0 = cache.length;
    if (n == 0 || pos0 + n > cache.capacity) {
      return Status::InvalidArgument("sequence of " + std::to_string(pos0 + n) + " tokens exceeds the context of " +
                                     std::to_string(cache.capacity));
    }
    const int64_t q_dim = int64_t{c.num_heads} * c.head_dim, kv_dim = int64_t{c.num_kv_heads} * c.head_dim;
    std::vector<int32_t> positions(n);
    for (int64_t i = 0; i < n; ++i) positions[i] = static_cast<int32_t>(pos0 + i);
    FP4LAB_ASSIGN_OR_RETURN(auto x, backend_.Allocate(n, c.hidden_size));
    FP4LAB_ASSIGN_OR_RETURN(auto h, backend_.Allocate(n, c.hidden_size));
    FP4LAB_ASSIGN_OR_RETURN(auto q, backend_.Allocate(n, q_dim));
    FP4LAB_ASSIGN_OR_RETURN(auto k, backend_.Allocate(n, kv_dim));
    FP4LAB_ASSIGN_OR_RETURN(auto v, backend_.Allocate(n, kv_dim));
    FP4LAB_ASSIGN_OR_RETURN(auto attn, backend_.Allocate(n, q_dim));
    FP4LAB_ASSIGN_OR_RETURN(auto gate, backend_.Allocate(n, c.intermediate_size));
    FP4LAB_ASSIGN_OR_RETURN(auto up, backend_.Allocate(n, c.intermediate_size));
    const AttentionParams attn_params{c.num_heads, c.num_kv_heads, c.head_dim,
                                      1.0f / std::sqrt(static_cast<float>(c.head_dim))};

    FP4LAB_RETURN_IF_ERROR(backend_.Embed(*embed_, tokens, *x));
    for (size_t l = 0; l < layers_.size(); ++l) {
      const LlamaLayer& L = layers_[l];
      FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(*x, *L.input_norm, c.hidden_size, c.rms_norm_eps, 0.0f, *h));
      FP4LAB_RETURN_IF_ERROR(Linear(*h, *L.q, *q));
      FP4LAB_RETURN_IF_ERROR(Linear(*h, *L.k, *k));
      FP4LAB_RETURN_IF_ERROR(Linear(*h, *L.v, *v));
      if (c.qk_norm) {
        FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(*q, *L.q_norm, c.head_dim, c.rms_norm_eps, 0.0f, *q));
        FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(*k, *L.k_norm, c.head_dim, c.rms_norm_eps, 0.0f, *k));
      }
      FP4LAB_RETURN_IF_ERROR(backend_.Rope(*q, c.num_heads, c.head_dim, positions, inv_freq_));
      FP4LAB_RETURN_IF_ERROR(backend_.Rope(*k, c.num_kv_heads, c.head_dim, positions, inv_freq_));
      FP4LAB_RETURN_IF_ERROR(backend_.WriteKv(*k, *v, pos0, *cache.k[l], *cache.v[l]));
      FP4LAB_RETURN_IF_ERROR(backend_.Attention(*q, *cache.k[l], *cache.v[l], pos0, attn_params, *attn));
      FP4LAB_RETURN_IF_ERROR(Linear(*attn, *L.o, *h));
      FP4LAB_RETURN_IF_ERROR(backend_.AddInPlace(*x, *h));
      FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(*x, *L.post_norm, c.hidden_size, c.rms_norm_eps, 0.0f, *h));
      FP4LAB_RETURN_IF_ERROR(Linear(*h, *L.gate, *gate));
      FP4LAB_RETURN_IF_ERROR(Linear(*h, *L.up, *up));
      FP4LAB_RETURN_IF_ERROR(backend_.SiluMul(*gate, *up, *gate));
      FP4LAB_RETURN_IF_ERROR(Linear(*gate, *L.down, *h));
      FP4LAB_RETURN_IF_ERROR(backend_.AddInPlace(*x, *h));
    }
    FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(*x, *final_norm_, c.hidden_size, c.rms_norm_eps, 0.0f, *h));
    FP4LAB_RETURN_IF_ERROR(Linear(*h, lm_head_ ? *lm_head_ : *embed_, logits));
    cache.length = pos0 + n;
    return Status::Ok();
  }

 private:
  Result<std::unique_ptr<DeviceLinear>> Prepare(const LinearWeights& w) { return backend_.PrepareLinear(w); }

  // backend.Linear, reporting the input to the observer first (calibration of activation scales).
  Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) {
    if (observer_) FP4LAB_RETURN_IF_ERROR(observer_(w.name(), x));
    return backend_.Linear(x, w, y);
  }

  Result<std::unique_ptr<DeviceLinear>> LoadLinear(WeightLoader& loader, const std::string& prefix,
                                                   const std::vector<std::string>& group) {
    FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, loader.Linear(prefix, group));
    return Prepare(w);
  }

  Result<std::unique_ptr<DeviceTensor>> UploadVector(WeightLoader& loader, const std::string& name, int64_t size) {
    FP4LAB_ASSIGN_OR_RETURN(std::vector<float> values, loader.Vector(name, size));
    FP4LAB_ASSIGN_OR_RETURN(auto t, backend_.Allocate(1, size));
    FP4LAB_RETURN_IF_ERROR(backend_.Upload(values, *t));
    return t;
  }

  ModelConfig config_;
  Backend& backend_;
  std::vector<float> inv_freq_;
  std::unique_ptr<DeviceLinear> embed_;    // [V, D]; also the output head when embeddings are tied
  std::vector<LlamaLayer> layers_;
  std::unique_ptr<DeviceTensor> final_norm_;
  std::unique_ptr<DeviceLinear> lm_head_;  // [V, D], null when tied
  LinearInputObserver observer_;
};

Result<ModelConfig> ParseLlamaConfig(const nlohmann::json& json, const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(ModelConfig c, ParseCommonConfig(json, path));
  c.architecture = "llama";
  c.qk_norm = c.model_type == "qwen3";
  if (c.model_type == "qwen2") c.attention_bias = true;
  if (c.hidden_act != "silu") {
    return Status::Unimplemented(path + ": hidden_act '" + c.hidden_act + "' is not supported by the llama family "
                                 "(expected silu)");
  }
  if (json.contains("mlp_bias") && json["mlp_bias"].is_boolean() && json["mlp_bias"].get<bool>()) {
    return Status::Unimplemented(path + ": mlp_bias true is not supported");
  }
  return c;
}

Result<std::unique_ptr<Model>> LoadLlama(const ModelConfig& config, WeightLoader& loader, Backend& backend) {
  auto model = std::make_unique<LlamaModel>(config, backend);
  FP4LAB_RETURN_IF_ERROR(model->Load(loader));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace

ArchitectureSpec LlamaArchitecture() {
  return {"llama", {"llama", "mistral", "qwen2", "qwen3"}, &ParseLlamaConfig, &LoadLlama};
}

}  // namespace fp4lab
