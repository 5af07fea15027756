#include "engine/cuda/cuda_backend.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "engine/cuda/attention_kernel.h"
#include "engine/cuda/canvas_kernels.h"
#include "engine/cuda/cublaslt_gemm.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_context.h"
#include "engine/cuda/cuda_device.h"
#include "engine/cuda/cuda_experts.h"
#include "engine/cuda/cuda_linear.h"
#include "engine/cuda/elementwise_kernels.h"
#include "engine/cuda/experts_kernels.h"
#include "engine/cuda/kv_fp8_kernels.h"

namespace fp4lab {
namespace {

using cuda::CudaContext;
using cuda::CudaLinear;
using cuda::DeviceBuffer;

class CudaTensor : public DeviceTensor {
 public:
  CudaTensor(int64_t rows, int64_t cols, DeviceBuffer buffer)
      : DeviceTensor(rows, cols), buffer_(std::move(buffer)) {}
  float* data() const { return buffer_.as<float>(); }

 private:
  DeviceBuffer buffer_;
};

class CudaIndices : public DeviceIndices {
 public:
  CudaIndices(int64_t size, DeviceBuffer buffer) : DeviceIndices(size), buffer_(std::move(buffer)) {}
  int32_t* data() const { return buffer_.as<int32_t>(); }

 private:
  DeviceBuffer buffer_;
};

// A CUDA graph instantiated from a recording, and the workspace generation its slices belong to.
class CudaProgram : public DeviceProgram {
 public:
  CudaProgram(cudaGraphExec_t exec, uint64_t workspace_generation)
      : exec_(exec), workspace_generation_(workspace_generation) {}
  ~CudaProgram() override { (void)cudaGraphExecDestroy(exec_); }
  CudaProgram(const CudaProgram&) = delete;
  CudaProgram& operator=(const CudaProgram&) = delete;
  cudaGraphExec_t exec() const { return exec_; }
  uint64_t workspace_generation() const { return workspace_generation_; }

