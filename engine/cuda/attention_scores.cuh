// Device side of ScoreRule (attention_kernel.h), shared by the prefill and decode attention kernels.
#pragma once

#include <cstdint>

#include "engine/cuda/attention_kernel.h"

namespace fp4lab::cuda {

// Keys a query at `position` attends to: its sequence up to itself, or the last rule.window positions of it.
__device__ __forceinline__ int64_t AttendedKeys(const ScoreRule& rule, int64_t position) {
  const int64_t n = position + 1;
  return rule.window > 0 && n > rule.window ? rule.window : n;
}

// Keys after a query at `position` that it attends to: none when causal, else up to the pass's last position.
__device__ __forceinline__ int64_t KeysAhead(const ScoreRule& rule, int64_t position) {
  return rule.last_position != nullptr ? static_cast<int64_t>(*rule.last_position) - position : 0;
}

// The score of a dot product q.k: scaled, then soft-capped when the rule says so (tanhf: 2 ulp).
__device__ __forceinline__ float AttentionScore(const ScoreRule& rule, float dot) {
  const float s = dot * rule.scale;
  return rule.softcap > 0.0f ? rule.softcap * tanhf(s / rule.softcap) : s;
}

}  // namespace fp4lab::cuda
