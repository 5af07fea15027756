// Helpers shared by the test binaries: repository paths and reading reference tensors.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/safetensors.h"

namespace fp4lab::testing {

inline std::string SourcePath(const std::string& relative) { return std::string(FP4LAB_SOURCE_DIR) + "/" + relative; }
inline std::string FixturePath(const std::string& relative) { return SourcePath("tests/fixtures/" + relative); }

// Reads tensor `name` of a reference.safetensors as f32 (F32) or int32 (I32) values; fails the test if absent.
template <typename T>
std::vector<T> ReadReference(const std::string& file, const std::string& name) {
  auto reader = SafetensorsReader::Open(file);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return {};
  const TensorView* t = (*reader)->Find(name);
  EXPECT_NE(t, nullptr) << file << " has no tensor " << name;
  if (t == nullptr) return {};
  std::vector<T> out(t->bytes.size() / sizeof(T));
  std::memcpy(out.data(), t->bytes.data(), t->bytes.size());
  return out;
}

// A fresh empty directory under the build tree, removed and recreated on each call.
std::string TempDir(const std::string& name);

// The text of a Result, failing the test (and giving "") on an error (decoded tokens, read files).
inline std::string Text(const Result<std::string>& text) {
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : std::string();
}

// Writes `text` to <TempDir(name)>/data.txt and returns that path.
std::string WriteTempText(const std::string& name, const std::string& text);

// TempDir(name) holding the files of tests/fixtures/tokenizers/<family>/, the gzipped ones inflated
// (tokenizer.json.gz becomes tokenizer.json), as a checkpoint would hold them. `name` must be unique to the test
// (tests run in parallel). Fails the test if a file cannot be read.
std::string TokenizerFixtureDir(const std::string& family, const std::string& name);

}  // namespace fp4lab::testing
