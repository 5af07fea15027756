// The gate activations of the CPU reference (Backend::GatedMul, Backend::Experts), in f32 as PyTorch computes silu
// and gelu(approximate="tanh").
#pragma once

#include <cmath>

#include "engine/backend.h"

namespace fp4lab {

inline float Activate(Activation act, float x) {
  switch (act) {
    case Activation::kSilu: return x / (1.0f + std::exp(-x));
    case Activation::kGeluTanh: {
      constexpr float kSqrt2OverPi = 0.7978845608028654f, kCubic = 0.044715f;
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + kCubic * x * x * x)));
    }
  }
  return x;
}

}  // namespace fp4lab
