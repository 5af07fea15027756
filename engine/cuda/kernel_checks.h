// Runs single CUDA kernels on host data and returns their raw outputs, so tests/gpu can compare them bit for bit
// with the CPU reference codecs (engine/nvfp4.h, engine/fp8.h), which the Backend interface does not expose.
// CUDA-free header. Each call uses `device` (REQUIRES it exists) and synchronizes before returning.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

// The device activation quantizer's outputs for x[rows, k] (k % 16 == 0).
struct DeviceNvfp4Activations {
  std::vector<uint8_t> packed;           // [rows, k / 2]
  std::vector<uint8_t> swizzled_scales;  // SwizzledScaleBytes(rows, k / 16), padding included
  std::vector<float> products;           // [rows, k]: e2m1(code) * f32(sa), read back from bf16
  std::vector<float> products_f32;       // the same from LaunchQuantizeNvfp4ActivationsToF32
};
Result<DeviceNvfp4Activations> QuantizeNvfp4ActivationsOnDevice(int device, std::span<const float> x, int64_t rows,
                                                                int64_t k, float input_scale);

// The emulation's weight dequantizer: e2m1 * e4m3 products [rows, k] as bf16 bits.
Result<std::vector<uint16_t>> DequantizeNvfp4OnDevice(int device, std::span<const uint8_t> codes,
                                                      std::span<const uint8_t> scales, int64_t rows, int64_t k);

// The FP8 activation fake-quantizer: f32(e4m3(x / input_scale)) per element, read back from bf16.
Result<std::vector<float>> FakeQuantizeFp8OnDevice(int device, std::span<const float> x, float input_scale);

}  // namespace fp4lab
