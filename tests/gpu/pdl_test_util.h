// Shared by the GEMV tests (CUDA builds only): device buffers from host vectors, running work directly or as a
// captured graph, and the check that a kernel launched with programmatic dependent launch (PDL, kernel_util.cuh)
// waits for the kernel before it.
//
// The check: LaunchDelayedCopy (engine/cuda/pdl_probe.h) lets its successor start at once and only kProducerDelayNs
// later rewrites the GEMV's x and bias with new values and its y with NaN; the GEMV follows it in one stream,
// launched directly and inside a captured graph. Its output must equal, bit for bit, the same call on settled new
// inputs (same kernel, launch shape and summation order): a read of x or bias before the wait would see the old
// values, a store to y before it would be overwritten by the NaNs. ExpectOverlap first shows that the overlap really
// happens on this device and in this mode, without which the GEMV checks could not fail.
#pragma once

#ifdef FP4LAB_WITH_CUDA

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/cuda/cuda_context.h"
#include "engine/cuda/pdl_probe.h"
#include "gpu_test_util.h"

namespace fp4lab::gpu_testing {

// 2 ms: far longer than launching the successor (a few us), even if the host thread is descheduled for a while.
inline constexpr int64_t kProducerDelayNs = 2000000;

// A device copy of `values` (at least one element of room), uploaded before returning.
template <typename T>
cuda::DeviceBuffer ToDevice(const std::shared_ptr<cuda::CudaContext>& context, const std::vector<T>& values) {
  const int64_t bytes = static_cast<int64_t>(std::max<size_t>(values.size(), 1) * sizeof(T));
  auto buffer = cuda::DeviceBuffer::Allocate(context, bytes, "GPU test buffer");
  EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
  if (!buffer.ok()) return cuda::DeviceBuffer();
  if (!values.empty()) {
    EXPECT_EQ(cudaMemcpyAsync(buffer->data(), values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice,
                              context->stream()),
              cudaSuccess);
  }
  EXPECT_EQ(cudaStreamSynchronize(context->stream()), cudaSuccess);
  return std::move(buffer).value();
}

// Floats [first, first + count) of `buffer`, after the context's stream has drained.
inline std::vector<float> FromDevice(const cuda::CudaContext& context, const cuda::DeviceBuffer& buffer, size_t first,
                                     size_t count) {
  std::vector<float> host(count);
  EXPECT_EQ(cudaStreamSynchronize(context.stream()), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), buffer.as<float>() + first, count * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  return host;
}

// Runs enqueue(stream) (which returns its first error) on the context's stream, directly or, with `graph`, captured
// into a graph that is then launched once; returns when the work has finished.
template <typename Enqueue>
void RunOnStream(const cuda::CudaContext& context, bool graph, Enqueue enqueue) {
  const cudaStream_t stream = context.stream();
  if (!graph) {
    ASSERT_EQ(enqueue(stream), cudaSuccess);
  } else {
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    const cudaError_t enqueued = enqueue(stream);
    cudaGraph_t captured = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(stream, &captured);
    ASSERT_EQ(enqueued, cudaSuccess);
    ASSERT_EQ(ended, cudaSuccess);
    cudaGraphExec_t exec = nullptr;
    const cudaError_t instantiated = cudaGraphInstantiate(&exec, captured, 0);
    EXPECT_EQ(cudaGraphDestroy(captured), cudaSuccess);
    ASSERT_EQ(instantiated, cudaSuccess);
    const cudaError_t launched = cudaGraphLaunch(exec, stream);
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
    ASSERT_EQ(launched, cudaSuccess);
  }
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
}

// The probe reads a value that the producer changes from 0 to 1 late: before its wait it must still see 0 (the two
// kernels overlapped), after it 1.
inline void ExpectOverlap(const std::shared_ptr<cuda::CudaContext>& context, bool graph) {
  static constexpr float kZero = 0.0f;
  const cuda::DeviceBuffer value = ToDevice(context, std::vector<float>{0.0f});
  const cuda::DeviceBuffer fresh = ToDevice(context, std::vector<float>{1.0f});
  const cuda::DeviceBuffer seen = ToDevice(context, std::vector<float>(2, std::numeric_limits<float>::quiet_NaN()));
  const auto enqueue = [&](cudaStream_t stream) {
    const cudaError_t err = cuda::LaunchDelayedCopy(fresh.as<float>(), value.as<float>(), 1, kProducerDelayNs, stream);
    return err != cudaSuccess ? err : cuda::LaunchOverlapProbe(value.as<float>(), seen.as<float>(), stream);
  };
  // The first launch of a kernel may load its module (lazy loading), which does not overlap anything: load both.
  RunOnStream(*context, false, enqueue);
  ASSERT_EQ(cudaMemcpy(value.as<float>(), &kZero, sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  RunOnStream(*context, graph, enqueue);
  const std::vector<float> got = FromDevice(*context, seen, 0, 2);
  EXPECT_EQ(got[1], 1.0f) << "a read after griddepcontrol.wait missed the previous kernel's write";
  EXPECT_EQ(got[0], 0.0f) << "the dependent kernel did not start before the previous one finished: no programmatic "
                             "overlap here, so the GEMV checks below cannot catch an early access";
}

// The GEMV `launch(x, bias, y, stream, allow_overlap)` (a cudaError_t) of an N x K layer at M = m, right after the
// late producer, against the same call on settled inputs. bias: the layer's [n] bias, or empty for none.
template <typename Launch>
void ExpectGemvWaitsForLateProducer(const std::shared_ptr<cuda::CudaContext>& context, int64_t m, int64_t n,
                                    int64_t k, const std::vector<float>& bias, uint32_t seed, Launch launch) {
  const bool has_bias = !bias.empty();
  // One buffer [x (m k) | bias (n) | y (m n)] as the GEMV sees it (x at offset 0 stays 16-byte aligned): `fresh`
  // what the producer writes, `stale` what the buffer holds before.
  const size_t x_size = static_cast<size_t>(m * k), y_at = x_size + static_cast<size_t>(n);
  const size_t y_size = static_cast<size_t>(m * n), total = y_at + y_size;
  std::vector<float> fresh(total, std::numeric_limits<float>::quiet_NaN()), stale(total, 0.0f);
  const std::vector<float> x_new = Normal(x_size, seed + 100), x_old = Normal(x_size, seed + 200);
  const std::vector<float> bias_old = Normal(static_cast<size_t>(n), seed + 300);
  std::copy(x_new.begin(), x_new.end(), fresh.begin());
  std::copy(x_old.begin(), x_old.end(), stale.begin());
  for (int64_t j = 0; j < n; ++j) {
    fresh[x_size + j] = has_bias ? bias[j] : 0.0f;
    stale[x_size + j] = has_bias ? bias_old[j] : 0.0f;
  }
  const auto gemv = [&](const cuda::DeviceBuffer& io, cudaStream_t stream, bool allow_overlap) {
    float* base = io.as<float>();
    return launch(base, has_bias ? base + x_size : nullptr, base + y_at, stream, allow_overlap);
  };
  const auto settled_output = [&](const std::vector<float>& inputs) {
    const cuda::DeviceBuffer io = ToDevice(context, inputs);
    RunOnStream(*context, false, [&](cudaStream_t stream) { return gemv(io, stream, false); });
    return FromDevice(*context, io, y_at, y_size);
  };
  const std::vector<float> expected = settled_output(fresh), from_stale = settled_output(stale);
  int differing = 0;
  for (size_t i = 0; i < y_size; ++i) {
    ASSERT_FALSE(std::isnan(expected[i])) << "output " << i << " not written";
    differing += Bits(expected[i]) != Bits(from_stale[i]);
  }
  // Every output depends on all of x (and its bias): an early read of any of it would show.
  EXPECT_EQ(differing, static_cast<int>(y_size)) << "stale inputs give some of the same outputs";

  for (const bool graph : {false, true}) {
    SCOPED_TRACE(std::string(graph ? "captured graph" : "stream") + ", M " + std::to_string(m) + ", N " +
                 std::to_string(n) + ", K " + std::to_string(k));
    const cuda::DeviceBuffer io = ToDevice(context, stale);
    const cuda::DeviceBuffer source = ToDevice(context, fresh);
    RunOnStream(*context, graph, [&](cudaStream_t stream) {
      const cudaError_t err = cuda::LaunchDelayedCopy(source.as<float>(), io.as<float>(),
                                                      static_cast<int64_t>(total), kProducerDelayNs, stream);
      return err != cudaSuccess ? err : gemv(io, stream, true);
    });
    const std::vector<float> got = FromDevice(*context, io, y_at, y_size);
    int failures = 0;
    for (size_t i = 0; i < y_size; ++i) {
      if (Bits(got[i]) != Bits(expected[i]) && ++failures <= 3) {
        ADD_FAILURE() << "output " << i << ": " << got[i] << " after the late producer, " << expected[i]
                      << " on settled inputs (" << from_stale[i] << " on the old ones)";
      }
    }
    EXPECT_EQ(failures, 0);
  }
}

}  // namespace fp4lab::gpu_testing

#endif  // FP4LAB_WITH_CUDA