 private:
  cudaGraphExec_t exec_;
  uint64_t workspace_generation_;
};

float* Data(DeviceTensor& t) { return static_cast<CudaTensor&>(t).data(); }
const int32_t* Data(const DeviceIndices& i) { return static_cast<const CudaIndices&>(i).data(); }
const float* Data(const DeviceTensor& t) { return static_cast<const CudaTensor&>(t).data(); }
const CudaLinear& Cuda(const DeviceLinear& l) { return static_cast<const CudaLinear&>(l); }

Status ShapeError(const char* op, const std::string& what) {
  return Status::Internal(std::string("cuda backend: ") + op + ": " + what);
}

cuda::GateActivation DeviceActivation(Activation act) {
  return act == Activation::kSilu ? cuda::GateActivation::kSilu : cuda::GateActivation::kGeluTanh;
}

// 13000 -> "13.0" (cudaDriverGetVersion / cudaRuntimeGetVersion encoding).
std::string CudaVersionText(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

// 130100 -> "13.1.0" (cublasLtGetVersion encoding: major * 10000 + minor * 100 + patch).
std::string CublasVersionText(size_t version) {
  return std::to_string(version / 10000) + "." + std::to_string((version / 100) % 100) + "." +
         std::to_string(version % 100);
}

const char* PathName(bool native_nvfp4, LinearScheme scheme) {
  switch (scheme) {
    case LinearScheme::kBf16: return "native";
    case LinearScheme::kNvfp4: return native_nvfp4 ? "native" : "emulated";
    case LinearScheme::kNvfp4W4A16: return "weight-only";
    case LinearScheme::kFp8: return "emulated";
  }
  return "?";
}

class CudaBackend : public Backend {
 public:
  CudaBackend(std::shared_ptr<CudaContext> context, std::unique_ptr<cuda::CublasLtGemm> gemm,
              Nvfp4PathDecision nvfp4, nlohmann::json facts)
      : context_(context), gemm_(std::move(gemm)), workspace_(context), nvfp4_(std::move(nvfp4)),
        facts_(std::move(facts)), sm_count_(facts_.value("sm_count", 1)),
        w4a16_mma_gemm_(facts_.value("w4a16_batched_kernel", std::string()) == "mma") {}

  std::string Name() const override { return context_->label(); }

  nlohmann::json Facts() const override {
    nlohmann::json facts = facts_;
    if (!native_shape_refusals_.empty()) facts["nvfp4_layers_emulated_by_shape"] = native_shape_refusals_;
    if (native_fallback_calls_ > 0) {
      facts["nvfp4_native_fallback_calls"] = native_fallback_calls_;
      facts["nvfp4_native_fallback_reason"] = last_native_fallback_;
    }
    // Memory as of this call: bytes held through the context now and at most, and what is still free for fp4lab
    // (the card's free memory, capped by FP4LAB_CUDA_MEMORY_LIMIT when set; absent if the driver cannot say).
    facts["memory_allocated_bytes"] = context_->allocated_bytes();
    facts["memory_peak_bytes"] = context_->peak_allocated_bytes();
    facts["memory_peak_scope"] =
        "every device buffer this backend allocated through its CUDA context (weights, KV caches, activations, "
        "scratch, the cuBLASLt workspace); not the CUDA runtime's own context, cuBLASLt handles or CUDA graph memory";
    size_t free_bytes = 0, total_bytes = 0;
    if (context_->Activate().ok() && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      int64_t free_now = static_cast<int64_t>(free_bytes);
      if (facts_.contains("memory_limit_bytes")) {
        const int64_t under_limit = facts_["memory_limit_bytes"].get<int64_t>() - context_->allocated_bytes();
        free_now = under_limit < free_now ? under_limit : free_now;
      }
      facts["memory_free_bytes"] = free_now;
    } else {
      (void)cudaGetLastError();  // not sticky: clear it
    }
    return facts;
  }

  FusedOps Fuses() const override { return {.stacked_linears = true, .add_rms_norm = true}; }

  Result<std::string> LinearPath(LinearScheme scheme) const override {
    return std::string(PathName(nvfp4_.native, scheme));
  }

  Result<std::unique_ptr<DeviceTensor>> Allocate(int64_t rows, int64_t cols) override {
    const std::string what = "activation tensor [" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
    if (rows < 0 || cols < 0) return Status::Internal("cuda backend: Allocate: negative shape of " + what);
    if (rows > 0 && cols > INT64_MAX / 4 / rows) {
      return Status::ResourceExhausted(context_->label() + ": " + what + " exceeds the addressable size");
    }
    FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Allocate(context_, rows * cols * 4, what));
    if (buffer.bytes() > 0) {
      CUDA_CHECK(cudaMemsetAsync(buffer.data(), 0, static_cast<size_t>(buffer.bytes()), context_->stream()));
    }
    return std::unique_ptr<DeviceTensor>(new CudaTensor(rows, cols, std::move(buffer)));
  }

  Status Upload(std::span<const float> host, DeviceTensor& dst) override {
    if (static_cast<int64_t>(host.size()) != dst.size()) return ShapeError("Upload", "size mismatch");
    if (host.empty()) return Status::Ok();
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cudaMemcpyAsync(Data(dst), host.data(), host.size_bytes(), cudaMemcpyHostToDevice,
                               context_->stream()));
    return Status::Ok();
  }

  Status Download(const DeviceTensor& src, std::span<float> host) override {
    if (static_cast<int64_t>(host.size()) != src.size()) return ShapeError("Download", "size mismatch");
    if (host.empty()) return Status::Ok();
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cudaMemcpyAsync(host.data(), Data(src), host.size_bytes(), cudaMemcpyDeviceToHost,
                               context_->stream()));
    CUDA_CHECK(cudaStreamSynchronize(context_->stream()));
    return Status::Ok();
  }

