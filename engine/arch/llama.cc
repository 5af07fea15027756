// The Llama family: llama, mistral, qwen2 (attention bias), qwen3 (QK-norm). Pre-norm decoder blocks:
//   h = x + o_proj(attn(rope(q_proj(n1(x))), rope(k_proj(n1(x))), v_proj(n1(x))))
//   y = h + down_proj(silu(gate_proj(n2(h))) * up_proj(n2(h)))
// with RMSNorm n1/n2, GQA, rotate-half RoPE, and a final RMSNorm before lm_head (tied to the embedding or not).
#include <algorithm>
#include <cmath>
#include <map>

#include "engine/arch/architecture.h"

namespace fp4lab {

namespace {

// Weights of one decoder block, resident on the backend. Shapes with D = hidden, Q = heads * head_dim,
// KV = kv_heads * head_dim, F = intermediate.
// q|k|v and gate|up each run as one fused Linear when the backend can stack them (same scheme and global scales,
// Backend::PrepareFusedLinear) and no q/k norm sits between them; otherwise as separate Linears.
struct LlamaLayer {
  std::unique_ptr<DeviceTensor> input_norm;     // [1, D]
  std::unique_ptr<DeviceLinear> qkv;            // [Q + 2 KV, D] fused, or null
  std::unique_ptr<DeviceLinear> q, k, v;        // [Q, D], [KV, D], [KV, D] when not fused
  std::unique_ptr<DeviceTensor> q_norm, k_norm; // [1, head_dim] (qwen3 only)
  std::unique_ptr<DeviceLinear> o;              // [D, Q]
  std::unique_ptr<DeviceTensor> post_norm;      // [1, D]
  std::unique_ptr<DeviceLinear> gate_up;        // [2 F, D] fused, or null
  std::unique_ptr<DeviceLinear> gate, up;       // [F, D] when not fused
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
      std::vector<std::unique_ptr<DeviceLinear>*> separate = {&layer.q, &layer.k, &layer.v};
      FP4LAB_RETURN_IF_ERROR(LoadGroup(loader, qkv, p + "self_attn.qkv_proj", !c.qk_norm, layer.qkv, separate));
      FP4LAB_ASSIGN_OR_RETURN(layer.o, LoadLinear(loader, p + "self_attn.o_proj", {}));
      separate = {&layer.gate, &layer.up};
      FP4LAB_RETURN_IF_ERROR(LoadGroup(loader, gate_up, p + "mlp.gate_up_proj", true, layer.gate_up, separate));
      FP4LAB_ASSIGN_OR_RETURN(layer.down, LoadLinear(loader, p + "mlp.down_proj", {}));
      (layer.qkv ? fused_qkv_ : unfused_qkv_) = true;
      (layer.gate_up ? fused_gate_up_ : unfused_gate_up_) = true;
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

  Result<std::unique_ptr<KvCache>> NewCache(int64_t capacity, int sequences) override {
    if (capacity < 1 || sequences < 1) {
      return Status::InvalidArgument("KV cache of " + std::to_string(sequences) + " sequences of " +
                                     std::to_string(capacity) + " positions: both must be >= 1");
    }
    FP4LAB_RETURN_IF_ERROR(EnsureRopeTable(capacity));
    return AllocateKvCache(backend_, config_.num_layers, capacity, sequences,
                           int64_t{config_.num_kv_heads} * config_.head_dim);
  }

  int64_t WeightDeviceBytes() const override {
    int64_t total = embed_->DeviceBytes() + (lm_head_ ? lm_head_->DeviceBytes() : 0);
    for (const auto& l : layers_) {
      for (const DeviceLinear* w : {l.qkv.get(), l.q.get(), l.k.get(), l.v.get(), l.o.get(), l.gate_up.get(),
                                    l.gate.get(), l.up.get(), l.down.get()}) {
        if (w != nullptr) total += w->DeviceBytes();
      }
    }
    return total;
  }

