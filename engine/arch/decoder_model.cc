#include "engine/arch/decoder_model.h"

#include <algorithm>

#include "engine/arch/rope.h"

namespace fp4lab {

DecoderModel::DecoderModel(const ModelConfig& config, const TensorManifest& manifest, std::vector<int64_t> kv_widths,
                           Backend& backend)
    : config_(config), manifest_(manifest), kv_widths_(std::move(kv_widths)), backend_(backend) {}

Result<std::unique_ptr<KvCache>> DecoderModel::NewCache(int64_t capacity, int sequences) {
  if (capacity < 1 || sequences < 1) {
    return Status::InvalidArgument("KV cache of " + std::to_string(sequences) + " sequences of " +
                                   std::to_string(capacity) + " positions: both must be >= 1");
  }
  FP4LAB_RETURN_IF_ERROR(EnsureRopeTables(capacity));
  return AllocateKvCache(backend_, kv_widths_, capacity, sequences);
}

int64_t DecoderModel::WeightDeviceBytes() const {
  int64_t total = 0;
  for (const DeviceLinear* w : linears_) total += w->DeviceBytes();
  for (const DeviceExperts* e : experts_) total += e->DeviceBytes();
  return total;
}

Status DecoderModel::Forward(std::span<const int32_t> tokens, KvCache& cache, int sequence, DeviceTensor& logits) {
  return ForwardOne(tokens, cache, sequence, logits, /*extend=*/true);
}

Status DecoderModel::ForwardScratch(std::span<const int32_t> tokens, KvCache& cache, int sequence,
                                    DeviceTensor& logits) {
  return ForwardOne(tokens, cache, sequence, logits, /*extend=*/false);
}

Status DecoderModel::ForwardOne(std::span<const int32_t> tokens, KvCache& cache, int sequence, DeviceTensor& logits,
                                bool extend) {
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
  FP4LAB_ASSIGN_OR_RETURN(StepBuffers * step, Step(n, /*one_sequence=*/true));
  FP4LAB_RETURN_IF_ERROR(UploadRows(tokens, positions, cache_rows, *step));
  FP4LAB_RETURN_IF_ERROR(RunDecoder(*step, cache, logits));
  if (extend) cache.lengths[sequence] = pos0 + n;
  return Status::Ok();
}

Status DecoderModel::DecodeStep(std::span<const int32_t> tokens, KvCache& cache, DeviceTensor& logits) {
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
  FP4LAB_ASSIGN_OR_RETURN(StepBuffers * step, Step(batch, /*one_sequence=*/false));
  FP4LAB_RETURN_IF_ERROR(UploadRows(tokens, positions, cache_rows, *step));
  FP4LAB_RETURN_IF_ERROR(RunDecodeStep(*step, cache, logits));
  for (int64_t& length : cache.lengths) ++length;
  return Status::Ok();
}

Status DecoderModel::ForwardSequences(std::span<const std::vector<int32_t>> tokens, KvCache& cache,
                                      DeviceTensor& logits) {
  if (static_cast<int64_t>(tokens.size()) != cache.sequences()) {
    return Status::InvalidArgument("forward: " + std::to_string(tokens.size()) + " sequences of tokens for a KV cache "
                                   "of " + std::to_string(cache.sequences()));
  }
  std::vector<int32_t> flat, positions, cache_rows;
  for (size_t s = 0; s < tokens.size(); ++s) {
    const int64_t pos0 = cache.lengths[s];
    const int64_t n = static_cast<int64_t>(tokens[s].size());
    if (n == 0 || pos0 + n > cache.capacity) {
      return Status::InvalidArgument("sequence " + std::to_string(s) + " of " + std::to_string(pos0 + n) +
                                     " tokens: expected 1 .. " + std::to_string(cache.capacity));
    }
    flat.insert(flat.end(), tokens[s].begin(), tokens[s].end());
    for (int64_t i = 0; i < n; ++i) {
      positions.push_back(static_cast<int32_t>(pos0 + i));
      cache_rows.push_back(static_cast<int32_t>(static_cast<int64_t>(s) * cache.capacity + pos0 + i));
    }
  }
  const bool one_sequence = tokens.size() == 1;
  FP4LAB_ASSIGN_OR_RETURN(StepBuffers * step, Step(static_cast<int64_t>(flat.size()), one_sequence));
  FP4LAB_RETURN_IF_ERROR(UploadRows(flat, positions, cache_rows, *step));
  FP4LAB_RETURN_IF_ERROR(RunDecoder(*step, cache, logits));
  for (size_t s = 0; s < tokens.size(); ++s) cache.lengths[s] += static_cast<int64_t>(tokens[s].size());
  return Status::Ok();
}

Result<DecoderModel::StepBuffers*> DecoderModel::Step(int64_t rows, bool one_sequence) {
  auto found = steps_.find(rows);
  if (found == steps_.end()) {
    for (auto it = steps_.begin(); it != steps_.end();) {
      if (it->first <= kKeptDecodeRows || rows <= kKeptDecodeRows) {
        ++it;
        continue;
      }
      if (it->first == recorded_.rows) recorded_ = RecordedStep();  // its program refers to these buffers
      it = steps_.erase(it);
    }
    StepBuffers step;
    step.rows = rows;
    FP4LAB_ASSIGN_OR_RETURN(step.tokens, backend_.AllocateIndices(rows));
    FP4LAB_ASSIGN_OR_RETURN(step.positions, backend_.AllocateIndices(rows));
    FP4LAB_ASSIGN_OR_RETURN(step.cache_rows, backend_.AllocateIndices(rows));
    found = steps_.emplace(rows, std::move(step)).first;
  }
  StepBuffers& step = found->second;
  step.placement = RowPlacement{step.positions.get(), step.cache_rows.get(), one_sequence};
  return &step;
}

Result<DeviceTensor*> DecoderModel::Buffer(StepBuffers& step, const std::string& name, int64_t cols) {
  auto& slot = step.scratch[{name, cols}];
  if (!slot) {
    FP4LAB_ASSIGN_OR_RETURN(slot, backend_.Allocate(step.rows, cols));
  }
  return slot.get();
}

Result<DeviceIndices*> DecoderModel::IndexBuffer(StepBuffers& step, const std::string& name, int64_t size) {
  auto& slot = step.index_scratch[{name, size}];
  if (!slot) {
    FP4LAB_ASSIGN_OR_RETURN(slot, backend_.AllocateIndices(size));
  }
  return slot.get();
}

int DecoderModel::AddRopeTable(std::vector<float> inv_freq) {
  rope_.push_back(RopeSlot{std::move(inv_freq), nullptr});
  return static_cast<int>(rope_.size()) - 1;
}

Status DecoderModel::EnsureRopeTables(int64_t positions) {
  for (RopeSlot& slot : rope_) {
    if (slot.table && slot.table->rows() >= positions) continue;
    const std::vector<float> table = RopeTable(slot.inv_freq, positions);
    FP4LAB_ASSIGN_OR_RETURN(slot.table, backend_.Allocate(positions, 2 * static_cast<int64_t>(slot.inv_freq.size())));
    recorded_ = RecordedStep();  // a recorded step refers to the old table
    FP4LAB_RETURN_IF_ERROR(backend_.Upload(table, *slot.table));
  }
  return Status::Ok();
}

Status DecoderModel::UploadRows(std::span<const int32_t> tokens, std::span<const int32_t> positions,
                                std::span<const int32_t> cache_rows, StepBuffers& step) {
  for (const int32_t token : tokens) {
    if (token < 0 || token >= config_.vocab_size) {
      return Status::InvalidArgument("token id " + std::to_string(token) + " is outside the vocabulary [0, " +
                                     std::to_string(config_.vocab_size) + ")");
    }
  }
  const int32_t last = *std::max_element(positions.begin(), positions.end());
  for (const RopeSlot& slot : rope_) {
    if (!slot.table || slot.table->rows() <= last) {
      return Status::Internal(config_.model_type + ": the RoPE table does not cover position " +
                              std::to_string(last) + " (the cache was not allocated by NewCache)");
    }
  }
  FP4LAB_RETURN_IF_ERROR(backend_.UploadIndices(tokens, *step.tokens));
  FP4LAB_RETURN_IF_ERROR(backend_.UploadIndices(positions, *step.positions));
  return backend_.UploadIndices(cache_rows, *step.cache_rows);
}

// A decode step through the recorded program when it can be: the first step with a (cache, logits, batch) runs
// directly (growing scratch memory to its final size), the second is recorded, later ones replay it. Steps with a
// Linear-input observer always run directly.
Status DecoderModel::RunDecodeStep(StepBuffers& step, KvCache& cache, DeviceTensor& logits) {
  if (observer_ || !recording_supported_) return RunDecoder(step, cache, logits);
  RecordedStep& r = recorded_;
  const bool same_key = r.cache_id == cache.id && r.logits_id == logits.id() && r.rows == step.rows;
  if (same_key && r.program && backend_.IsCurrent(*r.program)) return backend_.Replay(*r.program);
  if (!same_key || r.program) {  // a new key, or a stale program: run directly once more
    recorded_ = RecordedStep{cache.id, logits.id(), step.rows, nullptr};
    return RunDecoder(step, cache, logits);
  }
  const Status begin = backend_.BeginRecording();
  if (begin.code() == StatusCode::kUnimplemented) {
    recording_supported_ = false;
    return RunDecoder(step, cache, logits);
  }
  FP4LAB_RETURN_IF_ERROR(begin);
  const Status ops = RunDecoder(step, cache, logits);
  Result<std::unique_ptr<DeviceProgram>> program = backend_.EndRecording();
  if (!ops.ok() || !program.ok()) {
    // Nothing ran while recording. An op that cannot be recorded fails only inside a recording: run this step and
    // every later one directly (a real error shows up again there).
    recording_supported_ = false;
    return RunDecoder(step, cache, logits);
  }
  r.program = std::move(*program);
  return backend_.Replay(*r.program);
}

Status DecoderModel::CheckAgainstManifest(const std::string& name, const LinearWeights& w) const {
  const ManifestTensor* entry = manifest_.Find(name);
  if (entry == nullptr) return Status::Internal(name + " is not in the " + config_.model_type + " manifest");
  if (entry->shape[0] == w.out_features && entry->shape[1] == w.in_features) return Status::Ok();
  return Status::InvalidArgument(name + " is [" + std::to_string(w.out_features) + ", " +
                                 std::to_string(w.in_features) + "] in the checkpoint, but config.json implies [" +
                                 std::to_string(entry->shape[0]) + ", " + std::to_string(entry->shape[1]) +
                                 "] (check hidden_size, intermediate_size, heads, head_dim and vocab_size)");
}

Result<std::unique_ptr<DeviceLinear>> DecoderModel::Keep(Result<std::unique_ptr<DeviceLinear>> linear) {
  if (linear.ok()) linears_.push_back(linear->get());
  return linear;
}

Result<std::unique_ptr<DeviceLinear>> DecoderModel::LoadLinear(WeightLoader& loader, const std::string& name) {
  FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, loader.Linear(name, manifest_.FusedGroup(name)));
  FP4LAB_RETURN_IF_ERROR(CheckAgainstManifest(name, w));
  return Keep(backend_.PrepareLinear(w));
}

