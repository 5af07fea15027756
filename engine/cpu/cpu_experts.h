// The mixture-of-experts ops of the CPU reference backend (Backend::PrepareExperts, RouteTopK, Experts), in the
// exact operation order every other backend is bounded against.
//
// RouteTopK, per row m of logits [M, E] (f32 throughout):
//   1. ids: the k largest logits by repeated arg-max over the experts not yet taken, scanning e = 0 .. E-1 and
//      keeping the first maximum, so among equal logits the lower id ranks first; ids[m * k + j] is rank j.
//      (Selecting by logit equals selecting by softmax probability, which is monotone in it; it does not depend on
//      how a backend rounds exp.)
//   2. p_j = exp(l_j - max) / S with max = the largest logit and S = sum over e = 0 .. E-1 of exp(l_e - max),
//      added left to right.
//   3. renormalize: w_j = p_j / T with T = p_0 + p_1 + ... + p_{k-1}, added in rank order; else w_j = p_j.
//   4. expert_scale: w_j = w_j * expert_scale[ids_j].
// Experts, per row m:
//   for each slot j: e = ids[m * k + j]; g = gate_e(x_m), u = up_e(x_m) (CpuLinear numerics of e's scheme, W4A4
//   quantizing x_m with e's gate/up input_scale); h_j = act(g) * u elementwise; y_j = down_e(h_j) (W4A4 quantizing
//   h_j with e's down input_scale).
//   out_m = (...((0 + w_a * y_a) + w_b * y_b) + ...) over the slots in ascending expert id a < b < ..., each
//   product rounded to f32 before the add: transformers' order (index_add_ of expert_output * weight over the
//   experts in id order), and one that a backend can reproduce exactly from per-slot y_j.
// Gate and up of one expert run as one stacked Linear when they can be fused (CheckFusable); the results are the
// same bits either way (each output is the same dot product).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/cpu_linear.h"

namespace fp4lab {

class CpuExperts : public DeviceExperts {
 public:
  // InvalidArgument naming the expert when shapes disagree; the CpuLinear errors otherwise.
  static Result<std::unique_ptr<CpuExperts>> Prepare(std::span<const ExpertLinears> experts, const std::string& name);

  const std::string& name() const override { return name_; }
  int num_experts() const override { return static_cast<int>(experts_.size()); }
  int64_t hidden_size() const override { return h_; }
  int64_t intermediate_size() const override { return i_; }
  int64_t DeviceBytes() const override;

  // Backend::Experts on host arrays: x [rows, H], ids [rows * k], weights [rows, k], out [rows, H], hidden
  // [rows * k, I] or null. Internal when an id is out of range or repeated within a row.
  Status Forward(const float* x, int64_t rows, Activation act, const int32_t* ids, const float* weights, int k,
                 float* out, float* hidden) const;

 private:
  struct Expert {
    std::unique_ptr<CpuLinear> gate_up;    // [2I, H] stacked, or null
    std::unique_ptr<CpuLinear> gate, up;   // [I, H] each when not stacked
    std::unique_ptr<CpuLinear> down;       // [H, I]
  };
  CpuExperts() = default;

  std::string name_;
  int64_t h_ = 0, i_ = 0;
  std::vector<Expert> experts_;
};

// Backend::RouteTopK on host arrays: logits [rows, experts] -> ids [rows * k], weights [rows, k]. expert_scale is
// [experts] or null. Internal when k is not in [1, experts].
Status CpuRouteTopK(const float* logits, int64_t rows, int64_t experts, int k, bool renormalize,
                    const float* expert_scale, int32_t* ids, float* weights);

}  // namespace fp4lab
