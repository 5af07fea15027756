// Backend: one device + one stream, behind which the forward pass (engine/arch/*.cc) is written once.
//
// Activations are f32, row-major [rows, cols] DeviceTensors owned by the caller and allocated through the
// backend; weights are prepared once at load (PrepareLinear / PrepareVector) into the backend's own layout.
// The CPU backend (engine/cpu/) is the reference: plain loops, f32 accumulation; it is the oracle every other
// backend is tested against. A backend answers what it can do (LinearPath) instead of crashing.
//
// Error contract: ops return Status; shape mismatches are Internal (bugs), device failures carry the device error.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/diffusion/canvas_row.h"
#include "engine/kv_cache_format.h"
#include "engine/linear_weights.h"
#include "engine/status.h"

namespace fp4lab {

// An f32 activation buffer on the backend's device. Concrete backends subclass it.
class DeviceTensor {
 public:
  DeviceTensor(int64_t rows, int64_t cols) : rows_(rows), cols_(cols), id_(NextId()) {}
  virtual ~DeviceTensor() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t size() const { return rows_ * cols_; }
  // Unique per tensor in this process (never reused, unlike an address): keys recorded programs.
  uint64_t id() const { return id_; }

 private:
  static uint64_t NextId() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1);
  }
  int64_t rows_, cols_;
  uint64_t id_;
};

// Int32 values on the backend's device (token ids, positions, KV-cache rows). Concrete backends subclass it.
class DeviceIndices {
 public:
  explicit DeviceIndices(int64_t size) : size_(size) {}
  virtual ~DeviceIndices() = default;
  int64_t size() const { return size_; }

 private:
  int64_t size_;
};

// Where the M rows of one forward pass sit, as two device arrays of M values: row i is at position positions[i] of
// its sequence, its K/V goes to KV-cache row cache_rows[i], and it attends to cache rows
// cache_rows[i] - positions[i] .. cache_rows[i] (its sequence so far, itself included). Device-resident so that a
// recorded program (BeginRecording) replays at new positions after one small upload.
struct RowPlacement {
  const DeviceIndices* positions = nullptr;
  const DeviceIndices* cache_rows = nullptr;
  bool one_sequence = false;  // every row is of one sequence, at consecutive positions (prefill): lets a backend
                              // tile queries that share keys
};

// Ops recorded by BeginRecording .. EndRecording (a CUDA graph), replayed by Backend::Replay. It reads and writes
// the same buffers every time, so it is valid while they live.
class DeviceProgram {
 public:
  virtual ~DeviceProgram() = default;
};

// A Linear layer prepared for one backend (weights resident on its device, in its layout).
class DeviceLinear {
 public:
  virtual ~DeviceLinear() = default;
  virtual const std::string& name() const = 0;  // module prefix, e.g. "model.layers.0.mlp.up_proj"
  virtual int64_t out_features() const = 0;
  virtual int64_t in_features() const = 0;
  virtual LinearScheme scheme() const = 0;
  // Device bytes held by this layer's weights.
  virtual int64_t DeviceBytes() const = 0;
};

// The E routed experts of one mixture-of-experts layer, prepared for one backend (Backend::PrepareExperts). Expert
// e is the gated MLP down_e(act(gate_e(x)) * up_e(x)) with gate_e, up_e [I, H] and down_e [H, I], each in any
// LinearScheme (bf16, W4A16 NVFP4, emulated W4A4, fp8) with its own global scales.
class DeviceExperts {
 public:
  virtual ~DeviceExperts() = default;
  virtual const std::string& name() const = 0;  // the experts' module prefix, e.g. "model.layers.0.mlp.experts"
  virtual int num_experts() const = 0;          // E
  virtual int64_t hidden_size() const = 0;      // H
  virtual int64_t intermediate_size() const = 0;  // I
  virtual int64_t DeviceBytes() const = 0;        // device bytes held by all E experts' weights
};

// One expert's Linears in host memory, as the weight loader produced them (Backend::PrepareExperts).
struct ExpertLinears {
  LinearWeights gate, up;  // [I, H] each
  LinearWeights down;      // [H, I]
};