Result<std::unique_ptr<DeviceLinear>> DecoderModel::LoadEmbedding(WeightLoader& loader, const std::string& name) {
  FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, loader.Dense(name, "embedding"));
  FP4LAB_RETURN_IF_ERROR(CheckAgainstManifest(name, w));
  return Keep(backend_.PrepareLinear(w));
}

Result<std::unique_ptr<DeviceTensor>> DecoderModel::LoadVector(WeightLoader& loader, const std::string& name) {
  const ManifestTensor* entry = manifest_.Find(name);
  if (entry == nullptr) return Status::Internal(name + " is not in the " + config_.model_type + " manifest");
  FP4LAB_ASSIGN_OR_RETURN(std::vector<float> values, loader.Vector(name, entry->Elements()));
  FP4LAB_ASSIGN_OR_RETURN(auto t, backend_.Allocate(1, entry->Elements()));
  FP4LAB_RETURN_IF_ERROR(backend_.Upload(values, *t));
  return t;
}

Status DecoderModel::LoadFusable(WeightLoader& loader, const std::vector<std::string>& names, bool allow_fusion,
                                 std::unique_ptr<DeviceLinear>& fused,
                                 const std::vector<std::unique_ptr<DeviceLinear>*>& separate) {
  std::vector<LinearWeights> parts;
  for (const std::string& name : names) {
    FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, loader.Linear(name, names));
    FP4LAB_RETURN_IF_ERROR(CheckAgainstManifest(name, w));
    parts.push_back(std::move(w));
  }
  const ManifestTensor* first = manifest_.Find(names.front());
  if (allow_fusion && backend_.Fuses().stacked_linears && first != nullptr && !first->fused_as.empty() &&
      CheckFusable(parts).ok()) {
    FP4LAB_ASSIGN_OR_RETURN(fused, Keep(backend_.PrepareFusedLinear(parts, first->fused_as)));
    fused_parts_[fused.get()] = names;
    return Status::Ok();
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    FP4LAB_ASSIGN_OR_RETURN(*separate[i], Keep(backend_.PrepareLinear(parts[i])));
  }
  return Status::Ok();
}