  Status Forward(std::span<const int32_t> tokens, KvCache& cache, int sequence, DeviceTensor& logits) override {
    const int64_t n = static_cast<int64_t>(tokens.size());
    if (sequence < 0 || sequence >= cache.sequences()) {
      return Status::InvalidArgument("sequence " + std::to_string(sequence) + " does not exist in a KV cache of " +
                                     std::to_string(cache.sequences()));
    }
    const int64_t pos0 = cache.lengths[sequence];
    if (n == 0 || pos0 + n > cache.capacity) {
      return Status::InvalidArgument("sequence of " + std::to_string(pos0 + n) + " tokens exceeds the context of " +
                                     std::to_string(cache.capacity));
    }
    std::vector<int32_t> positions(n), cache_rows(n);
    for (int64_t i = 0; i < n; ++i) {
      positions[i] = static_cast<int32_t>(pos0 + i);
      cache_rows[i] = static_cast<int32_t>(sequence * cache.capacity + pos0 + i);
    }
    FP4LAB_ASSIGN_OR_RETURN(ForwardBuffers * b, Buffers(n));
    FP4LAB_RETURN_IF_ERROR(UploadRows(tokens, positions, cache_rows, *b));
    FP4LAB_RETURN_IF_ERROR(RunLayers(*b, /*one_sequence=*/true, cache, logits));
    cache.lengths[sequence] = pos0 + n;
    return Status::Ok();
  }

  Status DecodeStep(std::span<const int32_t> tokens, KvCache& cache, DeviceTensor& logits) override {
    const int64_t batch = cache.sequences();
    if (static_cast<int64_t>(tokens.size()) != batch) {
      return Status::InvalidArgument("decode step: " + std::to_string(tokens.size()) + " tokens for " +
                                     std::to_string(batch) + " sequences");
    }
    std::vector<int32_t> positions(batch), cache_rows(batch);
    for (int64_t s = 0; s < batch; ++s) {
      if (cache.lengths[s] >= cache.capacity) {
        return Status::InvalidArgument("decode step: sequence " + std::to_string(s) + " is full (" +
                                       std::to_string(cache.capacity) + " positions)");
      }
      positions[s] = static_cast<int32_t>(cache.lengths[s]);
      cache_rows[s] = static_cast<int32_t>(s * cache.capacity + cache.lengths[s]);
    }
    FP4LAB_ASSIGN_OR_RETURN(ForwardBuffers * b, Buffers(batch));
    FP4LAB_RETURN_IF_ERROR(UploadRows(tokens, positions, cache_rows, *b));
    FP4LAB_RETURN_IF_ERROR(RunDecodeLayers(*b, cache, logits));
    for (int64_t& length : cache.lengths) ++length;
    return Status::Ok();
  }

 private:
  // Activation buffers and row placement of forward passes over `rows` rows, kept between calls.
  struct ForwardBuffers {
    int64_t rows = 0;
    std::unique_ptr<DeviceTensor> x, h, q, attn, gate;  // see RunLayers
    std::unique_ptr<DeviceTensor> qkv, gate_up;         // outputs of fused Linears (when some layer has them)
    std::unique_ptr<DeviceTensor> k, v, up;             // outputs of separate Linears (when some layer has them)
    std::unique_ptr<DeviceIndices> tokens, positions, cache_rows;  // [rows] each
  };

  // A decode step recorded for one (cache, logits, batch): replayed while both live and the program is current.
  struct RecordedStep {
    uint64_t cache_id = 0, logits_id = 0;
    int64_t rows = 0;
    std::unique_ptr<DeviceProgram> program;  // null until the second step with this key
  };

  // Row counts up to this many (decode batches) keep their buffers; a larger one replaces the previous larger one,
  // so a prefill of L tokens holds its activations only until a prefill of another length.
  static constexpr int64_t kKeptDecodeRows = 64;

