#include "engine/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "engine/cpu/cpu_activation.h"
#include "engine/cpu/cpu_experts.h"
#include "engine/cpu/cpu_linear.h"
#include "engine/token_scores.h"

namespace fp4lab {

namespace {

class CpuTensor : public DeviceTensor {
 public:
  CpuTensor(int64_t rows, int64_t cols) : DeviceTensor(rows, cols), data_(rows * cols, 0.0f) {}
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }

 private:
  std::vector<float> data_;
};

class CpuIndices : public DeviceIndices {
 public:
  explicit CpuIndices(int64_t size) : DeviceIndices(size), data_(size, 0) {}
  int32_t* data() { return data_.data(); }
  const int32_t* data() const { return data_.data(); }

 private:
  std::vector<int32_t> data_;
};

const char kNoRecording[] = "the cpu backend runs ops directly and cannot record them";

CpuTensor& Cpu(DeviceTensor& t) { return static_cast<CpuTensor&>(t); }
const CpuTensor& Cpu(const DeviceTensor& t) { return static_cast<const CpuTensor&>(t); }
const CpuLinear& Cpu(const DeviceLinear& l) { return static_cast<const CpuLinear&>(l); }
const int32_t* Cpu(const DeviceIndices& i) { return static_cast<const CpuIndices&>(i).data(); }

Status ShapeError(const char* op, const std::string& what) {
  return Status::Internal(std::string("cpu backend: ") + op + ": " + what);
}

// Rotate-half RoPE in place on one row of `heads` heads at position `pos` (HF layout), from the cos/sin table.
Status RotateRow(float* row, int heads, int head_dim, const DeviceTensor& rope_table, int32_t pos) {
  if (pos < 0 || pos >= rope_table.rows()) return ShapeError("Rope", "position outside the table");
  const int half = head_dim / 2;
  const float* cos_sin = Cpu(rope_table).data() + int64_t{pos} * head_dim;
  for (int i = 0; i < half; ++i) {
    const float c = cos_sin[i], s = cos_sin[half + i];
    for (int h = 0; h < heads; ++h) {
      float* v = row + int64_t{h} * head_dim;
      const float a = v[i], b = v[i + half];
      v[i] = a * c - b * s;
      v[i + half] = b * c + a * s;
    }
  }
  return Status::Ok();
}

// RMSNorm of one group of `group` values (Backend::RmsNorm): orow[i] = (xr[i] * inv) * (weight_offset + w[i]) with
// inv = 1 / sqrt(sum(xr^2) / group + eps), the sum left to right; w == nullptr: orow[i] = xr[i] * inv
// (Backend::UnscaledRmsNorm). `orow` may alias `xr`.
void NormalizeGroup(const float* xr, const float* w, int64_t group, float eps, float weight_offset, float* orow) {
  float sum_sq = 0.0f;
  for (int64_t i = 0; i < group; ++i) sum_sq += xr[i] * xr[i];
  const float inv = 1.0f / std::sqrt(sum_sq / static_cast<float>(group) + eps);
  if (w == nullptr) {
    for (int64_t i = 0; i < group; ++i) orow[i] = xr[i] * inv;
    return;
  }
  for (int64_t i = 0; i < group; ++i) orow[i] = (xr[i] * inv) * (weight_offset + w[i]);
}

class CpuBackend : public Backend {
 public:
  std::string Name() const override { return "cpu"; }

  nlohmann::json Facts() const override {
    return {{"name", "CPU"},
            {"kind", "cpu"},
            {"threads", std::max(1u, std::thread::hardware_concurrency())},
            {"numerics", "reference: f32 activations, f32 accumulation"}};
  }

  // The CPU emulates every low-precision scheme with the reference numerics (there is no native FP4 here).
  FusedOps Fuses() const override { return {.stacked_linears = true, .add_rms_norm = true}; }
  Result<std::string> LinearPath(LinearScheme scheme) const override {
    switch (scheme) {
      case LinearScheme::kBf16: return std::string("reference");
      case LinearScheme::kNvfp4W4A16: return std::string("weight-only");
      case LinearScheme::kNvfp4:
      case LinearScheme::kFp8: return std::string("emulated");
    }
    return std::string("reference");
  }

  Result<std::unique_ptr<DeviceTensor>> Allocate(int64_t rows, int64_t cols) override {
    return std::unique_ptr<DeviceTensor>(new CpuTensor(rows, cols));
  }

  Status Upload(std::span<const float> host, DeviceTensor& dst) override {
    if (static_cast<int64_t>(host.size()) != dst.size()) return ShapeError("Upload", "size mismatch");
    std::memcpy(Cpu(dst).data(), host.data(), host.size() * sizeof(float));
    return Status::Ok();
  }

