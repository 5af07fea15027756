#include "engine/cuda/cuda_context.h"

#include <algorithm>
#include <cstdio>

#include "engine/cuda/cuda_check.h"

namespace fp4lab::cuda {
namespace {

constexpr int64_t kSliceAlignment = 256;  // cuBLASLt assumes 256-byte-aligned operands by default

int64_t AlignUp(int64_t value) { return (value + kSliceAlignment - 1) / kSliceAlignment * kSliceAlignment; }

}  // namespace

std::string FormatBytes(int64_t bytes) {
  char mib[32];
  std::snprintf(mib, sizeof(mib), "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return std::to_string(bytes) + " bytes (" + mib + ")";
}

Result<std::shared_ptr<CudaContext>> CudaContext::Create(int device, int64_t memory_limit_bytes) {
  auto context = std::shared_ptr<CudaContext>(new CudaContext());
  context->device_ = device;
  context->label_ = "cuda:" + std::to_string(device);
  context->memory_limit_bytes_ = memory_limit_bytes;
  CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  context->device_name_ = prop.name;
  CUDA_CHECK(cudaStreamCreateWithFlags(&context->stream_, cudaStreamNonBlocking));
  return context;
}

CudaContext::~CudaContext() {
  if (stream_ == nullptr) return;
  // Destructors cannot report errors; a failure here means the device is already lost.
  (void)cudaSetDevice(device_);
  (void)cudaStreamSynchronize(stream_);
  (void)cudaStreamDestroy(stream_);
}

Status CudaContext::Activate() const {
  CUDA_CHECK(cudaSetDevice(device_));
  return Status::Ok();
}

Result<void*> CudaContext::Allocate(int64_t bytes, const std::string& what) {
  if (bytes == 0) return static_cast<void*>(nullptr);
  const auto prefix = [&] {
    return label_ + " (" + device_name_ + "): out of device memory: " + what + " needs " + FormatBytes(bytes);
  };
  if (memory_limit_bytes_ > 0 && allocated_bytes_ + bytes > memory_limit_bytes_) {
    return Status::ResourceExhausted(prefix() + ", but only " + FormatBytes(memory_limit_bytes_ - allocated_bytes_) +
                                     " of the FP4LAB_CUDA_MEMORY_LIMIT of " + FormatBytes(memory_limit_bytes_) +
                                     " are left");
  }
  FP4LAB_RETURN_IF_ERROR(Activate());
  void* ptr = nullptr;
  const cudaError_t error = cudaMalloc(&ptr, static_cast<size_t>(bytes));
  if (error == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // not sticky: clear it
    size_t free_bytes = 0, total_bytes = 0;
    (void)cudaMemGetInfo(&free_bytes, &total_bytes);
    return Status::ResourceExhausted(prefix() + ", but only " + FormatBytes(static_cast<int64_t>(free_bytes)) +
                                     " of " + FormatBytes(static_cast<int64_t>(total_bytes)) + " are free");
  }
  CUDA_CHECK(error);
  allocated_bytes_ += bytes;
  peak_allocated_bytes_ = std::max(peak_allocated_bytes_, allocated_bytes_);
  return ptr;
}

void CudaContext::Release(void* ptr, int64_t bytes) {
  if (ptr == nullptr) return;
  (void)cudaSetDevice(device_);
  (void)cudaFree(ptr);  // destructors cannot report errors
  allocated_bytes_ -= bytes;
}

Result<DeviceBuffer> DeviceBuffer::Allocate(const std::shared_ptr<CudaContext>& context, int64_t bytes,
                                            const std::string& what) {
  DeviceBuffer buffer;
  FP4LAB_ASSIGN_OR_RETURN(buffer.data_, context->Allocate(bytes, what));
  buffer.context_ = context;
  buffer.bytes_ = bytes;
  return buffer;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    context_ = std::move(other.context_);
    data_ = other.data_;
    bytes_ = other.bytes_;
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::Reset() {
  if (context_) context_->Release(data_, bytes_);
  context_.reset();
  data_ = nullptr;
  bytes_ = 0;
}

Result<std::vector<void*>> Workspace::Carve(std::initializer_list<int64_t> bytes, const std::string& what) {
  int64_t total = 0;
  for (int64_t b : bytes) total += AlignUp(b);
  if (total > buffer_.bytes()) {
    buffer_ = DeviceBuffer();  // free first, so that the old and the new buffer never need to fit together
    FP4LAB_ASSIGN_OR_RETURN(buffer_, DeviceBuffer::Allocate(context_, total, what + " scratch"));
    ++generation_;
  }
  std::vector<void*> slices;
  int64_t offset = 0;
  for (int64_t b : bytes) {
    slices.push_back(static_cast<char*>(buffer_.data()) + offset);
    offset += AlignUp(b);
  }
  return slices;
}

}  // namespace fp4lab::cuda