  Result<ForwardBuffers*> Buffers(int64_t rows) {
    if (auto it = buffers_.find(rows); it != buffers_.end()) return &it->second;
    for (auto it = buffers_.begin(); it != buffers_.end();) {
      if (it->first <= kKeptDecodeRows || rows <= kKeptDecodeRows) {
        ++it;
        continue;
      }
      if (it->first == recorded_.rows) recorded_ = RecordedStep();  // its program refers to these buffers
      it = buffers_.erase(it);
    }
    const ModelConfig& c = config_;
    const int64_t q_dim = int64_t{c.num_heads} * c.head_dim, kv_dim = int64_t{c.num_kv_heads} * c.head_dim;
    ForwardBuffers b;
    b.rows = rows;
    FP4LAB_ASSIGN_OR_RETURN(b.x, backend_.Allocate(rows, c.hidden_size));
    FP4LAB_ASSIGN_OR_RETURN(b.h, backend_.Allocate(rows, c.hidden_size));
    FP4LAB_ASSIGN_OR_RETURN(b.q, backend_.Allocate(rows, q_dim));
    FP4LAB_ASSIGN_OR_RETURN(b.attn, backend_.Allocate(rows, q_dim));
    FP4LAB_ASSIGN_OR_RETURN(b.gate, backend_.Allocate(rows, c.intermediate_size));
    if (fused_qkv_) {
      FP4LAB_ASSIGN_OR_RETURN(b.qkv, backend_.Allocate(rows, q_dim + 2 * kv_dim));
    }
    if (unfused_qkv_) {
      FP4LAB_ASSIGN_OR_RETURN(b.k, backend_.Allocate(rows, kv_dim));
      FP4LAB_ASSIGN_OR_RETURN(b.v, backend_.Allocate(rows, kv_dim));
    }
    if (fused_gate_up_) {
      FP4LAB_ASSIGN_OR_RETURN(b.gate_up, backend_.Allocate(rows, 2 * c.intermediate_size));
    }
    if (unfused_gate_up_) {
      FP4LAB_ASSIGN_OR_RETURN(b.up, backend_.Allocate(rows, c.intermediate_size));
    }
    FP4LAB_ASSIGN_OR_RETURN(b.tokens, backend_.AllocateIndices(rows));
    FP4LAB_ASSIGN_OR_RETURN(b.positions, backend_.AllocateIndices(rows));
    FP4LAB_ASSIGN_OR_RETURN(b.cache_rows, backend_.AllocateIndices(rows));
    return &buffers_.emplace(rows, std::move(b)).first->second;
  }

  // The cos/sin table covers at least `positions` positions (grow-only; a recorded step refers to the old one).
  Status EnsureRopeTable(int64_t positions) {
    if (rope_table_ && rope_table_->rows() >= positions) return Status::Ok();
    const std::vector<float> table = RopeTable(inv_freq_, positions);
    FP4LAB_ASSIGN_OR_RETURN(rope_table_, backend_.Allocate(positions, config_.head_dim));
    recorded_ = RecordedStep();
    return backend_.Upload(table, *rope_table_);
  }

  // Validates the ids on the host (the device cannot report a bad one) and uploads the rows' placement.
  Status UploadRows(std::span<const int32_t> tokens, std::span<const int32_t> positions,
                    std::span<const int32_t> cache_rows, ForwardBuffers& b) {
    for (const int32_t token : tokens) {
      if (token < 0 || token >= config_.vocab_size) {
        return Status::InvalidArgument("token id " + std::to_string(token) + " is outside the vocabulary [0, " +
                                       std::to_string(config_.vocab_size) + ")");
      }
    }
    const int32_t last = *std::max_element(positions.begin(), positions.end());
    if (!rope_table_ || rope_table_->rows() <= last) {
      return Status::Internal("llama: the RoPE table does not cover position " + std::to_string(last) +
                              " (the cache was not allocated by NewCache)");
    }
    FP4LAB_RETURN_IF_ERROR(backend_.UploadIndices(tokens, *b.tokens));
    FP4LAB_RETURN_IF_ERROR(backend_.UploadIndices(positions, *b.positions));
    return backend_.UploadIndices(cache_rows, *b.cache_rows);
  }