// How router logits become each row's top-k experts and weights (Backend::RouteTopK):
//   p = softmax(logits[m, :]) over all E experts; the k experts of largest logit (= of largest p) are taken;
//   if renormalize, their weights are p_j / sum of the k selected p; then, if expert_scale is given, each weight is
//   multiplied by expert_scale[id]. Qwen3-MoE: renormalize = norm_topk_prob, no scale. Gemma 4: renormalize, with
//   the router's per_expert_scale.
struct RoutingParams {
  int top_k = 0;                               // k, 1 <= k <= E
  bool renormalize = false;
  const DeviceTensor* expert_scale = nullptr;  // [1, E], or null for none
};

struct AttentionParams {
  int num_heads = 0;     // query heads
  int num_kv_heads = 0;  // key/value heads; query head h uses kv head h / (num_heads / num_kv_heads)
  int head_dim = 0;
  float scale = 0.0f;    // multiplies q.k, usually 1/sqrt(head_dim)
  // Sliding window (HF's sliding_window): a query at position p sees only keys at positions > p - window, i.e. the
  // last `window` positions including its own. 0 = every earlier position (global attention).
  int window = 0;
  // Score soft-capping (Gemma's attn_logit_softcapping): s = softcap * tanh(s / softcap) on the scaled score before
  // the softmax. 0 = off.
  float softcap = 0.0f;
  // Non-causal (a diffusion decoder's canvas): every query also sees the later rows of this pass, i.e. the keys of
  // its sequence up to the position of the pass's last row. REQUIRES RowPlacement::one_sequence (the rows are one
  // sequence at consecutive positions); `window` still bounds the earlier keys (positions > p - window).
  bool causal = true;
};

// The activation of a gated MLP: out = act(gate) * up.
enum class Activation {
  kSilu,      // x * sigmoid(x) (Llama, Qwen)
  kGeluTanh,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Gemma's gelu_pytorch_tanh)
};
const char* ActivationName(Activation act);

// The fused ops a backend implements (Backend::Fuses). The forward pass uses each only where it is offered and
// otherwise issues the primitives it stands for, so a new backend needs the primitives alone.
struct FusedOps {
  // Stacked Linears (PrepareFusedLinear: q|k|v and gate|up as one GEMM) with the ops that read their stacked output:
  // RopeAndStoreKv and GatedMulHalves.
  bool stacked_linears = false;
  // AddRmsNorm as one op (its default is AddInPlace then RmsNorm, the same result).
  bool add_rms_norm = false;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu" or "cuda:N".
  virtual std::string Name() const = 0;
  // Device facts for provenance: name, memory, compute capability, driver/runtime/library versions.
  virtual nlohmann::json Facts() const = 0;
  // How this device runs a scheme: "reference" (CPU), "native", "emulated", "weight-only"; Unimplemented with the
  // reason if it cannot run it at all.
  virtual Result<std::string> LinearPath(LinearScheme scheme) const = 0;
  // Which fused ops it implements (see FusedOps); none by default.
  virtual FusedOps Fuses() const { return {}; }

  // --- memory ---
  virtual Result<std::unique_ptr<DeviceTensor>> Allocate(int64_t rows, int64_t cols) = 0;  // zero-filled
  virtual Status Upload(std::span<const float> host, DeviceTensor& dst) = 0;     // REQUIRES sizes match
  virtual Status Download(const DeviceTensor& src, std::span<float> host) = 0;   // REQUIRES sizes match
  virtual Result<std::unique_ptr<DeviceLinear>> PrepareLinear(const LinearWeights& weights) = 0;
  // One Linear named `name` whose output rows are the parts' rows stacked in order (q|k|v, gate|up: one GEMM
  // instead of several over the same input). FailedPrecondition when the parts cannot be fused (CheckFusable in
  // engine/linear_weights.h); callers then prepare them one by one. Fused op (FusedOps::stacked_linears):
  // Unimplemented by default.
  virtual Result<std::unique_ptr<DeviceLinear>> PrepareFusedLinear(std::span<const LinearWeights> parts,
                                                                   const std::string& name);
  // True when PrepareLinear generates a synthetic payload (LinearWeights::synthetic) on the device itself; a backend
  // that does not (the default) must receive every payload materialized.
  virtual bool GeneratesSyntheticWeights() const { return false; }
  virtual Result<std::unique_ptr<DeviceIndices>> AllocateIndices(int64_t size) = 0;  // zero-filled
  virtual Status UploadIndices(std::span<const int32_t> host, DeviceIndices& dst) = 0;  // REQUIRES sizes match