Status DecoderModel::LoadAttention(WeightLoader& loader, const std::string& prefix, bool per_head_norms,
                                   AttentionWeights& w) {
  FP4LAB_RETURN_IF_ERROR(LoadFusable(loader, {prefix + "q_proj", prefix + "k_proj", prefix + "v_proj"},
                                     !per_head_norms, w.qkv, {&w.q, &w.k, &w.v}));
  FP4LAB_ASSIGN_OR_RETURN(w.o, LoadLinear(loader, prefix + "o_proj"));
  if (loader.kv_cache_format() == KvCacheFormat::kFp8) {
    FP4LAB_ASSIGN_OR_RETURN(w.fp8_kv, loader.KvCacheScales(prefix));
  }
  return Status::Ok();
}

Status DecoderModel::LoadGatedMlp(WeightLoader& loader, const std::string& prefix, GatedMlpWeights& w) {
  FP4LAB_RETURN_IF_ERROR(
      LoadFusable(loader, {prefix + "gate_proj", prefix + "up_proj"}, true, w.gate_up, {&w.gate, &w.up}));
  FP4LAB_ASSIGN_OR_RETURN(w.down, LoadLinear(loader, prefix + "down_proj"));
  return Status::Ok();
}

Result<std::unique_ptr<DeviceLinear>> DecoderModel::LoadRouter(WeightLoader& loader, const std::string& name) {
  const ManifestTensor* entry = manifest_.Find(name);
  if (entry == nullptr) return Status::Internal(name + " is not in the " + config_.model_type + " manifest");
  FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, loader.UnquantizedLinear(name, entry->keep_bf16));
  FP4LAB_RETURN_IF_ERROR(CheckAgainstManifest(name, w));
  return Keep(backend_.PrepareLinear(w));
}

