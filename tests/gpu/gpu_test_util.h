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
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend.h"
#include "engine_test_util.h"
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

// A fixture holding the CPU reference backend and the CUDA backend; skips without a GPU.
class CpuAndGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FP4LAB_REQUIRE_GPU();
    cpu_ = MakeBackend("cpu");
    gpu_ = MakeBackend("cuda");
    ASSERT_TRUE(cpu_ && gpu_);
  }
  std::unique_ptr<Backend> cpu_, gpu_;
};

// The backend-generic helpers (tests/engine_test_util.h), under the names the GPU tests use.
using testing::Get;
using testing::Normal;
using testing::Put;
using testing::PutIndices;

inline uint32_t Bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return b;
}

}  // namespace fp4lab::gpu_testing