  Status Download(const DeviceTensor& src, std::span<float> host) override {
    if (static_cast<int64_t>(host.size()) != src.size()) return ShapeError("Download", "size mismatch");
    std::memcpy(host.data(), Cpu(src).data(), host.size() * sizeof(float));
    return Status::Ok();
  }

  Result<std::unique_ptr<DeviceLinear>> PrepareLinear(const LinearWeights& weights) override {
    FP4LAB_ASSIGN_OR_RETURN(auto linear, CpuLinear::Prepare(weights));
    return std::unique_ptr<DeviceLinear>(std::move(linear));
  }

  Result<std::unique_ptr<DeviceLinear>> PrepareFusedLinear(std::span<const LinearWeights> parts,
                                                           const std::string& name) override {
    FP4LAB_ASSIGN_OR_RETURN(auto linear, CpuLinear::PrepareStacked(parts, name));
    return std::unique_ptr<DeviceLinear>(std::move(linear));
  }

  Result<std::unique_ptr<DeviceIndices>> AllocateIndices(int64_t size) override {
    return std::unique_ptr<DeviceIndices>(new CpuIndices(size));
  }

  Status UploadIndices(std::span<const int32_t> host, DeviceIndices& dst) override {
    if (static_cast<int64_t>(host.size()) != dst.size()) return ShapeError("UploadIndices", "size mismatch");
    std::copy(host.begin(), host.end(), static_cast<CpuIndices&>(dst).data());
    return Status::Ok();
  }

