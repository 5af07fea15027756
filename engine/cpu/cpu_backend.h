// CpuBackend: the reference backend. Plain loops, f32 activations and f32 accumulation, weights decoded once at
// load. Every CUDA kernel is checked against it; CI runs everything on it.
#pragma once

#include <memory>

#include "engine/backend.h"

namespace fp4lab {

std::unique_ptr<Backend> CreateCpuBackend();

}  // namespace fp4lab
