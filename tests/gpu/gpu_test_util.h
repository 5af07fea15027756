// Shared by the GPU tests (label "gpu"): skipping with the reason when no CUDA device is present, a CPU reference
// backend beside a CUDA backend, seeded data, and the rounding units the derived tolerances are built from.
//
// Every test that needs a device starts with FP4LAB_REQUIRE_GPU(): in a build without CUDA, or on a machine where
// cudaGetDeviceCount finds no device, it GTEST_SKIPs and says why (never a vacuous pass).
#pragma once

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend.h"
#ifdef FP4LAB_WITH_CUDA
#include "engine/cuda/cuda_device.h"
#endif

namespace fp4lab::gpu_testing {

// Unit roundoff (round to nearest): |fl(x) - x| <= u |x|. f32 keeps 24 significant bits, bf16 8.
inline constexpr double kF32Unit = 0x1p-24;
inline constexpr double kBf16Unit = 0x1p-8;

// Empty when a CUDA device is usable; otherwise why the GPU tests skip.
inline std::string GpuSkipReason() {
#ifdef FP4LAB_WITH_CUDA
  std::string reason;
  if (CudaDeviceCount(&reason) > 0) return "";
  return "no CUDA device present (" + reason + ")";
#else
  return "this build has no CUDA backend (configure with -DFP4LAB_CUDA=ON)";
#endif
}

#define FP4LAB_REQUIRE_GPU()                                              \
  do {                                                                    \
    const std::string fp4lab_skip = ::fp4lab::gpu_testing::GpuSkipReason(); \
    if (!fp4lab_skip.empty()) GTEST_SKIP() << fp4lab_skip;                \
  } while (0)

// Sets an environment variable for the lifetime of the object (the backend reads FP4LAB_* at creation).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_.empty()) {
      unsetenv(name_);
    } else {
      setenv(name_, old_.c_str(), 1);
    }
  }

 private:
  const char* name_;
  std::string old_;
};

// Backend for "cpu" or "cuda"; fails the test (and returns null) if it cannot be created.
inline std::unique_ptr<Backend> MakeBackend(const std::string& device) {
  auto backend = CreateBackend(device);
  EXPECT_TRUE(backend.ok()) << device << ": " << backend.status().ToString();
  return backend.ok() ? std::move(backend).value() : nullptr;
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

// n values ~ N(0, sigma^2) from a fixed seed.
inline std::vector<float> Normal(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> out(n);
  for (float& v : out) v = dist(rng);
  return out;
}

inline uint32_t Bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return b;
}

}  // namespace fp4lab::gpu_testing
