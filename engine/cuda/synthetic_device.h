// Synthetic weights generated in a CUDA context's device memory (the device side of engine/synthetic_spec.h).
#pragma once

#include "engine/cuda/cuda_context.h"
#include "engine/status.h"
#include "engine/synthetic_spec.h"

namespace fp4lab::cuda {

// Fills dst (t.Bytes() bytes of the context's device, 8-byte aligned) with the bytes of `t`, bit-identical to
// GenerateSyntheticBytes, on the context's stream. The first call for a device in this process uploads the level
// tables to it (384 KiB, synchronously). Thread-safe.
Status GenerateSyntheticTensor(const CudaContext& context, const SyntheticTensor& t, void* dst);

}  // namespace fp4lab::cuda
