// Helpers for the tests that run a Backend or an Engine (engine, gpu, tasks): opening an engine, seeded data, and
// moving tensors and index arrays to and from a backend. Every helper fails the calling test (and returns an empty
// value) instead of throwing when the engine or backend refuses.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend.h"
#include "engine/engine.h"

namespace fp4lab::testing {

// The engine for `dir` at `precision` on `device`; null (with a test failure naming all three) if it cannot open.
inline std::unique_ptr<Engine> OpenEngine(const std::string& dir, const std::string& precision = "bf16",
                                          const std::string& device = "cpu") {
  EngineOptions options;
  options.model_dir = dir;
  options.precision = precision;
  options.device = device;
  auto engine = Engine::Open(options);
  EXPECT_TRUE(engine.ok()) << device << " " << precision << ": " << engine.status().ToString();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

// A tensor on `backend` holding `values` ([rows, cols]).
inline std::unique_ptr<DeviceTensor> Put(Backend& backend, int64_t rows, int64_t cols,
                                         const std::vector<float>& values) {
  auto t = backend.Allocate(rows, cols);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  if (!t.ok()) return nullptr;
  const Status s = backend.Upload(values, **t);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::move(t).value();
}

inline std::vector<float> Get(Backend& backend, const DeviceTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.size()));
  const Status s = backend.Download(t, out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// An index array on `backend` holding `values`.
inline std::unique_ptr<DeviceIndices> PutIndices(Backend& backend, const std::vector<int32_t>& values) {
  auto indices = backend.AllocateIndices(static_cast<int64_t>(values.size()));
  EXPECT_TRUE(indices.ok()) << indices.status().ToString();
  if (!indices.ok()) return nullptr;
  const Status s = backend.UploadIndices(values, **indices);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::move(indices).value();
}

// n values ~ N(0, sigma^2) from a fixed seed.
inline std::vector<float> Normal(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> out(n);
  for (float& v : out) v = dist(rng);
  return out;
}

}  // namespace fp4lab::testing
