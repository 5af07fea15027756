// DecoderModel: what every decoder-only family shares, written once. A family file (engine/arch/<family>.cc) loads
// its weights with the helpers here and implements RunDecoder, its layers over one placed batch of rows; this base
// owns the rest of Model: row placement and validation (prefill, scoring, batched decode), activation buffers kept
// between calls, the recorded decode step (a CUDA graph on backends that record), the Linear-input observer, RoPE
// tables grown with the cache, and the standard attention and gated-MLP sublayers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/arch/architecture.h"

namespace fp4lab {

// One layer's attention shape (Backend::Attention) and which RoPE table it rotates with.
struct AttentionLayout {
  int heads = 0, kv_heads = 0, head_dim = 0;
  float scale = 0.0f;    // on q.k (1/sqrt(head_dim), or Gemma's query_pre_attn_scalar^-0.5)
  int window = 0;        // sliding window (AttentionParams::window); 0 = global
  float softcap = 0.0f;  // score soft-capping; 0 = off
  int rope_table = 0;    // DecoderModel::AddRopeTable index
  bool causal = true;    // false: the rows of a pass also see each other's later rows (AttentionParams::causal)
};

// The projections of one attention sublayer, resident on the backend. q|k|v run as one fused Linear when the
// backend can stack them and no per-head norm sits between (qkv non-null), else separately.
struct AttentionWeights {
  std::unique_ptr<DeviceLinear> qkv;              // [Q + 2 KV, D] fused, or null
  std::unique_ptr<DeviceLinear> q, k, v;          // [Q, D], [KV, D], [KV, D] when not fused; v null (not fused):
                                                  // values are the keys as projected, before k_norm and RoPE
                                                  // (Gemma 4's attention_k_eq_v)
  std::unique_ptr<DeviceTensor> q_norm, k_norm;   // per-head RMSNorm weights [1, head_dim] (QK-norm), or null
  float qk_norm_offset = 0.0f;                    // 0: x * w; 1: Gemma's x * (1 + w)
  bool v_norm = false;                            // values get the scale-free per-head RMSNorm (Gemma 4's v_norm)
  std::unique_ptr<DeviceLinear> o;                // [D, Q]
  // Set when the KV cache stores E4M3 (WeightLoader::kv_cache_format): this layer's k/v scales; Attend then rounds
  // the rows it stores through FP8 (Backend::RoundKvRowsToFp8) before attending.
  std::optional<KvScales> fp8_kv;
};

// A gated MLP: down(act(gate(x)) * up(x)); gate|up fused when the backend can stack them.
struct GatedMlpWeights {
  std::unique_ptr<DeviceLinear> gate_up;          // [2 F, D] fused, or null
  std::unique_ptr<DeviceLinear> gate, up;         // [F, D] when not fused
  std::unique_ptr<DeviceLinear> down;             // [D, F]
};

// The routed experts of one mixture-of-experts block and the manifest entries (name patterns) they were loaded from.
struct ExpertsWeights {
  std::unique_ptr<DeviceExperts> experts;
  std::string gate, up, down;  // manifest experts entries, e.g. "model.layers.0.mlp.experts.*.gate_proj"
};

class DecoderModel : public Model {
 public:
  const ModelConfig& config() const override { return config_; }
  void SetLinearInputObserver(LinearInputObserver observer) override { observer_ = std::move(observer); }
  Result<std::unique_ptr<KvCache>> NewCache(int64_t capacity, int sequences) override;
  Status Forward(std::span<const int32_t> tokens, KvCache& cache, int sequence, DeviceTensor& logits) override;
  Status DecodeStep(std::span<const int32_t> tokens, KvCache& cache, DeviceTensor& logits) override;
  Status ForwardSequences(std::span<const std::vector<int32_t>> tokens, KvCache& cache, DeviceTensor& logits) override;
  int64_t WeightDeviceBytes() const override;