  Result<std::unique_ptr<DeviceLinear>> PrepareFusedLinear(std::span<const LinearWeights> parts,
                                                           const std::string& name) override {
    FP4LAB_ASSIGN_OR_RETURN(auto linear, CudaLinear::Prepare(context_, parts, name, nvfp4_.native, w4a16_mma_gemm_));
    if (!linear->native_refusal().empty()) native_shape_refusals_.push_back(linear->native_refusal());
    return std::unique_ptr<DeviceLinear>(std::move(linear));
  }

  Result<std::unique_ptr<DeviceLinear>> PrepareLinear(const LinearWeights& weights) override {
    FP4LAB_ASSIGN_OR_RETURN(auto linear, CudaLinear::Prepare(context_, weights, nvfp4_.native, w4a16_mma_gemm_));
    if (!linear->native_refusal().empty()) native_shape_refusals_.push_back(linear->native_refusal());
    return std::unique_ptr<DeviceLinear>(std::move(linear));
  }

  bool GeneratesSyntheticWeights() const override { return true; }

  Result<std::unique_ptr<DeviceIndices>> AllocateIndices(int64_t size) override {
    const std::string what = "index array [" + std::to_string(size) + "]";
    if (size < 0) return Status::Internal("cuda backend: AllocateIndices: negative size of " + what);
    FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Allocate(context_, size * 4, what));
    if (buffer.bytes() > 0) {
      CUDA_CHECK(cudaMemsetAsync(buffer.data(), 0, static_cast<size_t>(buffer.bytes()), context_->stream()));
    }
    return std::unique_ptr<DeviceIndices>(new CudaIndices(size, std::move(buffer)));
  }

  Status UploadIndices(std::span<const int32_t> host, DeviceIndices& dst) override {
    if (static_cast<int64_t>(host.size()) != dst.size()) return ShapeError("UploadIndices", "size mismatch");
    if (host.empty()) return Status::Ok();
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    // From pageable memory: returns once `host` has been staged, so it may go away afterwards.
    CUDA_CHECK(cudaMemcpyAsync(static_cast<CudaIndices&>(dst).data(), host.data(), host.size_bytes(),
                               cudaMemcpyHostToDevice, context_->stream()));
    return Status::Ok();
  }

  Status Embed(const DeviceLinear& table, const DeviceIndices& tokens, DeviceTensor& out) override {
    const CudaLinear& t = Cuda(table);
    if (out.rows() != tokens.size() || out.cols() != t.in_features()) {
      return ShapeError("Embed", "output must be [tokens, hidden]");
    }
    if (tokens.size() == 0) return Status::Ok();
    return t.EmbedRows(Data(tokens), tokens.size(), Data(out));
  }

  Status RmsNorm(const DeviceTensor& x, const DeviceTensor& weight, int64_t group, float eps, float weight_offset,
                 DeviceTensor& out) override {
    if (x.size() != out.size() || weight.size() != group || group <= 0 || x.size() % group != 0) {
      return ShapeError("RmsNorm", "x and out must match and be a multiple of the weight size");
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchRmsNorm(Data(x), Data(weight), x.size() / group, group, eps, weight_offset, Data(out),
                                   context_->stream()));
    return Status::Ok();
  }

  Status UnscaledRmsNorm(const DeviceTensor& x, int64_t group, float eps, DeviceTensor& out) override {
    if (x.size() != out.size() || group <= 0 || x.size() % group != 0) {
      return ShapeError("UnscaledRmsNorm", "x and out must match and be a multiple of the group size");
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchRmsNorm(Data(x), /*weight=*/nullptr, x.size() / group, group, eps, 0.0f, Data(out),
                                   context_->stream()));
    return Status::Ok();
  }

  Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) override {
    const CudaLinear& lin = Cuda(w);
    if (x.cols() != lin.in_features() || y.cols() != lin.out_features() || x.rows() != y.rows()) {
      return ShapeError("Linear", lin.name() + ": x [" + std::to_string(x.rows()) + ", " + std::to_string(x.cols()) +
                                      "] does not fit W [" + std::to_string(lin.out_features()) + ", " +
                                      std::to_string(lin.in_features()) + "]");
    }
    std::string fallback;
    FP4LAB_RETURN_IF_ERROR(lin.Forward(Data(x), x.rows(), Data(y), *gemm_, workspace_, &fallback));
    if (!fallback.empty()) {
      ++native_fallback_calls_;
      last_native_fallback_ = fallback;
    }
    return Status::Ok();
  }

  Status Rope(DeviceTensor& x, int heads, int head_dim, const DeviceTensor& rope_table,
              const DeviceIndices& positions) override {
    if (x.cols() != int64_t{heads} * head_dim || x.rows() != positions.size() || rope_table.cols() != head_dim) {
      return ShapeError("Rope", "x must be [positions, heads * head_dim] and the table [P, head_dim]");
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchRope(Data(x), x.rows(), heads, head_dim, Data(rope_table), Data(positions),
                                context_->stream()));
    return Status::Ok();
  }

  Status RopeAndStoreKv(const DeviceTensor& qkv, int heads, int kv_heads, int head_dim,
                        const DeviceTensor& rope_table, const RowPlacement& rows, DeviceTensor& q,
                        DeviceTensor& k_cache, DeviceTensor& v_cache) override {
    if (!RopeAndStoreKvShapesAgree(qkv, heads, kv_heads, head_dim, rope_table, rows, q, k_cache, v_cache)) {
      return ShapeError("RopeAndStoreKv", "qkv [M, Q + 2 KV], q [M, Q] and the caches do not agree");
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchRopeAndStoreKv(Data(qkv), qkv.rows(), heads, kv_heads, head_dim, Data(rope_table),
                                          Data(*rows.positions), Data(*rows.cache_rows), Data(q), Data(k_cache),
                                          Data(v_cache), context_->stream()));
    return Status::Ok();
  }

  Status WriteKv(const DeviceTensor& k, const DeviceTensor& v, const RowPlacement& rows, DeviceTensor& k_cache,
                 DeviceTensor& v_cache) override {
    if (k.cols() != k_cache.cols() || v.cols() != v_cache.cols() || k.rows() != v.rows() ||
        rows.cache_rows->size() != k.rows() || k_cache.rows() != v_cache.rows()) {
      return ShapeError("WriteKv", "k/v do not fit the cache");
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    const int32_t* dst_rows = Data(*rows.cache_rows);
    CUDA_CHECK(cuda::LaunchScatterRows(Data(k), k.rows(), k.cols(), dst_rows, Data(k_cache), context_->stream()));
    CUDA_CHECK(cuda::LaunchScatterRows(Data(v), v.rows(), v.cols(), dst_rows, Data(v_cache), context_->stream()));
    return Status::Ok();
  }

  Status RoundKvRowsToFp8(const RowPlacement& rows, KvScales scales, DeviceTensor& k_cache,
                          DeviceTensor& v_cache) override {
    if (k_cache.rows() != v_cache.rows()) return ShapeError("RoundKvRowsToFp8", "k/v caches differ in rows");
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchRoundKvRowsToFp8(Data(*rows.cache_rows), rows.cache_rows->size(), Data(k_cache),
                                            k_cache.cols(), scales.k, Data(v_cache), v_cache.cols(), scales.v,
                                            context_->stream()));
    return Status::Ok();
  }

  Status Attention(const DeviceTensor& q, const DeviceTensor& k_cache, const DeviceTensor& v_cache,
                   const RowPlacement& rows, const AttentionParams& p, DeviceTensor& out) override {
    const int64_t q_dim = int64_t{p.num_heads} * p.head_dim, kv_dim = int64_t{p.num_kv_heads} * p.head_dim;
    if (p.num_kv_heads <= 0 || p.num_heads % p.num_kv_heads != 0 || q.cols() != q_dim || out.cols() != q_dim ||
        out.rows() != q.rows() || k_cache.cols() != kv_dim || v_cache.cols() != kv_dim ||
        rows.positions->size() != q.rows() || rows.cache_rows->size() != q.rows() ||
        k_cache.rows() != v_cache.rows() || p.head_dim < 1 || p.head_dim > cuda::kMaxAttentionHeadDim) {
      return ShapeError("Attention", "q/out/cache shapes do not agree");
    }
    if (!p.causal && !rows.one_sequence) return ShapeError("Attention", "non-causal rows must be one sequence");
    if (q.rows() == 0) return Status::Ok();
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    // The plan depends on shapes only (a query's keys are bounded by the cache's rows), so the first, unrecorded call
    // of a decode step grows the workspace to what its recorded replays carve.
    const cuda::AttentionShape shape{q.rows(), p.num_heads, p.num_kv_heads, p.head_dim, k_cache.rows(),
                                     rows.one_sequence};
    const cuda::AttentionPlan plan = cuda::PlanAttention(shape, sm_count_);
    FP4LAB_ASSIGN_OR_RETURN(std::vector<void*> scratch, workspace_.Carve({plan.scratch_bytes}, "Attention"));
    const int32_t* last_position = p.causal ? nullptr : Data(*rows.positions) + (q.rows() - 1);
    const cuda::ScoreRule rule{p.scale, p.window, p.softcap, last_position};
    CUDA_CHECK(cuda::LaunchAttention(shape, plan, Data(q), Data(k_cache), Data(v_cache), Data(*rows.positions),
                                     Data(*rows.cache_rows), rule, scratch[0], Data(out), context_->stream()));
    return Status::Ok();
  }

  Status GatedMul(Activation act, const DeviceTensor& gate, const DeviceTensor& up, DeviceTensor& out) override {
    if (gate.size() != up.size() || gate.size() != out.size()) return ShapeError("GatedMul", "size mismatch");
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchGatedMul(DeviceActivation(act), Data(gate), Data(up), Data(out), gate.size(),
                                    context_->stream()));
    return Status::Ok();
  }

  Status GatedMulHalves(Activation act, const DeviceTensor& gate_up, DeviceTensor& out) override {
    if (gate_up.cols() != 2 * out.cols() || gate_up.rows() != out.rows()) {
      return ShapeError("GatedMulHalves", "gate_up must be [M, 2F] for out [M, F]");
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchGatedMulHalves(DeviceActivation(act), Data(gate_up), out.rows(), out.cols(), Data(out),
                                          context_->stream()));
    return Status::Ok();
  }

  Status Scale(DeviceTensor& x, float factor) override {
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchScale(Data(x), factor, x.size(), context_->stream()));
    return Status::Ok();
  }

  Status SoftCap(DeviceTensor& x, float cap) override {
    if (!(cap > 0.0f)) return ShapeError("SoftCap", "cap must be positive");
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchSoftCap(Data(x), cap, x.size(), context_->stream()));
    return Status::Ok();
  }

  Status ScoreTokens(const DeviceTensor& logits, const DeviceIndices& rows, const DeviceIndices& targets,
                     DeviceTensor& out) override {
    if (targets.size() != rows.size() || out.rows() != rows.size() || out.cols() != 3) {
      return ShapeError("ScoreTokens", "rows [N], targets [N] and out [N, 3] must agree");
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchScoreTokens(Data(logits), logits.cols(), Data(rows), Data(targets), rows.size(),
                                       Data(out), context_->stream()));
    return Status::Ok();
  }

  Status ProcessCanvasRows(DeviceTensor& logits, float temperature, std::span<const double> uniforms,
                           std::span<CanvasRowOutcome> outcomes) override {
    if (const std::string error = CanvasRowsOperandError(logits, temperature, uniforms, outcomes); !error.empty()) {
      return ShapeError("ProcessCanvasRows", error);
    }
    const int64_t rows = logits.rows();
    if (rows == 0) return Status::Ok();
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    FP4LAB_ASSIGN_OR_RETURN(
        std::vector<void*> scratch,
        workspace_.Carve({rows * int64_t{sizeof(double)}, rows * int64_t{sizeof(cuda::CanvasRowResult)}},
                         "ProcessCanvasRows"));
    auto* device_uniforms = static_cast<double*>(scratch[0]);
    auto* device_results = static_cast<cuda::CanvasRowResult*>(scratch[1]);
    CUDA_CHECK(cudaMemcpyAsync(device_uniforms, uniforms.data(), uniforms.size_bytes(), cudaMemcpyHostToDevice,
                               context_->stream()));
    CUDA_CHECK(cuda::LaunchProcessCanvasRows(Data(logits), rows, logits.cols(), temperature, device_uniforms,
                                             device_results, context_->stream()));
    std::vector<cuda::CanvasRowResult> results(static_cast<size_t>(rows));
    CUDA_CHECK(cudaMemcpyAsync(results.data(), device_results, results.size() * sizeof(cuda::CanvasRowResult),
                               cudaMemcpyDeviceToHost, context_->stream()));
    CUDA_CHECK(cudaStreamSynchronize(context_->stream()));
    for (size_t r = 0; r < results.size(); ++r) {
      outcomes[r] = {.sampled = results[r].sampled, .argmax = results[r].argmax, .entropy = results[r].entropy};
    }
    return Status::Ok();
  }

  Status SelfConditioningSoftmax(const DeviceTensor& logits, bool round_to_bf16, DeviceTensor& probs) override {
    if (logits.rows() != probs.rows() || logits.cols() != probs.cols() || logits.cols() < 1) {
      return ShapeError("SelfConditioningSoftmax", "logits and probs must be the same [C, V], V >= 1");
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchSelfConditioningSoftmax(Data(logits), logits.rows(), logits.cols(), round_to_bf16,
                                                   Data(probs), context_->stream()));
    return Status::Ok();
  }

  Status AddInPlace(DeviceTensor& x, const DeviceTensor& y) override {
    if (x.size() != y.size()) return ShapeError("AddInPlace", "size mismatch");
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchAddInPlace(Data(x), Data(y), x.size(), context_->stream()));
    return Status::Ok();
  }

  Status AddRmsNorm(DeviceTensor& x, const DeviceTensor& delta, const DeviceTensor& weight, int64_t group, float eps,
                    float weight_offset, DeviceTensor& out) override {
    if (const std::string error = AddRmsNormOperandError(x, delta, weight, group, out); !error.empty()) {
      return ShapeError("AddRmsNorm", error);
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchAddRmsNorm(Data(x), Data(delta), Data(weight), x.size() / group, group, eps,
                                      weight_offset, Data(out), context_->stream()));
    return Status::Ok();
  }

  Result<std::unique_ptr<DeviceExperts>> PrepareExperts(std::span<const ExpertLinears> experts,
                                                        const std::string& name) override {
    FP4LAB_ASSIGN_OR_RETURN(auto prepared, cuda::CudaExperts::Prepare(context_, experts, name));
    return std::unique_ptr<DeviceExperts>(std::move(prepared));
  }

  Status RouteTopK(const DeviceTensor& logits, const RoutingParams& p, DeviceIndices& ids,
                   DeviceTensor& weights) override {
    if (p.top_k < 1 || p.top_k > logits.cols() || ids.size() != logits.rows() * p.top_k ||
        weights.rows() != logits.rows() || weights.cols() != p.top_k ||
        (p.expert_scale != nullptr && p.expert_scale->size() != logits.cols())) {
      return ShapeError("RouteTopK", "logits [M, E], ids [M * k], weights [M, k] and expert_scale [E] disagree");
    }
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cuda::LaunchRouteTopK(Data(logits), logits.rows(), logits.cols(), p.top_k, p.renormalize,
                                     p.expert_scale != nullptr ? Data(*p.expert_scale) : nullptr,
                                     static_cast<CudaIndices&>(ids).data(), Data(weights), context_->stream()));
    return Status::Ok();
  }

  Status Experts(const DeviceTensor& x, const DeviceExperts& experts, Activation act, const DeviceIndices& ids,
                 const DeviceTensor& weights, DeviceTensor& out, DeviceTensor* hidden) override {
    if (const std::string error = ExpertsOperandError(x, experts, ids, weights, out, hidden); !error.empty()) {
      return ShapeError("Experts", error);
    }
    const int64_t m = x.rows(), k = weights.cols();
    return static_cast<const cuda::CudaExperts&>(experts).Forward(
        Data(x), m, DeviceActivation(act), Data(ids), Data(weights), static_cast<int>(k), Data(out),
        hidden != nullptr ? Data(*hidden) : nullptr, workspace_);
  }

  Status Synchronize() override {
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cudaStreamSynchronize(context_->stream()));
    return Status::Ok();
  }

  Status BeginRecording() override {
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    // Thread-local mode: an op that would synchronize or allocate while recording fails instead of being lost.
    CUDA_CHECK(cudaStreamBeginCapture(context_->stream(), cudaStreamCaptureModeThreadLocal));
    return Status::Ok();
  }

  Result<std::unique_ptr<DeviceProgram>> EndRecording() override {
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    cudaGraph_t graph = nullptr;
    CUDA_CHECK(cudaStreamEndCapture(context_->stream(), &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
    (void)cudaGraphDestroy(graph);
    CUDA_CHECK(instantiated);
    return std::unique_ptr<DeviceProgram>(new CudaProgram(exec, workspace_.generation()));
  }

  bool IsCurrent(const DeviceProgram& program) const override {
    return static_cast<const CudaProgram&>(program).workspace_generation() == workspace_.generation();
  }

  Status Replay(const DeviceProgram& program) override {
    FP4LAB_RETURN_IF_ERROR(context_->Activate());
    CUDA_CHECK(cudaGraphLaunch(static_cast<const CudaProgram&>(program).exec(), context_->stream()));
    return Status::Ok();
  }

 private:
  std::shared_ptr<CudaContext> context_;
  std::unique_ptr<cuda::CublasLtGemm> gemm_;
  cuda::Workspace workspace_;
  Nvfp4PathDecision nvfp4_;
  nlohmann::json facts_;                         // fixed at creation
  int sm_count_;                                 // facts_["sm_count"], read once: attention plans use it per call
  bool w4a16_mma_gemm_;                          // facts_["w4a16_batched_kernel"] == "mma" (FP4LAB_W4A16_GEMM)
  std::vector<std::string> native_shape_refusals_;  // kNvfp4 layers emulated on a native device (shape)
  int64_t native_fallback_calls_ = 0;            // native GEMMs cuBLASLt refused at run time (ran emulated)
  std::string last_native_fallback_;
};

Result<int64_t> ParseByteCount(const char* text, const char* source) {
  const std::string s(text);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (error != std::errc() || end != s.data() + s.size() || value <= 0) {
    return Status::InvalidArgument(std::string(source) + ": expected a positive number of bytes, got '" + s + "'");
  }
  return value;
}

}  // namespace

