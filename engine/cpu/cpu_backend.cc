#include "engine/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "engine/cpu/cpu_linear.h"

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

CpuTensor& Cpu(DeviceTensor& t) { return static_cast<CpuTensor&>(t); }
const CpuTensor& Cpu(const DeviceTensor& t) { return static_cast<const CpuTensor&>(t); }
const CpuLinear& Cpu(const DeviceLinear& l) { return static_cast<const CpuLinear&>(l); }

Status ShapeError(const char* op, const std::string& what) {
  return Status::Internal(std::string("cpu backend: ") + op + ": " + what);
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

  Status Embed(const DeviceLinear& table, std::span<const int32_t> tokens, DeviceTensor& out) override {
    const CpuLinear& t = Cpu(table);
    if (out.rows() != static_cast<int64_t>(tokens.size()) || out.cols() != t.in_features()) {
      return ShapeError("Embed", "output must be [tokens, hidden]");
    }
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
    if (x.size() != out.size() || weight.size() != group || x.size() % group != 0) {
      return ShapeError("RmsNorm", "x and out must match and be a multiple of the weight size");
    }
    const float* w = Cpu(weight).data();
    const float* in = Cpu(x).data();
    float* o = Cpu(out).data();
    for (int64_t g = 0; g < x.size() / group; ++g) {
      const float* xr = in + g * group;
      float* orow = o + g * group;
      float sum_sq = 0.0f;
      for (int64_t i = 0; i < group; ++i) sum_sq += xr[i] * xr[i];
      const float inv = 1.0f / std::sqrt(sum_sq / static_cast<float>(group) + eps);
      for (int64_t i = 0; i < group; ++i) orow[i] = (xr[i] * inv) * (weight_offset + w[i]);
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

  Status Rope(DeviceTensor& x, int heads, int head_dim, std::span<const int32_t> positions,
              std::span<const float> inv_freq) override {
    if (x.cols() != int64_t{heads} * head_dim || x.rows() != static_cast<int64_t>(positions.size()) ||
        static_cast<int>(inv_freq.size()) != head_dim / 2) {
      return ShapeError("Rope", "x must be [positions, heads * head_dim]");
    }
    const int half = head_dim / 2;
    for (int64_t r = 0; r < x.rows(); ++r) {
      for (int i = 0; i < half; ++i) {
        // HF computes the angle in f32 (position * inv_freq) then cos/sin of it.
        const float angle = static_cast<float>(positions[r]) * inv_freq[i];
        const float c = std::cos(angle), s = std::sin(angle);
        for (int h = 0; h < heads; ++h) {
          float* v = Cpu(x).data() + r * x.cols() + int64_t{h} * head_dim;
          const float a = v[i], b = v[i + half];
          v[i] = a * c - b * s;
          v[i + half] = b * c + a * s;
        }
      }
    }
    return Status::Ok();
  }

  Status WriteKv(const DeviceTensor& k, const DeviceTensor& v, int64_t pos0, DeviceTensor& k_cache,
                 DeviceTensor& v_cache) override {
    if (k.cols() != k_cache.cols() || v.cols() != v_cache.cols() || pos0 + k.rows() > k_cache.rows() ||
        k.rows() != v.rows()) {
      return ShapeError("WriteKv", "k/v do not fit the cache");
    }
    std::memcpy(Cpu(k_cache).data() + pos0 * k.cols(), Cpu(k).data(), k.size() * sizeof(float));
    std::memcpy(Cpu(v_cache).data() + pos0 * v.cols(), Cpu(v).data(), v.size() * sizeof(float));
    return Status::Ok();
  }

  Status Attention(const DeviceTensor& q, const DeviceTensor& k_cache, const DeviceTensor& v_cache, int64_t pos0,
                   const AttentionParams& p, DeviceTensor& out) override {
    const int64_t q_dim = int64_t{p.num_heads} * p.head_dim, kv_dim = int64_t{p.num_kv_heads} * p.head_dim;
    if (q.cols() != q_dim || out.cols() != q_dim || out.rows() != q.rows() || k_cache.cols() != kv_dim ||
        pos0 + q.rows() > k_cache.rows()) {
      return ShapeError("Attention", "q/out/cache shapes do not agree");
    }
    const int group = p.num_heads / p.num_kv_heads;
    std::vector<float> scores(pos0 + q.rows());
    for (int64_t i = 0; i < q.rows(); ++i) {
      const int64_t n_keys = pos0 + i + 1;  // causal: keys 0 .. pos0 + i
      for (int h = 0; h < p.num_heads; ++h) {
        const float* qv = Cpu(q).data() + i * q_dim + int64_t{h} * p.head_dim;
        const int64_t kv_off = int64_t{h / group} * p.head_dim;
        float max_score = -std::numeric_limits<float>::infinity();
        for (int64_t t = 0; t < n_keys; ++t) {
          const float* kv = Cpu(k_cache).data() + t * kv_dim + kv_off;
          float dot = 0.0f;
          for (int d = 0; d < p.head_dim; ++d) dot += qv[d] * kv[d];
          scores[t] = dot * p.scale;
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
          const float* vv = Cpu(v_cache).data() + t * kv_dim + kv_off;
          for (int d = 0; d < p.head_dim; ++d) o[d] += weight * vv[d];
        }
      }
    }
    return Status::Ok();
  }

  Status SiluMul(const DeviceTensor& gate, const DeviceTensor& up, DeviceTensor& out) override {
    if (gate.size() != up.size() || gate.size() != out.size()) return ShapeError("SiluMul", "size mismatch");
    const float* g = Cpu(gate).data();
    const float* u = Cpu(up).data();
    float* o = Cpu(out).data();
    for (int64_t i = 0; i < gate.size(); ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    return Status::Ok();
  }

  Status AddInPlace(DeviceTensor& x, const DeviceTensor& y) override {
    if (x.size() != y.size()) return ShapeError("AddInPlace", "size mismatch");
    float* a = Cpu(x).data();
    const float* b = Cpu(y).data();
    for (int64_t i = 0; i < x.size(); ++i) a[i] += b[i];
    return Status::Ok();
  }

  Status Synchronize() override { return Status::Ok(); }
};

}  // namespace

std::unique_ptr<Backend> CreateCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace fp4lab