  Status Embed(const DeviceLinear& table, const DeviceIndices& token_ids, DeviceTensor& out) override {
    const CpuLinear& t = Cpu(table);
    if (out.rows() != token_ids.size() || out.cols() != t.in_features()) {
      return ShapeError("Embed", "output must be [tokens, hidden]");
    }
    const std::span<const int32_t> tokens(Cpu(token_ids), static_cast<size_t>(token_ids.size()));
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] >= t.out_features()) {
        return Status::InvalidArgument("token id " + std::to_string(tokens[i]) + " is outside the vocabulary [0, " +
                                       std::to_string(t.out_features()) + ")");
      }
      t.DequantizedRow(tokens[i], Cpu(out).data() + i * out.cols());
    }
    return Status::Ok();
  }

  Status RmsNorm(const DeviceTensor& x, const DeviceTensor& weight, int64_t group, float eps, float weight_offset,
                 DeviceTensor& out) override {
    if (x.size() != out.size() || weight.size() != group || group <= 0 || x.size() % group != 0) {
      return ShapeError("RmsNorm", "x and out must match and be a multiple of the weight size");
    }
    for (int64_t g = 0; g < x.size() / group; ++g) {
      NormalizeGroup(Cpu(x).data() + g * group, Cpu(weight).data(), group, eps, weight_offset,
                     Cpu(out).data() + g * group);
    }
    return Status::Ok();
  }

  Status UnscaledRmsNorm(const DeviceTensor& x, int64_t group, float eps, DeviceTensor& out) override {
    if (x.size() != out.size() || group <= 0 || x.size() % group != 0) {
      return ShapeError("UnscaledRmsNorm", "x and out must match and be a multiple of the group size");
    }
    for (int64_t g = 0; g < x.size() / group; ++g) {
      NormalizeGroup(Cpu(x).data() + g * group, nullptr, group, eps, 0.0f, Cpu(out).data() + g * group);
    }
    return Status::Ok();
  }

  Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) override {
    const CpuLinear& lin = Cpu(w);
    if (x.cols() != lin.in_features() || y.cols() != lin.out_features() || x.rows() != y.rows()) {
      return ShapeError("Linear", lin.name() + ": x [" + std::to_string(x.rows()) + ", " + std::to_string(x.cols()) +
                                      "] does not fit W [" + std::to_string(lin.out_features()) + ", " +
                                      std::to_string(lin.in_features()) + "]");
    }
    return lin.Forward(Cpu(x).data(), x.rows(), Cpu(y).data());
  }

  Status Rope(DeviceTensor& x, int heads, int head_dim, const DeviceTensor& rope_table,
              const DeviceIndices& positions) override {
    if (x.cols() != int64_t{heads} * head_dim || x.rows() != positions.size() || rope_table.cols() != head_dim) {
      return ShapeError("Rope", "x must be [positions, heads * head_dim] and the table [P, head_dim]");
    }
    for (int64_t r = 0; r < x.rows(); ++r) {
      FP4LAB_RETURN_IF_ERROR(RotateRow(Cpu(x).data() + r * x.cols(), heads, head_dim, rope_table,
                                       Cpu(positions)[r]));
    }
    return Status::Ok();
  }

  Status RopeAndStoreKv(const DeviceTensor& qkv, int heads, int kv_heads, int head_dim,
                        const DeviceTensor& rope_table, const RowPlacement& rows, DeviceTensor& q,
                        DeviceTensor& k_cache, DeviceTensor& v_cache) override {
    if (!RopeAndStoreKvShapesAgree(qkv, heads, kv_heads, head_dim, rope_table, rows, q, k_cache, v_cache)) {
      return ShapeError("RopeAndStoreKv", "qkv [M, Q + 2 KV], q [M, Q] and the caches do not agree");
    }
    const int64_t q_dim = int64_t{heads} * head_dim, kv_dim = int64_t{kv_heads} * head_dim;
    for (int64_t r = 0; r < qkv.rows(); ++r) {
      const float* src = Cpu(qkv).data() + r * qkv.cols();
      const int64_t row = Cpu(*rows.cache_rows)[r];
      if (row < 0 || row >= k_cache.rows()) return ShapeError("RopeAndStoreKv", "cache row out of range");
      float* q_row = Cpu(q).data() + r * q_dim;
      float* k_row = Cpu(k_cache).data() + row * kv_dim;
      std::memcpy(q_row, src, q_dim * sizeof(float));
      std::memcpy(k_row, src + q_dim, kv_dim * sizeof(float));
      std::memcpy(Cpu(v_cache).data() + row * kv_dim, src + q_dim + kv_dim, kv_dim * sizeof(float));
      const int32_t pos = Cpu(*rows.positions)[r];
      FP4LAB_RETURN_IF_ERROR(RotateRow(q_row, heads, head_dim, rope_table, pos));
      FP4LAB_RETURN_IF_ERROR(RotateRow(k_row, kv_heads, head_dim, rope_table, pos));
    }
    return Status::Ok();
  }

  Status WriteKv(const DeviceTensor& k, const DeviceTensor& v, const RowPlacement& rows, DeviceTensor& k_cache,
                 DeviceTensor& v_cache) override {
    if (k.cols() != k_cache.cols() || v.cols() != v_cache.cols() || k.rows() != v.rows() ||
        rows.cache_rows->size() != k.rows() || k_cache.rows() != v_cache.rows()) {
      return ShapeError("WriteKv", "k/v do not fit the cache");
    }
    for (int64_t i = 0; i < k.rows(); ++i) {
      const int64_t row = Cpu(*rows.cache_rows)[i];
      if (row < 0 || row >= k_cache.rows()) return ShapeError("WriteKv", "cache row out of range");
      std::memcpy(Cpu(k_cache).data() + row * k.cols(), Cpu(k).data() + i * k.cols(), k.cols() * sizeof(float));
      std::memcpy(Cpu(v_cache).data() + row * v.cols(), Cpu(v).data() + i * v.cols(), v.cols() * sizeof(float));
    }
    return Status::Ok();
  }

  Status RoundKvRowsToFp8(const RowPlacement& rows, KvScales scales, DeviceTensor& k_cache,
                          DeviceTensor& v_cache) override {
    if (k_cache.rows() != v_cache.rows()) return ShapeError("RoundKvRowsToFp8", "k/v caches differ in rows");
    for (int64_t i = 0; i < rows.cache_rows->size(); ++i) {
      const int64_t row = Cpu(*rows.cache_rows)[i];
      if (row < 0 || row >= k_cache.rows()) return ShapeError("RoundKvRowsToFp8", "cache row out of range");
      for (float& x : std::span(Cpu(k_cache).data() + row * k_cache.cols(), k_cache.cols())) {
        x = Fp8KvRoundTrip(x, scales.k);
      }
      for (float& x : std::span(Cpu(v_cache).data() + row * v_cache.cols(), v_cache.cols())) {
        x = Fp8KvRoundTrip(x, scales.v);
      }
    }
    return Status::Ok();
  }

  Status Attention(const DeviceTensor& q, const DeviceTensor& k_cache, const DeviceTensor& v_cache,
                   const RowPlacement& rows, const AttentionParams& p, DeviceTensor& out) override {
    const int64_t q_dim = int64_t{p.num_heads} * p.head_dim, kv_dim = int64_t{p.num_kv_heads} * p.head_dim;
    if (q.cols() != q_dim || out.cols() != q_dim || out.rows() != q.rows() || k_cache.cols() != kv_dim ||
        v_cache.cols() != kv_dim || rows.positions->size() != q.rows() || rows.cache_rows->size() != q.rows()) {
      return ShapeError("Attention", "q/out/cache shapes do not agree");
    }
    if (!p.causal && !rows.one_sequence) return ShapeError("Attention", "non-causal rows must be one sequence");
    const int group = p.num_heads / p.num_kv_heads;
    const int64_t last_position = q.rows() > 0 ? Cpu(*rows.positions)[q.rows() - 1] : 0;
    std::vector<float> scores;
    for (int64_t i = 0; i < q.rows(); ++i) {
      // Its sequence up to itself, or only the last `window` positions of it; non-causal: and the later rows.
      const int64_t position = Cpu(*rows.positions)[i];
      const int64_t behind = p.window > 0 ? std::min<int64_t>(position + 1, p.window) : position + 1;
      const int64_t ahead = p.causal ? 0 : last_position - position;
      const int64_t n_keys = behind + ahead;
      const int64_t first = int64_t{Cpu(*rows.cache_rows)[i]} - behind + 1;
      if (first < 0 || first + n_keys > k_cache.rows()) return ShapeError("Attention", "cache rows out of range");
      scores.resize(static_cast<size_t>(n_keys));
      for (int h = 0; h < p.num_heads; ++h) {
        const float* qv = Cpu(q).data() + i * q_dim + int64_t{h} * p.head_dim;
        const int64_t kv_off = int64_t{h / group} * p.head_dim;
        float max_score = -std::numeric_limits<float>::infinity();
        for (int64_t t = 0; t < n_keys; ++t) {
          const float* kv = Cpu(k_cache).data() + (first + t) * kv_dim + kv_off;
          float dot = 0.0f;
          for (int d = 0; d < p.head_dim; ++d) dot += qv[d] * kv[d];
          scores[t] = p.softcap > 0.0f ? p.softcap * std::tanh(dot * p.scale / p.softcap) : dot * p.scale;
          max_score = std::max(max_score, scores[t]);
        }
        float denom = 0.0f;
        for (int64_t t = 0; t < n_keys; ++t) {
          scores[t] = std::exp(scores[t] - max_score);
          denom += scores[t];
        }
        float* o = Cpu(out).data() + i * q_dim + int64_t{h} * p.head_dim;
        std::fill(o, o + p.head_dim, 0.0f);
        for (int64_t t = 0; t < n_keys; ++t) {
          const float weight = scores[t] / denom;
          const float* vv = Cpu(v_cache).data() + (first + t) * kv_dim + kv_off;
          for (int d = 0; d < p.head_dim; ++d) o[d] += weight * vv[d];
        }
      }
    }
    return Status::Ok();
  }

  Status GatedMul(Activation act, const DeviceTensor& gate, const DeviceTensor& up, DeviceTensor& out) override {
    if (gate.size() != up.size() || gate.size() != out.size()) return ShapeError("GatedMul", "size mismatch");
    const float* g = Cpu(gate).data();
    const float* u = Cpu(up).data();
    float* o = Cpu(out).data();
    for (int64_t i = 0; i < gate.size(); ++i) o[i] = Activate(act, g[i]) * u[i];
    return Status::Ok();
  }

  Status GatedMulHalves(Activation act, const DeviceTensor& gate_up, DeviceTensor& out) override {
    const int64_t f = out.cols();
    if (gate_up.cols() != 2 * f || gate_up.rows() != out.rows()) {
      return ShapeError("GatedMulHalves", "gate_up must be [M, 2F] for out [M, F]");
    }
    for (int64_t r = 0; r < out.rows(); ++r) {
      const float* g = Cpu(gate_up).data() + r * 2 * f;
      const float* u = g + f;
      float* o = Cpu(out).data() + r * f;
      for (int64_t i = 0; i < f; ++i) o[i] = Activate(act, g[i]) * u[i];
    }
    return Status::Ok();
  }

  Status Scale(DeviceTensor& x, float factor) override {
    float* a = Cpu(x).data();
    for (int64_t i = 0; i < x.size(); ++i) a[i] *= factor;
    return Status::Ok();
  }

  Status SoftCap(DeviceTensor& x, float cap) override {
    if (!(cap > 0.0f)) return ShapeError("SoftCap", "cap must be positive");
    float* a = Cpu(x).data();
    for (int64_t i = 0; i < x.size(); ++i) a[i] = cap * std::tanh(a[i] / cap);
    return Status::Ok();
  }

  Status ScoreTokens(const DeviceTensor& logits, const DeviceIndices& rows, const DeviceIndices& targets,
                     DeviceTensor& out) override {
    const int64_t vocab = logits.cols();
    if (targets.size() != rows.size() || out.rows() != rows.size() || out.cols() != 3) {
      return ShapeError("ScoreTokens", "rows [N], targets [N] and out [N, 3] must agree");
    }
    for (int64_t i = 0; i < rows.size(); ++i) {
      const int32_t r = Cpu(rows)[i], target = Cpu(targets)[i];
      if (r < 0 || r >= logits.rows() || target < 0 || target >= vocab) {
        return ShapeError("ScoreTokens", "row or target outside the logits");
      }
      const std::span<const float> row(Cpu(logits).data() + int64_t{r} * vocab, static_cast<size_t>(vocab));
      const double logprob = TokenLogProb(row, target);
      std::memcpy(Cpu(out).data() + 3 * i, &logprob, sizeof(double));
      Cpu(out).data()[3 * i + 2] = ArgMax(row) == target ? 1.0f : 0.0f;
    }
    return Status::Ok();
  }

  Status AddInPlace(DeviceTensor& x, const DeviceTensor& y) override {
    if (x.size() != y.size()) return ShapeError("AddInPlace", "size mismatch");
    float* a = Cpu(x).data();
    const float* b = Cpu(y).data();
    for (int64_t i = 0; i < x.size(); ++i) a[i] += b[i];
    return Status::Ok();
  }

  // Per group: the add of AddInPlace, then NormalizeGroup as RmsNorm runs it (the same operations in the same order,
  // so bit-identical to the two ops). With out == delta, group g of delta is read before group g of out is written.
  Status AddRmsNorm(DeviceTensor& x, const DeviceTensor& delta, const DeviceTensor& weight, int64_t group, float eps,
                    float weight_offset, DeviceTensor& out) override {
    if (const std::string error = AddRmsNormOperandError(x, delta, weight, group, out); !error.empty()) {
      return ShapeError("AddRmsNorm", error);
    }
    for (int64_t g = 0; g < x.size() / group; ++g) {
      float* xr = Cpu(x).data() + g * group;
      const float* dr = Cpu(delta).data() + g * group;
      for (int64_t i = 0; i < group; ++i) xr[i] += dr[i];
      NormalizeGroup(xr, Cpu(weight).data(), group, eps, weight_offset, Cpu(out).data() + g * group);
    }
    return Status::Ok();
  }

  Result<std::unique_ptr<DeviceExperts>> PrepareExperts(std::span<const ExpertLinears> experts,
                                                        const std::string& name) override {
    FP4LAB_ASSIGN_OR_RETURN(auto prepared, CpuExperts::Prepare(experts, name));
    return std::unique_ptr<DeviceExperts>(std::move(prepared));
  }

  Status RouteTopK(const DeviceTensor& logits, const RoutingParams& p, DeviceIndices& ids,
                   DeviceTensor& weights) override {
    if (ids.size() != logits.rows() * p.top_k || weights.rows() != logits.rows() || weights.cols() != p.top_k ||
        (p.expert_scale != nullptr && p.expert_scale->size() != logits.cols())) {
      return ShapeError("RouteTopK", "logits [M, E], ids [M * k], weights [M, k] and expert_scale [E] disagree");
    }
    return CpuRouteTopK(Cpu(logits).data(), logits.rows(), logits.cols(), p.top_k, p.renormalize,
                        p.expert_scale != nullptr ? Cpu(*p.expert_scale).data() : nullptr,
                        static_cast<CpuIndices&>(ids).data(), Cpu(weights).data());
  }

  Status Experts(const DeviceTensor& x, const DeviceExperts& experts, Activation act, const DeviceIndices& ids,
                 const DeviceTensor& weights, DeviceTensor& out, DeviceTensor* hidden) override {
    if (const std::string error = ExpertsOperandError(x, experts, ids, weights, out, hidden); !error.empty()) {
      return ShapeError("Experts", error);
    }
    const int64_t m = x.rows(), k = weights.cols();
    return static_cast<const CpuExperts&>(experts).Forward(Cpu(x).data(), m, act, Cpu(ids), Cpu(weights).data(),
                                                           static_cast<int>(k), Cpu(out).data(),
                                                           hidden != nullptr ? Cpu(*hidden).data() : nullptr);
  }

  Status Synchronize() override { return Status::Ok(); }

  Status BeginRecording() override { return Status::Unimplemented(kNoRecording); }
  Result<std::unique_ptr<DeviceProgram>> EndRecording() override { return Status::Unimplemented(kNoRecording); }
  bool IsCurrent(const DeviceProgram&) const override { return false; }
  Status Replay(const DeviceProgram&) override { return Status::Unimplemented(kNoRecording); }
};

}  // namespace

std::unique_ptr<Backend> CreateCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace fp4lab