Result<CudaBackendOptions> ParseCudaBackendOptions(const std::string& device) {
  CudaBackendOptions options;
  if (device != "cuda") {
    const std::string index = device.rfind("cuda:", 0) == 0 ? device.substr(5) : std::string();
    const auto [end, error] = std::from_chars(index.data(), index.data() + index.size(), options.device);
    if (index.empty() || error != std::errc() || end != index.data() + index.size() || options.device < 0) {
      return Status::InvalidArgument("unknown device '" + device + "' (expected cuda or cuda:N with N >= 0)");
    }
  }
  if (const char* path = std::getenv("FP4LAB_NVFP4_PATH")) {
    FP4LAB_ASSIGN_OR_RETURN(options.nvfp4_path, ParseNvfp4PathRequest(path, "FP4LAB_NVFP4_PATH"));
  }
  if (const char* limit = std::getenv("FP4LAB_CUDA_MEMORY_LIMIT")) {
    FP4LAB_ASSIGN_OR_RETURN(options.memory_limit_bytes, ParseByteCount(limit, "FP4LAB_CUDA_MEMORY_LIMIT"));
  }
  if (const char* gemm = std::getenv("FP4LAB_W4A16_GEMM")) {
    const std::string value(gemm);
    if (value != "dequant" && value != "mma") {
      return Status::InvalidArgument("FP4LAB_W4A16_GEMM: expected dequant or mma, got '" + value + "'");
    }
    options.w4a16_mma_gemm = value == "mma";
  }
  return options;
}