  // --- ops (all shapes in elements; every tensor f32 row-major) ---
  // out[i, :] = row tokens[i] of `table`'s weight matrix W[V, D] (the embedding; may be the tied lm_head).
  // REQUIRES every id in [0, V): callers validate on the host before uploading (the device cannot report it).
  virtual Status Embed(const DeviceLinear& table, const DeviceIndices& tokens, DeviceTensor& out) = 0;
  // RMSNorm over consecutive groups of `group` elements: y = x / sqrt(mean(x^2) + eps) * (weight_offset + w).
  // weight is [1, group]. weight_offset is 0 for Llama, 1 for Gemma's (1 + w). `out` may alias `x`.
  virtual Status RmsNorm(const DeviceTensor& x, const DeviceTensor& weight, int64_t group, float eps,
                         float weight_offset, DeviceTensor& out) = 0;
  // The scale-free RMSNorm (Gemma 4's v_norm and router norm): y = x / sqrt(mean(x^2) + eps) over consecutive groups
  // of `group` elements, the same operations as RmsNorm without its final multiply. `out` may alias `x`.
  virtual Status UnscaledRmsNorm(const DeviceTensor& x, int64_t group, float eps, DeviceTensor& out) = 0;
  // y[M, N] = x[M, K] * W^T (+ bias), with the numerics of w.scheme().
  virtual Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) = 0;
  // Rotate-half RoPE (HF layout) in place on x[M, heads * head_dim]; row i is at position positions[i].
  // rope_table [P, head_dim] holds, for every position p < P, cos(p * inv_freq[j]) in column j and
  // sin(p * inv_freq[j]) in column head_dim / 2 + j (RopeTable in engine/model_config.h builds it).
  // REQUIRES every position < P.
  virtual Status Rope(DeviceTensor& x, int heads, int head_dim, const DeviceTensor& rope_table,
                      const DeviceIndices& positions) = 0;
  // The fused form of Rope + WriteKv on the output of a fused q|k|v Linear, qkv [M, Q + 2 KV] (Q = heads *
  // head_dim, KV = kv_heads * head_dim): q [M, Q] = Rope(qkv[:, :Q]); cache row rows.cache_rows[i] of k_cache
  // gets Rope(qkv[i, Q:Q+KV]) and of v_cache qkv[i, Q+KV:]. Bit-identical to the unfused ops. Fused op
  // (FusedOps::stacked_linears): Unimplemented by default.
  virtual Status RopeAndStoreKv(const DeviceTensor& qkv, int heads, int kv_heads, int head_dim,
                                const DeviceTensor& rope_table, const RowPlacement& rows, DeviceTensor& q,
                                DeviceTensor& k_cache, DeviceTensor& v_cache);
  // Stores row i of k, v [M, kv_heads * head_dim] into row rows.cache_rows[i] of the layer's caches
  // [rows, kv_dim]. REQUIRES every cache row in range.
  virtual Status WriteKv(const DeviceTensor& k, const DeviceTensor& v, const RowPlacement& rows,
                         DeviceTensor& k_cache, DeviceTensor& v_cache) = 0;
  // The FP8 KV cache (engine/kv_cache_format.h), run after the K/V of a pass are stored: every element x of cache
  // row rows.cache_rows[i] (each i) becomes Fp8KvRoundTrip(x, scales.k) in k_cache and Fp8KvRoundTrip(x, scales.v)
  // in v_cache, in place: what a cache holding E4M3 bytes returns for it. Bit-identical on every backend.
  // REQUIRES every cache row in range, scales finite and > 0.
  virtual Status RoundKvRowsToFp8(const RowPlacement& rows, KvScales scales, DeviceTensor& k_cache,
                                  DeviceTensor& v_cache) = 0;
  // Attention: query i attends to cache rows rows.cache_rows[i] - rows.positions[i] .. rows.cache_rows[i] (see
  // RowPlacement), or with params.causal false, through the pass's last row; out[M, num_heads * head_dim].
  // Internal when params.causal is false and the rows are not one sequence.
  virtual Status Attention(const DeviceTensor& q, const DeviceTensor& k_cache, const DeviceTensor& v_cache,
                           const RowPlacement& rows, const AttentionParams& params, DeviceTensor& out) = 0;
  // out = act(gate) * up, elementwise. `out` may alias `gate`.
  virtual Status GatedMul(Activation act, const DeviceTensor& gate, const DeviceTensor& up, DeviceTensor& out) = 0;
  // The same on the output of a fused gate|up Linear: out[M, F] = act(gate_up[:, :F]) * gate_up[:, F:]. Fused op
  // (FusedOps::stacked_linears): Unimplemented by default.
  virtual Status GatedMulHalves(Activation act, const DeviceTensor& gate_up, DeviceTensor& out);
  // x += y, elementwise.
  virtual Status AddInPlace(DeviceTensor& x, const DeviceTensor& y) = 0;
  // x *= factor, elementwise (Gemma's embedding scale).
  virtual Status Scale(DeviceTensor& x, float factor) = 0;
  // x = cap * tanh(x / cap), elementwise (Gemma's final logit soft-capping). REQUIRES cap > 0.
  virtual Status SoftCap(DeviceTensor& x, float cap) = 0;
  // Scores next-token predictions without moving logits to the host: for request i, with r = rows[i] and
  // t = targets[i], ln p = x[r, t] - LogSumExp(x[r, :]) computed in double (engine/token_scores.h; the CPU with
  // exactly that code) is stored as the 8 bytes of an IEEE double in out[i, 0..1] (little-endian: low word first),
  // and out[i, 2] = 1 when t is row r's argmax (the lowest id among equal maxima, as greedy decoding picks), else 0.
  // out is [N, 3] for N requests (DecodeScores reads it back). REQUIRES every row in [0, M) and target in [0, V)
  // (callers validate on the host).
  virtual Status ScoreTokens(const DeviceTensor& logits, const DeviceIndices& rows, const DeviceIndices& targets,
                             DeviceTensor& out) = 0;
  // The residual add and the RMSNorm after it as one op: x += delta (elementwise, stored back to x), then
  // out = RmsNorm(x, weight, group, eps, weight_offset). Bit-identical to AddInPlace(x, delta) followed by that
  // RmsNorm on the same backend. `out` may alias `delta` (each element of delta is read before the element of out
  // in its place is written), never `x` (x keeps the sum; Internal if it is the same tensor). The default issues
  // exactly those two ops; a backend with FusedOps::add_rms_norm does it in one.
  virtual Status AddRmsNorm(DeviceTensor& x, const DeviceTensor& delta, const DeviceTensor& weight, int64_t group,
                            float eps, float weight_offset, DeviceTensor& out);
  // --- mixture of experts (CPU reference: engine/cpu/cpu_experts.h states the exact operation order) ---
  // The experts of one MoE layer as one object: experts[e] is expert e. InvalidArgument when their shapes disagree
  // (every gate/up [I, H], every down [H, I]).
  virtual Result<std::unique_ptr<DeviceExperts>> PrepareExperts(std::span<const ExpertLinears> experts,
                                                                const std::string& name) = 0;
  // Routing on the device (RoutingParams): logits [M, E] -> ids [M * k] (row m's experts at m * k .. m * k + k - 1,
  // by descending logit; among equal logits the lower id ranks first) and weights [M, k] (f32, same order).
  virtual Status RouteTopK(const DeviceTensor& logits, const RoutingParams& params, DeviceIndices& ids,
                           DeviceTensor& weights) = 0;
  // out[m, :] = sum over j < k of weights[m, j] * expert_{ids[m * k + j]}(x[m, :]) for x [M, H], out [M, H], with
  // `act` the gate activation. Only the selected experts' weights are read. `hidden`, when non-null, is [M * k, I]
  // and receives act(gate_e(x[m])) * up_e(x[m]) of slot (m, j) in row m * k + j (the input of down_e, for the
  // Linear-input observer). REQUIRES every id in [0, E) and distinct within a row (RouteTopK's output is).
  virtual Status Experts(const DeviceTensor& x, const DeviceExperts& experts, Activation act,
                         const DeviceIndices& ids, const DeviceTensor& weights, DeviceTensor& out,
                         DeviceTensor* hidden) = 0;

  // --- block diffusion (engine/diffusion/): a denoising step's per-position work, the logits staying here ---
  // On logits [C, V] in place: row c becomes row c / temperature (f32) and outcomes[c] = its argmax, entropy and
  // the token drawn with uniforms[c], exactly as ProcessCanvasRow (engine/diffusion/canvas_row.h) defines them; only
  // the C outcomes reach the host. REQUIRES uniforms.size() == outcomes.size() == C, temperature > 0. The default
  // (every backend without a kernel, the CPU included) downloads the logits, runs ProcessCanvasRow on each row and
  // uploads the scaled rows: the reference, bit for bit. A kernel sums in another order: its entropy and draw stay
  // within the bounds its header states (CUDA: engine/cuda/canvas_kernels.h).
  virtual Status ProcessCanvasRows(DeviceTensor& logits, float temperature, std::span<const double> uniforms,
                                   std::span<CanvasRowOutcome> outcomes);
  // probs[c, :] = SelfConditioningSoftmaxRow(logits[c, :], round_to_bf16) (engine/diffusion/self_conditioning_probs.h)
  // for logits and probs [C, V]; `probs` may alias `logits`. The default downloads, computes on the host and uploads
  // (the reference, bit for bit); a kernel within the bound its header states.
  virtual Status SelfConditioningSoftmax(const DeviceTensor& logits, bool round_to_bf16, DeviceTensor& probs);

  // Waits for queued work (no-op on CPU).
  virtual Status Synchronize() = 0;

  // --- recording (CUDA graphs) ---
  // Ops issued between BeginRecording and EndRecording are recorded into a DeviceProgram instead of being run.
  // Recording must not include Upload, Download or Synchronize, and every op must find its scratch memory already
  // large enough (run the same ops once before recording them). Unimplemented when the backend cannot record (the
  // CPU backend): callers then issue the ops directly. EndRecording must follow a successful BeginRecording even
  // when an op in between failed.
  virtual Status BeginRecording() = 0;
  virtual Result<std::unique_ptr<DeviceProgram>> EndRecording() = 0;
  // False once scratch memory the program refers to has been reallocated (a later op needed more): the caller
  // drops it and records again.
  virtual bool IsCurrent(const DeviceProgram& program) const = 0;
  // Runs a recorded program once, asynchronously like any op. REQUIRES IsCurrent(program).
  virtual Status Replay(const DeviceProgram& program) = 0;
};