 protected:
  // `manifest` must outlive the model (the blueprint that loads it keeps it).
  DecoderModel(const ModelConfig& config, const TensorManifest& manifest, std::vector<int64_t> kv_widths,
               Backend& backend);

  // Activation buffers and row placement of passes over `rows` rows, kept between calls.
  struct StepBuffers {
    int64_t rows = 0;
    std::map<std::pair<std::string, int64_t>, std::unique_ptr<DeviceTensor>> scratch;  // by (name, cols)
    std::map<std::pair<std::string, int64_t>, std::unique_ptr<DeviceIndices>> index_scratch;  // by (name, size)
    std::unique_ptr<DeviceIndices> tokens, positions, cache_rows;                     // [rows] each
    RowPlacement placement;
  };

  // The family's layers over the rows placed in `step` (step.tokens, step.placement uploaded): appends their K/V to
  // `cache` and writes logits [rows, vocab]. Must issue the same ops every time for the same rows (recorded steps).
  virtual Status RunDecoder(StepBuffers& step, KvCache& cache, DeviceTensor& logits) = 0;

  // Forward without extending the sequence: the rows' K/V are written to the cache rows after its length (scratch the
  // next Forward overwrites) and cache.lengths stays as it was (a diffusion decoder's canvas). Errors as Forward.
  Status ForwardScratch(std::span<const int32_t> tokens, KvCache& cache, int sequence, DeviceTensor& logits);

  Backend& backend() { return backend_; }
  // The activation buffer `name` of [step.rows, cols], created zero-filled on first use and kept with the step.
  Result<DeviceTensor*> Buffer(StepBuffers& step, const std::string& name, int64_t cols);
  // The index buffer `name` of `size` values, created zero-filled on first use and kept with the step.
  Result<DeviceIndices*> IndexBuffer(StepBuffers& step, const std::string& name, int64_t size);
  // Registers a RoPE table (inverse frequencies from RopeInverseFrequencies) grown by NewCache; returns its index.
  int AddRopeTable(std::vector<float> inv_freq);

  // --- loading (names and sizes come from the manifest) ---
  Result<std::unique_ptr<DeviceLinear>> LoadLinear(WeightLoader& loader, const std::string& name);
  // The token embedding (never quantized).
  Result<std::unique_ptr<DeviceLinear>> LoadEmbedding(WeightLoader& loader, const std::string& name);
  Result<std::unique_ptr<DeviceTensor>> LoadVector(WeightLoader& loader, const std::string& name);
  // Loads the Linears `names` (one fused group of the manifest) as one stacked Linear when `allow_fusion` and the
  // backend can stack them, else each into its slot of `separate`.
  Status LoadFusable(WeightLoader& loader, const std::vector<std::string>& names, bool allow_fusion,
                     std::unique_ptr<DeviceLinear>& fused, const std::vector<std::unique_ptr<DeviceLinear>*>& separate);
  // q/k/v/o at "<prefix>q_proj" etc. (prefix ends in "self_attn."); fused unless `w` gets per-head norms. With an
  // FP8 KV cache (loader.kv_cache_format()), also the layer's k/v scales (w.fp8_kv).
  Status LoadAttention(WeightLoader& loader, const std::string& prefix, bool per_head_norms, AttentionWeights& w);
  // gate/up/down at "<prefix>gate_proj" etc. (prefix ends in "mlp.").
  Status LoadGatedMlp(WeightLoader& loader, const std::string& prefix, GatedMlpWeights& w);
  // A MoE router (a manifest Linear that stays bf16 in every scheme: WeightLoader::UnquantizedLinear).
  Result<std::unique_ptr<DeviceLinear>> LoadRouter(WeightLoader& loader, const std::string& name);
  // Every expert of the manifest experts entries `gate`, `up`, `down` (name patterns with '*'), prepared as one
  // DeviceExperts named after the part of `gate` before ".*". Gate and up of an expert load as one fused group
  // (one global scale when quantized on load).
  Status LoadExperts(WeightLoader& loader, const std::string& gate, const std::string& up, const std::string& down,
                     ExpertsWeights& w);
  // The same with the entries looked up in `manifest` (which must outlive the model): experts a family loads only
  // when the checkpoint stores them, outside the model's manifest.
  Status LoadExperts(WeightLoader& loader, const TensorManifest& manifest, const std::string& gate,
                     const std::string& up, const std::string& down, ExpertsWeights& w);

