// CudaContext: one CUDA device and one stream, shared (std::shared_ptr) by the backend and every buffer it hands
// out, so buffers may outlive the Backend object: the stream is destroyed with the last of them. It counts the
// device bytes allocated through it against an optional limit and reports out-of-memory as ResourceExhausted,
// naming what did not fit and how many bytes it needed.
//
// Thread safety: none. A backend, its context and its buffers are used from one thread at a time.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/status.h"

namespace fp4lab::cuda {

// "123456789 bytes (117.7 MiB)".
std::string FormatBytes(int64_t bytes);

class CudaContext {
 public:
  // A new stream on `device` (REQUIRES 0 <= device < device count). memory_limit_bytes > 0 caps the bytes this
  // context may hold (FP4LAB_CUDA_MEMORY_LIMIT; for sharing a card and for testing out-of-memory handling);
  // 0 leaves the card's memory as the only limit.
  static Result<std::shared_ptr<CudaContext>> Create(int device, int64_t memory_limit_bytes);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  const std::string& label() const { return label_; }  // "cuda:0"
  cudaStream_t stream() const { return stream_; }

  // Makes this context's device current for the calling thread; every op calls it first.
  Status Activate() const;
  // `bytes` of device memory for `what` (e.g. "model.layers.0.mlp.up_proj NVFP4 codes [2048, 512]"); nullptr for 0
  // bytes. ResourceExhausted names `what`, the bytes needed and the bytes available (under the limit, or free on the
  // card). Release with Release(ptr, bytes).
  Result<void*> Allocate(int64_t bytes, const std::string& what);
  void Release(void* ptr, int64_t bytes);

  // Device bytes held through Allocate now, and the most held at once since creation or the last ResetPeak
  // (weights, KV caches, activations, scratch, the cuBLASLt workspace: everything fp4lab allocates on the device;
  // not the CUDA runtime's own context, library handles or CUDA graph memory).
  int64_t allocated_bytes() const { return allocated_bytes_; }
  int64_t peak_allocated_bytes() const { return peak_allocated_bytes_; }
  // Starts a new peak window at the bytes held now (e.g. to measure one phase).
  void ResetPeak() { peak_allocated_bytes_ = allocated_bytes_; }

 private:
  CudaContext() = default;

  int device_ = 0;
  std::string label_;
  std::string device_name_;  // "NVIDIA H100 80GB HBM3", for messages
  cudaStream_t stream_ = nullptr;
  int64_t memory_limit_bytes_ = 0;
  int64_t allocated_bytes_ = 0;
  int64_t peak_allocated_bytes_ = 0;
};

// A device allocation owned by value (move-only). It keeps its context alive and frees itself through it.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  static Result<DeviceBuffer> Allocate(const std::shared_ptr<CudaContext>& context, int64_t bytes,
                                       const std::string& what);
  ~DeviceBuffer() { Reset(); }
  DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  int64_t bytes() const { return bytes_; }

 private:
  void Reset();

  std::shared_ptr<CudaContext> context_;
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

// Grow-only scratch memory that one op at a time carves into 256-byte-aligned slices, valid until the next Carve.
// Reuse across ops is safe because ops run in order on the context's single stream; growing frees the old buffer
// with cudaFree, which first waits for the device.
class Workspace {
 public:
  explicit Workspace(std::shared_ptr<CudaContext> context) : context_(std::move(context)) {}
  // One slice per entry of `bytes` (each may be 0), in order. `what` names the op in out-of-memory messages.
  Result<std::vector<void*>> Carve(std::initializer_list<int64_t> bytes, const std::string& what);
  // Counts the reallocations so far: a recorded program that carved slices is stale once it changes.
  uint64_t generation() const { return generation_; }

 private:
  std::shared_ptr<CudaContext> context_;
  DeviceBuffer buffer_;
  uint64_t generation_ = 0;
};

}  // namespace fp4lab::cuda