  // A decode step through the recorded program when it can be: the first step with a (cache, logits, batch) runs
  // directly (growing scratch memory to its final size), the second is recorded, later ones replay it. Steps with
  // a Linear-input observer always run directly.
  Status RunDecodeLayers(ForwardBuffers& b, KvCache& cache, DeviceTensor& logits) {
    if (observer_ || !recording_supported_) return RunLayers(b, /*one_sequence=*/false, cache, logits);
    RecordedStep& r = recorded_;
    const bool same_key = r.cache_id == cache.id && r.logits_id == logits.id() && r.rows == b.rows;
    if (same_key && r.program && backend_.IsCurrent(*r.program)) return backend_.Replay(*r.program);
    if (!same_key || r.program) {  // a new key, or a stale program: run directly once more
      recorded_ = RecordedStep{cache.id, logits.id(), b.rows, nullptr};
      return RunLayers(b, /*one_sequence=*/false, cache, logits);
    }
    const Status begin = backend_.BeginRecording();
    if (begin.code() == StatusCode::kUnimplemented) {
      recording_supported_ = false;
      return RunLayers(b, /*one_sequence=*/false, cache, logits);
    }
    FP4LAB_RETURN_IF_ERROR(begin);
    const Status ops = RunLayers(b, /*one_sequence=*/false, cache, logits);
    Result<std::unique_ptr<DeviceProgram>> program = backend_.EndRecording();
    if (!ops.ok() || !program.ok()) {
      // Nothing ran while recording. An op that cannot be recorded fails only inside a recording: run this step
      // and every later one directly (a real error shows up again there).
      recording_supported_ = false;
      return RunLayers(b, /*one_sequence=*/false, cache, logits);
    }
    r.program = std::move(*program);
    return backend_.Replay(*r.program);
  }