  // --- sublayers ---
  // backend.Linear, reporting the input to the observer first (once per checkpoint Linear a fused one stands for).
  Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y);
  // out = o_proj(attention(q, k, v of h)) for the rows of `step`, writing this layer's K/V into its caches. h is
  // the normalized input [rows, D]; `out` may alias `h`. `eps` is the QK-norm epsilon. `attention_rows`, when set,
  // is the placement the attention op reads instead of step.placement (same cache rows, other positions: which
  // keys a row sees follows from its position, Backend::Attention); RoPE always uses step.placement's positions.
  Status Attend(StepBuffers& step, const AttentionWeights& w, const AttentionLayout& layout, float eps,
                const DeviceTensor& h, DeviceTensor& k_cache, DeviceTensor& v_cache, DeviceTensor& out,
                const RowPlacement* attention_rows = nullptr);
  // out = down(act(gate(h)) * up(h)); `out` may alias `h`.
  Status GatedMlp(StepBuffers& step, const GatedMlpWeights& w, Activation act, const DeviceTensor& h,
                  DeviceTensor& out);
  // out = the routed experts of x (Backend::RouteTopK on router_logits [rows, E], then Backend::Experts), all on the
  // device. With an observer, x is reported as the input of every expert's gate and up, and the experts' hidden
  // activations as the input of every down (ModelOpt calibrates one input scale per layer for each). `out` may not
  // alias `x`.
  Status RoutedExperts(StepBuffers& step, const ExpertsWeights& w, Activation act, const RoutingParams& routing,
                       const DeviceTensor& router_logits, const DeviceTensor& x, DeviceTensor& out);

 private:
  struct RopeSlot {
    std::vector<float> inv_freq;
    std::unique_ptr<DeviceTensor> table;  // [positions, 2 * inv_freq.size()], grown by NewCache
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

  Result<StepBuffers*> Step(int64_t rows, bool one_sequence);
  // Forward, extending the sequence by the rows when `extend`, else ForwardScratch.
  Status ForwardOne(std::span<const int32_t> tokens, KvCache& cache, int sequence, DeviceTensor& logits, bool extend);
  Status EnsureRopeTables(int64_t positions);
  Status UploadRows(std::span<const int32_t> tokens, std::span<const int32_t> positions,
                    std::span<const int32_t> cache_rows, StepBuffers& step);
  Status RunDecodeStep(StepBuffers& step, KvCache& cache, DeviceTensor& logits);
  Result<std::unique_ptr<DeviceLinear>> Keep(Result<std::unique_ptr<DeviceLinear>> linear);
  // InvalidArgument naming the tensor when the checkpoint's shape of `w` is not that of manifest entry `name` (a
  // config that does not describe its checkpoint fails at load, naming what to check, not in the forward pass).
  Status CheckAgainstManifest(const std::string& name, const LinearWeights& w) const;

  ModelConfig config_;
  const TensorManifest& manifest_;
  std::vector<int64_t> kv_widths_;
  Backend& backend_;
  LinearInputObserver observer_;
  std::vector<RopeSlot> rope_;
  std::map<int64_t, StepBuffers> steps_;  // by row count (see kKeptDecodeRows)
  RecordedStep recorded_;
  bool recording_supported_ = true;       // false once the backend could not record a step
  std::vector<const DeviceLinear*> linears_;  // every Linear loaded, for WeightDeviceBytes
  std::vector<const DeviceExperts*> experts_;  // every experts block loaded, for WeightDeviceBytes
  std::map<const DeviceLinear*, std::vector<std::string>> fused_parts_;  // checkpoint names per fused Linear
};

}  // namespace fp4lab