Status DecoderModel::LoadExperts(WeightLoader& loader, const std::string& gate, const std::string& up,
                                 const std::string& down, ExpertsWeights& w) {
  return LoadExperts(loader, manifest_, gate, up, down, w);
}

Status DecoderModel::LoadExperts(WeightLoader& loader, const TensorManifest& manifest, const std::string& gate,
                                 const std::string& up, const std::string& down, ExpertsWeights& w) {
  const ManifestTensor* entries[3] = {manifest.Find(gate), manifest.Find(up), manifest.Find(down)};
  for (const ManifestTensor* entry : entries) {
    if (entry == nullptr || entry->experts < 1 || entry->experts != entries[0]->experts) {
      return Status::Internal(gate + ", " + up + ", " + down + ": not one experts block of the given " +
                              config_.model_type + " manifest");
    }
  }
  // Loads expert e's Linear of `entry`, checked against the entry's shape.
  const auto load = [&](const ManifestTensor& entry, int64_t e,
                        std::span<const std::string> group) -> Result<LinearWeights> {
    const std::string name = entry.ExpertName(e);
    FP4LAB_ASSIGN_OR_RETURN(LinearWeights lw, loader.Linear(name, group));
    if (lw.out_features != entry.shape[0] || lw.in_features != entry.shape[1]) {
      return Status::InvalidArgument(name + " is [" + std::to_string(lw.out_features) + ", " +
                                     std::to_string(lw.in_features) + "] in the checkpoint, but config.json implies [" +
                                     std::to_string(entry.shape[0]) + ", " + std::to_string(entry.shape[1]) +
                                     "] (check hidden_size, moe_intermediate_size and the number of experts)");
    }
    return lw;
  };
  std::vector<ExpertLinears> experts;
  for (int64_t e = 0; e < entries[0]->experts; ++e) {
    const std::vector<std::string> gate_up = {entries[0]->ExpertName(e), entries[1]->ExpertName(e)};
    ExpertLinears x;
    FP4LAB_ASSIGN_OR_RETURN(x.gate, load(*entries[0], e, gate_up));
    FP4LAB_ASSIGN_OR_RETURN(x.up, load(*entries[1], e, gate_up));
    FP4LAB_ASSIGN_OR_RETURN(x.down, load(*entries[2], e, {}));
    experts.push_back(std::move(x));
  }
  FP4LAB_ASSIGN_OR_RETURN(w.experts, backend_.PrepareExperts(experts, gate.substr(0, gate.find(".*"))));
  experts_.push_back(w.experts.get());
  w.gate = gate;
  w.up = up;
  w.down = down;
  return Status::Ok();
}

