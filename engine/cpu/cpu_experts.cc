#include "engine/cpu/cpu_experts.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/cpu/cpu_activation.h"

namespace fp4lab {

namespace {

Status ExpertShapeError(const std::string& name, size_t e, const char* which, const LinearWeights& w, int64_t out,
                        int64_t in) {
  return Status::InvalidArgument(name + ": expert " + std::to_string(e) + " " + which + " (" + w.name + ") is [" +
                                 std::to_string(w.out_features) + ", " + std::to_string(w.in_features) +
                                 "], expected [" + std::to_string(out) + ", " + std::to_string(in) + "]");
}

}  // namespace

Result<std::unique_ptr<CpuExperts>> CpuExperts::Prepare(std::span<const ExpertLinears> experts,
                                                        const std::string& name) {
  if (experts.empty()) return Status::InvalidArgument(name + ": no experts");
  auto out = std::unique_ptr<CpuExperts>(new CpuExperts());
  out->name_ = name;
  out->i_ = experts[0].gate.out_features;
  out->h_ = experts[0].gate.in_features;
  for (size_t e = 0; e < experts.size(); ++e) {
    const ExpertLinears& x = experts[e];
    if (x.gate.out_features != out->i_ || x.gate.in_features != out->h_) {
      return ExpertShapeError(name, e, "gate", x.gate, out->i_, out->h_);
    }
    if (x.up.out_features != out->i_ || x.up.in_features != out->h_) {
      return ExpertShapeError(name, e, "up", x.up, out->i_, out->h_);
    }
    if (x.down.out_features != out->h_ || x.down.in_features != out->i_) {
      return ExpertShapeError(name, e, "down", x.down, out->h_, out->i_);
    }
    Expert expert;
    const LinearWeights parts[] = {x.gate, x.up};
    if (CheckFusable(parts).ok()) {
      FP4LAB_ASSIGN_OR_RETURN(expert.gate_up, CpuLinear::PrepareStacked(parts, name + "." + std::to_string(e)));
    } else {
      FP4LAB_ASSIGN_OR_RETURN(expert.gate, CpuLinear::Prepare(x.gate));
      FP4LAB_ASSIGN_OR_RETURN(expert.up, CpuLinear::Prepare(x.up));
    }
    FP4LAB_ASSIGN_OR_RETURN(expert.down, CpuLinear::Prepare(x.down));
    out->experts_.push_back(std::move(expert));
  }
  return out;
}

int64_t CpuExperts::DeviceBytes() const {
  int64_t total = 0;
  for (const Expert& e : experts_) {
    for (const CpuLinear* l : {e.gate_up.get(), e.gate.get(), e.up.get(), e.down.get()}) {
      if (l != nullptr) total += l->DeviceBytes();
    }
  }
  return total;
}

Status CpuExperts::Forward(const float* x, int64_t rows, Activation act, const int32_t* ids, const float* weights,
                           int k, float* out, float* hidden) const {
  const int64_t slots = rows * k;
  const int n_experts = num_experts();
  // The slots (m * k + j) routed to each expert, in row order.
  std::vector<std::vector<int64_t>> routed(static_cast<size_t>(n_experts));
  for (int64_t s = 0; s < slots; ++s) {
    const int32_t e = ids[s];
    if (e < 0 || e >= n_experts) {
      return Status::Internal(name_ + ": expert id " + std::to_string(e) + " outside [0, " +
                              std::to_string(n_experts) + ")");
    }
    for (int64_t t = s - s % k; t < s; ++t) {
      if (ids[t] == e) return Status::Internal(name_ + ": expert " + std::to_string(e) + " selected twice in a row");
    }
    routed[static_cast<size_t>(e)].push_back(s);
  }
  std::vector<float> y(static_cast<size_t>(slots * h_));  // down_e output of every slot
  std::vector<float> xs, gu, hs;
  for (int e = 0; e < n_experts; ++e) {
    const std::vector<int64_t>& mine = routed[static_cast<size_t>(e)];
    if (mine.empty()) continue;
    const int64_t n = static_cast<int64_t>(mine.size());
    xs.resize(static_cast<size_t>(n * h_));
    for (int64_t r = 0; r < n; ++r) std::memcpy(&xs[r * h_], x + (mine[r] / k) * h_, h_ * sizeof(float));
    const Expert& ex = experts_[static_cast<size_t>(e)];
    gu.resize(static_cast<size_t>(n * 2 * i_));
    hs.resize(static_cast<size_t>(n * i_));
    if (ex.gate_up) {
      FP4LAB_RETURN_IF_ERROR(ex.gate_up->Forward(xs.data(), n, gu.data()));
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t i = 0; i < i_; ++i) hs[r * i_ + i] = Activate(act, gu[r * 2 * i_ + i]) * gu[r * 2 * i_ + i_ + i];
      }
    } else {
      float* g = gu.data();
      float* u = gu.data() + n * i_;
      FP4LAB_RETURN_IF_ERROR(ex.gate->Forward(xs.data(), n, g));
      FP4LAB_RETURN_IF_ERROR(ex.up->Forward(xs.data(), n, u));
      for (int64_t j = 0; j < n * i_; ++j) hs[j] = Activate(act, g[j]) * u[j];
    }
    if (hidden != nullptr) {
      for (int64_t r = 0; r < n; ++r) std::memcpy(hidden + mine[r] * i_, &hs[r * i_], i_ * sizeof(float));
    }
    std::vector<float> ye(static_cast<size_t>(n * h_));
    FP4LAB_RETURN_IF_ERROR(ex.down->Forward(hs.data(), n, ye.data()));
    for (int64_t r = 0; r < n; ++r) std::memcpy(&y[mine[r] * h_], &ye[r * h_], h_ * sizeof(float));
  }
  std::vector<int> order(static_cast<size_t>(k));
  for (int64_t m = 0; m < rows; ++m) {
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return ids[m * k + a] < ids[m * k + b]; });
    float* o = out + m * h_;
    std::fill(o, o + h_, 0.0f);
    for (const int j : order) {
      const float w = weights[m * k + j];
      const float* yj = &y[(m * k + j) * h_];
      for (int64_t c = 0; c < h_; ++c) o[c] += w * yj[c];
    }
  }
  return Status::Ok();
}

