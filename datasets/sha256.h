// SHA-256 (FIPS 180-4) of byte strings and files, as lowercase hex; used to record dataset provenance.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace fp4lab {

// Incremental SHA-256. Feed bytes with Update() any number of times, then call Finish() once.
// REQUIRES: no Update() or Finish() after Finish().
class Sha256 {
 public:
  static constexpr size_t kDigestBytes = 32;

  Sha256();
  void Update(std::string_view bytes);
  // Returns the 32-byte digest (big-endian words, as FIPS 180-4 prints them).
  std::array<uint8_t, kDigestBytes> Finish();

 private:
  void Compress(const uint8_t* block);  // one 64-byte block

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;        // bytes waiting in buffer_ (< 64)
  uint64_t total_bytes_ = 0;   // message length so far
};

// Lowercase hex of `bytes` ("0a1b...").
std::string ToHex(std::string_view bytes);

// 64 lowercase hex characters.
std::string Sha256Hex(std::string_view bytes);

// Hashes a file streamed in 1 MiB pieces. NotFound if it does not exist, IoError if it cannot be read.
Result<std::string> Sha256FileHex(const std::string& path);

}  // namespace fp4lab