Result<std::unique_ptr<Backend>> CreateCudaBackend(const CudaBackendOptions& options) {
  std::string reason;
  const int count = CudaDeviceCount(&reason);
  if (options.device < 0 || options.device >= count) {
    return Status::InvalidArgument("device 'cuda:" + std::to_string(options.device) +
                                   "' does not exist; available devices: cpu" +
                                   (count > 0 ? ", " + DescribeCudaDevices() : " (no CUDA device: " + reason + ")"));
  }
  FP4LAB_ASSIGN_OR_RETURN(auto context, CudaContext::Create(options.device, options.memory_limit_bytes));
  FP4LAB_ASSIGN_OR_RETURN(auto gemm, cuda::CublasLtGemm::Create(context));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, options.device));
  int driver = 0, runtime = 0;
  CUDA_CHECK(cudaDriverGetVersion(&driver));
  CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  const Status probe =
      options.nvfp4_path == Nvfp4PathRequest::kEmulated ? Status::Ok() : gemm->ProbeNvfp4();
  Nvfp4PathDecision nvfp4 = DecideNvfp4Path(options.nvfp4_path, prop.major, prop.minor, probe);

  nlohmann::json paths = nlohmann::json::object();
  for (LinearScheme s : {LinearScheme::kBf16, LinearScheme::kNvfp4, LinearScheme::kNvfp4W4A16, LinearScheme::kFp8}) {
    paths[LinearSchemeName(s)] = PathName(nvfp4.native, s);
  }
  nlohmann::json facts = {
      {"name", prop.name},
      {"kind", "cuda"},
      {"device", context->label()},
      {"compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor)},
      {"sm_count", prop.multiProcessorCount},
      {"memory_bytes", static_cast<int64_t>(prop.totalGlobalMem)},
      {"driver_version", CudaVersionText(driver)},
      {"cuda_runtime_version", CudaVersionText(runtime)},
      {"cublaslt_version", CublasVersionText(cublasLtGetVersion())},
      {"linear_paths", paths},
      {"nvfp4_path", paths["nvfp4"]},
      {"nvfp4_path_reason", nvfp4.reason},
      {"numerics", "f32 activations; bf16 Linears at decode batch sizes take f32 x and exact bf16 W with f32 FMA "
                   "accumulation (GEMV), larger bf16 GEMMs round x to bf16 (cuBLASLt, f32 accumulation); W4A4 "
                   "emulation bit-identical quantizer, exact bf16 operands, f32 accumulation, alpha once per output"}};
  if (options.memory_limit_bytes > 0) facts["memory_limit_bytes"] = options.memory_limit_bytes;
  // nvfp4-w4a16 batches beyond the GEMV: "mma" (tensor-core GEMM, the default) or "dequant" (bf16 W + cuBLASLt);
  // FP4LAB_W4A16_GEMM.
  facts["w4a16_batched_kernel"] = options.w4a16_mma_gemm ? "mma" : "dequant";
  return std::unique_ptr<Backend>(new CudaBackend(context, std::move(gemm), std::move(nvfp4), std::move(facts)));
}

Result<std::unique_ptr<Backend>> CreateCudaBackend(const std::string& device) {
  FP4LAB_ASSIGN_OR_RETURN(CudaBackendOptions options, ParseCudaBackendOptions(device));
  return CreateCudaBackend(options);
}

}  // namespace fp4lab
