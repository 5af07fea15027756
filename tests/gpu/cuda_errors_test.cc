// Bad input on the CUDA backend gives clear Statuses, not crashes: a device that does not exist lists the devices
// that do; out of device memory names what did not fit and how many bytes it needed, both for a real cudaMalloc
// failure (an allocation larger than any card) and for a model larger than the memory the backend may use.
#include <iostream>
#include <string>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "gpu_test_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using gpu_testing::ScopedEnv;
using testing::SourcePath;

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(CudaErrorsTest, UnknownDeviceListsTheDevicesThatExist) {
#ifndef FP4LAB_WITH_CUDA
  GTEST_SKIP() << gpu_testing::GpuSkipReason();
#endif
  // Runs with or without a GPU: the answer lists cpu and whatever CUDA devices exist (or why there are none).
  auto backend = CreateBackend("cuda:7");
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument);
  const std::string message = backend.status().message();
  std::cout << "[cuda:7] " << message << "\n";
  EXPECT_TRUE(Contains(message, "'cuda:7' does not exist")) << message;
  EXPECT_TRUE(Contains(message, "available devices: cpu")) << message;
  if (gpu_testing::GpuSkipReason().empty()) {
    EXPECT_TRUE(Contains(message, "cuda:0 (")) << message;
  }

  auto malformed = CreateBackend("cuda:x");
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(malformed.status().message(), "cuda:N")) << malformed.status().message();
}

TEST(CudaErrorsTest, AllocationLargerThanTheCardIsResourceExhausted) {
  FP4LAB_REQUIRE_GPU();
  auto gpu = gpu_testing::MakeBackend("cuda");
  ASSERT_TRUE(gpu);
  // 2^20 x 2^20 f32 = 4 TiB, more than any card: cudaMalloc itself fails.
  auto huge = gpu->Allocate(int64_t{1} << 20, int64_t{1} << 20);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
  const std::string message = huge.status().message();
  std::cout << "[4 TiB allocation] " << message << "\n";
  EXPECT_TRUE(Contains(message, "activation tensor [1048576, 1048576]")) << message;
  EXPECT_TRUE(Contains(message, "needs 4398046511104 bytes")) << message;
  EXPECT_TRUE(Contains(message, "are free")) << message;
  // The failure is not sticky: the backend keeps working.
  auto small = gpu->Allocate(4, 4);
  EXPECT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_TRUE(gpu->Synchronize().ok());
}

TEST(CudaErrorsTest, ModelLargerThanTheDeviceMemoryNamesTheLayer) {
  FP4LAB_REQUIRE_GPU();
  // Room for the 32 MiB cuBLASLt workspace plus 200000 bytes: stories260K's bf16 weights (about 0.5 MB) do not fit.
  ScopedEnv limit("FP4LAB_CUDA_MEMORY_LIMIT", std::to_string((32 << 20) + 200000));
  EngineOptions options;
  options.model_dir = SourcePath("datasets/models/stories260K");
  options.device = "cuda";
  auto engine = Engine::Open(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kResourceExhausted);
  const std::string message = engine.status().message();
  std::cout << "[model over the memory limit] " << message << "\n";
  EXPECT_TRUE(Contains(message, "out of device memory: model.layers.")) << message;
  EXPECT_TRUE(Contains(message, " needs ")) << message;
  EXPECT_TRUE(Contains(message, "FP4LAB_CUDA_MEMORY_LIMIT")) << message;

  ScopedEnv bad_limit("FP4LAB_CUDA_MEMORY_LIMIT", "lots");
  auto refused = CreateBackend("cuda");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fp4lab