Status CpuRouteTopK(const float* logits, int64_t rows, int64_t experts, int k, bool renormalize,
                    const float* expert_scale, int32_t* ids, float* weights) {
  if (k < 1 || k > experts) {
    return Status::Internal("RouteTopK: top_k " + std::to_string(k) + " outside [1, " + std::to_string(experts) +
                            "]");
  }
  std::vector<bool> taken(static_cast<size_t>(experts));
  for (int64_t m = 0; m < rows; ++m) {
    const float* l = logits + m * experts;
    int32_t* id = ids + m * k;
    float* w = weights + m * k;
    std::fill(taken.begin(), taken.end(), false);
    for (int j = 0; j < k; ++j) {
      int64_t best = -1;
      for (int64_t e = 0; e < experts; ++e) {
        if (!taken[e] && (best < 0 || l[e] > l[best])) best = e;
      }
      taken[best] = true;
      id[j] = static_cast<int32_t>(best);
    }
    const float max = l[id[0]];
    float sum = 0.0f;
    for (int64_t e = 0; e < experts; ++e) sum += std::exp(l[e] - max);
    for (int j = 0; j < k; ++j) w[j] = std::exp(l[id[j]] - max) / sum;
    if (renormalize) {
      float total = 0.0f;
      for (int j = 0; j < k; ++j) total += w[j];
      for (int j = 0; j < k; ++j) w[j] = w[j] / total;
    }
    if (expert_scale != nullptr) {
      for (int j = 0; j < k; ++j) w[j] = w[j] * expert_scale[id[j]];
    }
  }
  return Status::Ok();
}

}  // namespace fp4lab