Status DecoderModel::Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) {
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

Status DecoderModel::Attend(StepBuffers& step, const AttentionWeights& w, const AttentionLayout& a, float eps,
                            const DeviceTensor& h, DeviceTensor& k_cache, DeviceTensor& v_cache, DeviceTensor& out,
                            const RowPlacement* attention_rows) {
  const int64_t q_dim = int64_t{a.heads} * a.head_dim, kv_dim = int64_t{a.kv_heads} * a.head_dim;
  FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * q, Buffer(step, "q", q_dim));
  FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * attn, Buffer(step, "attn", q_dim));
  const DeviceTensor& table = *rope_.at(static_cast<size_t>(a.rope_table)).table;
  const RowPlacement& rows = step.placement;
  if (w.qkv) {
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * qkv, Buffer(step, "qkv", q_dim + 2 * kv_dim));
    FP4LAB_RETURN_IF_ERROR(Linear(h, *w.qkv, *qkv));
    FP4LAB_RETURN_IF_ERROR(
        backend_.RopeAndStoreKv(*qkv, a.heads, a.kv_heads, a.head_dim, table, rows, *q, k_cache, v_cache));
  } else {
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * k, Buffer(step, "k", kv_dim));
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * v, Buffer(step, "v", kv_dim));
    FP4LAB_RETURN_IF_ERROR(Linear(h, *w.q, *q));
    FP4LAB_RETURN_IF_ERROR(Linear(h, *w.k, *k));
    if (w.v) FP4LAB_RETURN_IF_ERROR(Linear(h, *w.v, *v));
    const DeviceTensor& v_in = w.v ? *v : *k;  // k as projected, before its norm and RoPE
    if (w.v_norm) {
      FP4LAB_RETURN_IF_ERROR(backend_.UnscaledRmsNorm(v_in, a.head_dim, eps, *v));
    } else if (!w.v) {
      return Status::Internal("attention without v_proj needs the v_norm that makes its values");
    }
    if (w.q_norm) {
      FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(*q, *w.q_norm, a.head_dim, eps, w.qk_norm_offset, *q));
      FP4LAB_RETURN_IF_ERROR(backend_.RmsNorm(*k, *w.k_norm, a.head_dim, eps, w.qk_norm_offset, *k));
    }
    FP4LAB_RETURN_IF_ERROR(backend_.Rope(*q, a.heads, a.head_dim, table, *rows.positions));
    FP4LAB_RETURN_IF_ERROR(backend_.Rope(*k, a.kv_heads, a.head_dim, table, *rows.positions));
    FP4LAB_RETURN_IF_ERROR(backend_.WriteKv(*k, *v, rows, k_cache, v_cache));
  }
  if (w.fp8_kv) FP4LAB_RETURN_IF_ERROR(backend_.RoundKvRowsToFp8(rows, *w.fp8_kv, k_cache, v_cache));
  const AttentionParams params{a.heads, a.kv_heads, a.head_dim, a.scale, a.window, a.softcap, a.causal};
  FP4LAB_RETURN_IF_ERROR(
      backend_.Attention(*q, k_cache, v_cache, attention_rows ? *attention_rows : rows, params, *attn));
  return Linear(*attn, *w.o, out);
}