  // The decoder over the b.rows rows placed by b (tokens, positions, cache rows uploaded), logits [rows, vocab].
  // one_sequence: the rows are consecutive positions of one sequence (RowPlacement::one_sequence).
  Status RunLayers(ForwardBuffers& b, bool one_sequence, KvCache& cache, DeviceTensor& logits) {
    const ModelConfig& c = config_;
    DeviceTensor &x = *b.x, &h = *b.h, &q = *b.q, &attn = *b.attn, &gate = *b.gate;
    const RowPlacement rows{b.positions.get(), b.cache_rows.get(), one_sequence};
    const AttentionParams attn_params{c.num_heads, c.num_kv_heads, c.head_dim,
                                      1.0f / std::sqrt(static_cast<float>(c.head_dim))};
    // x is the residual stream; h enters each layer as its input norm of x. Each residual add runs fused with the
    // norm that follows it (Backend::AddRmsNorm, out aliasing delta): after o_proj the post-attention norm, after
    // down_proj the next layer's input norm or the final norm.
    FP4LAB_RETURN_IF_ERROR(backend_.Embed(*embed_, *b.tokens, x));
    FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(x, NormBefore(0), c.hidden_size, c.rms_norm_eps, 0.0f, h));
    for (size_t l = 0; l < layers_.size(); ++l) {
      const LlamaLayer& L = layers_[l];
      DeviceTensor &k_cache = *cache.k[l], &v_cache = *cache.v[l];
      if (L.qkv) {
        FP4LAB_RETURN_IF_ERROR(Linear(h, *L.qkv, *b.qkv));
        FP4LAB_RETURN_IF_ERROR(backend_.RopeAndStoreKv(*b.qkv, c.num_heads, c.num_kv_heads, c.head_dim,
                                                       *rope_table_, rows, q, k_cache, v_cache));
      } else {
        DeviceTensor &k = *b.k, &v = *b.v;
        FP4LAB_RETURN_IF_ERROR(Linear(h, *L.q, q));
        FP4LAB_RETURN_IF_ERROR(Linear(h, *L.k, k));
        FP4LAB_RETURN_IF_ERROR(Linear(h, *L.v, v));
        if (c.qk_norm) {
          FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(q, *L.q_norm, c.head_dim, c.rms_norm_eps, 0.0f, q));
          FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(k, *L.k_norm, c.head_dim, c.rms_norm_eps, 0.0f, k));
        }
        FP4LAB_RETURN_IF_ERROR(backend_.Rope(q, c.num_heads, c.head_dim, *rope_table_, *b.positions));
        FP4LAB_RETURN_IF_ERROR(backend_.Rope(k, c.num_kv_heads, c.head_dim, *rope_table_, *b.positions));
        FP4LAB_RETURN_IF_ERROR(backend_.WriteKv(k, v, rows, k_cache, v_cache));
      }
      FP4LAB_RETURN_IF_ERROR(backend_.Attention(q, k_cache, v_cache, rows, attn_params, attn));
      FP4LAB_RETURN_IF_ERROR(Linear(attn, *L.o, h));
      FP4LAB_RETURN_IF_ERROR(backend_.AddRmsNorm(x, h, *L.post_norm, c.hidden_size, c.rms_norm_eps, 0.0f, h));
      if (L.gate_up) {
        FP4LAB_RETURN_IF_ERROR(Linear(h, *L.gate_up, *b.gate_up));
        FP4LAB_RETURN_IF_ERROR(backend_.SiluMulHalves(*b.gate_up, gate));
      } else {
        FP4LAB_RETURN_IF_ERROR(Linear(h, *L.gate, gate));
        FP4LAB_RETURN_IF_ERROR(Linear(h, *L.up, *b.up));
        FP4LAB_RETURN_IF_ERROR(backend_.SiluMul(gate, *b.up, gate));
      }
      FP4LAB_RETURN_IF_ERROR(Linear(gate, *L.down, h));
      FP4LAB_RETURN_IF_ERROR(backend_.AddRmsNorm(x, h, NormBefore(l + 1), c.hidden_size, c.rms_norm_eps, 0.0f, h));
    }
    return Linear(h, lm_head_ ? *lm_head_ : *embed_, logits);
  }

  // The RMSNorm weight applied to the residual stream before layer l: its input norm, or the final norm past the
  // last layer.
  const DeviceTensor& NormBefore(size_t l) const {
    return l < layers_.size() ? *layers_[l].input_norm : *final_norm_;
  }

  Result<std::unique_ptr<DeviceLinear>> Prepare(const LinearWeights& w) { return backend_.PrepareLinear(w); }

  // backend.Linear, reporting the input to the observer first (calibration of activation scales), once per
  // checkpoint Linear a fused layer stands for.
  Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) {
    if (observer_) {
      const auto parts = fused_parts_.find(&w);
      if (parts == fused_parts_.end()) {
        FP4LAB_RETURN_IF_ERROR(observer_(w.name(), x));
      } else {
        for (const std::string& name : parts->second) FP4LAB_RETURN_IF_ERROR(observer_(name, x));
      }
    }
    return backend_.Linear(x, w, y);
  }

  // Loads the Linears `names` (one quantization group) into `fused` as one stacked Linear named `fused_name` when
  // `allow_fusion` and the backend can stack them, else each into its slot of `separate`.
  Status LoadGroup(WeightLoader& loader, const std::vector<std::string>& names, const std::string& fused_name,
                   bool allow_fusion, std::unique_ptr<DeviceLinear>& fused,
                   const std::vector<std::unique_ptr<DeviceLinear>*>& separate) {
    std::vector<LinearWeights> parts;
    for (const std::string& name : names) {
      FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, loader.Linear(name, names));
      parts.push_back(std::move(w));
    }
    if (allow_fusion && CheckFusable(parts).ok()) {
      FP4LAB_ASSIGN_OR_RETURN(fused, backend_.PrepareFusedLinear(parts, fused_name));
      fused_parts_[fused.get()] = names;
      return Status::Ok();
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      FP4LAB_ASSIGN_OR_RETURN(*separate[i], Prepare(parts[i]));
    }
    return Status::Ok();
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
  std::unique_ptr<DeviceTensor> rope_table_;     // [positions, head_dim] (RopeTable), grown by NewCache
  std::map<int64_t, ForwardBuffers> buffers_;    // by row count (see kKeptDecodeRows)
  RecordedStep recorded_;
  bool recording_supported_ = true;              // false once the backend could not record a step
  bool fused_qkv_ = false, unfused_qkv_ = false;          // which forms the layers use (buffers to allocate)
  bool fused_gate_up_ = false, unfused_gate_up_ = false;
  std::map<const DeviceLinear*, std::vector<std::string>> fused_parts_;  // checkpoint names per fused Linear
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