// Whether the operands of Backend::RopeAndStoreKv agree (the check every backend runs first).
bool RopeAndStoreKvShapesAgree(const DeviceTensor& qkv, int heads, int kv_heads, int head_dim,
                               const DeviceTensor& rope_table, const RowPlacement& rows, const DeviceTensor& q,
                               const DeviceTensor& k_cache, const DeviceTensor& v_cache);

// Why the operands of Backend::AddRmsNorm cannot be used (the check every backend runs first), or "" when they can.
std::string AddRmsNormOperandError(const DeviceTensor& x, const DeviceTensor& delta, const DeviceTensor& weight,
                                   int64_t group, const DeviceTensor& out);

// Why the operands of Backend::Experts disagree (the check every backend runs first), or "" when they agree.
std::string ExpertsOperandError(const DeviceTensor& x, const DeviceExperts& experts, const DeviceIndices& ids,
                                const DeviceTensor& weights, const DeviceTensor& out, const DeviceTensor* hidden);

// Why the operands of Backend::ProcessCanvasRows cannot be used (the check every backend runs first), or "".
std::string CanvasRowsOperandError(const DeviceTensor& logits, float temperature, std::span<const double> uniforms,
                                   std::span<const CanvasRowOutcome> outcomes);

// The ln p and greedy flag of each request from the [N, 3] host copy of Backend::ScoreTokens' output.
struct DecodedScore {
  double logprob = 0.0;
  bool is_greedy = false;
};
std::vector<DecodedScore> DecodeScores(std::span<const float> out);

// Creates "cpu" or "cuda[:N]". InvalidArgument listing the devices that exist when `device` is unknown.
Result<std::unique_ptr<Backend>> CreateBackend(const std::string& device);

}  // namespace fp4lab
