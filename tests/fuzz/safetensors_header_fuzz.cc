// libFuzzer target: one safetensors file (8-byte header length, JSON header, data) through ParseSafetensors, the
// validator every checkpoint read goes through. Any input must end in OK or a Status; views must lie inside it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "engine/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  std::vector<fp4lab::TensorView> views;
  std::map<std::string, std::string> metadata;
  if (!fp4lab::ParseSafetensors(bytes, "fuzz.safetensors", &views, &metadata).ok()) return 0;
  for (const fp4lab::TensorView& view : views) {
    // The contract: every accepted view lies inside the file and its byte count matches its shape.
    if (view.bytes.data() < data || view.bytes.data() + view.bytes.size() > data + size) std::abort();
    if (static_cast<uint64_t>(view.NumElements()) * fp4lab::DTypeSize(view.dtype) != view.bytes.size()) std::abort();
  }
  return 0;
}
