#include "engine/codecs.h"

#include <cassert>
#include <cstddef>

namespace fp4lab {

void DecodeBf16Row(std::span<const uint16_t> in, std::span<float> out) {
  assert(in.size() == out.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = Bf16ToF32(in[i]);
}

void EncodeBf16Row(std::span<const float> in, std::span<uint16_t> out) {
  assert(in.size() == out.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = F32ToBf16(in[i]);
}

void DecodeF16Row(std::span<const uint16_t> in, std::span<float> out) {
  assert(in.size() == out.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = F16ToF32(in[i]);
}

void DecodeE4M3Row(std::span<const uint8_t> in, std::span<float> out) {
  assert(in.size() == out.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = E4M3ToF32(in[i]);
}

void DecodeE2M1Row(std::span<const uint8_t> packed, std::span<float> out) {
  assert(out.size() == 2 * packed.size());
  for (size_t i = 0; i < packed.size(); ++i) {
    out[2 * i] = E2M1ToF32(UnpackE2M1Lo(packed[i]));
    out[2 * i + 1] = E2M1ToF32(UnpackE2M1Hi(packed[i]));
  }
}

}  // namespace fp4lab