Status DecoderModel::GatedMlp(StepBuffers& step, const GatedMlpWeights& w, Activation act, const DeviceTensor& h,
                              DeviceTensor& out) {
  const int64_t f = w.down->in_features();
  FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * gate, Buffer(step, "gate", f));
  if (w.gate_up) {
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * gate_up, Buffer(step, "gate_up", 2 * f));
    FP4LAB_RETURN_IF_ERROR(Linear(h, *w.gate_up, *gate_up));
    FP4LAB_RETURN_IF_ERROR(backend_.GatedMulHalves(act, *gate_up, *gate));
  } else {
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * up, Buffer(step, "up", f));
    FP4LAB_RETURN_IF_ERROR(Linear(h, *w.gate, *gate));
    FP4LAB_RETURN_IF_ERROR(Linear(h, *w.up, *up));
    FP4LAB_RETURN_IF_ERROR(backend_.GatedMul(act, *gate, *up, *gate));
  }
  return Linear(*gate, *w.down, out);
}

Status DecoderModel::RoutedExperts(StepBuffers& step, const ExpertsWeights& w, Activation act,
                                   const RoutingParams& routing, const DeviceTensor& router_logits,
                                   const DeviceTensor& x, DeviceTensor& out) {
  const int64_t k = routing.top_k;
  FP4LAB_ASSIGN_OR_RETURN(DeviceIndices * ids, IndexBuffer(step, "expert_ids", step.rows * k));
  FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * weights, Buffer(step, "expert_weights", k));
  FP4LAB_RETURN_IF_ERROR(backend_.RouteTopK(router_logits, routing, *ids, *weights));
  if (!observer_) return backend_.Experts(x, *w.experts, act, *ids, *weights, out, nullptr);
  const int64_t n = w.experts->num_experts();
  for (int64_t e = 0; e < n; ++e) {
    FP4LAB_RETURN_IF_ERROR(observer_(ExpertTensorName(w.gate, e), x));
    FP4LAB_RETURN_IF_ERROR(observer_(ExpertTensorName(w.up, e), x));
  }
  // The hidden activations of every slot: [rows * k, I], a buffer of its own shape (rows * k rows).
  FP4LAB_ASSIGN_OR_RETURN(auto hidden, backend_.Allocate(step.rows * k, w.experts->intermediate_size()));
  FP4LAB_RETURN_IF_ERROR(backend_.Experts(x, *w.experts, act, *ids, *weights, out, hidden.get()));
  for (int64_t e = 0; e < n; ++e) FP4LAB_RETURN_IF_ERROR(observer_(ExpertTensorName(w.down, e), *hidden));
  return Status::Ok();
}

}  // namespace fp4lab
