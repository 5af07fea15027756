#include "engine/cuda/kernel_checks.h"

#include <cstring>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_context.h"
#include "engine/cuda/fp8_kernels.h"
#include "engine/cuda/nvfp4_kernels.h"
#include "engine/nvfp4.h"

namespace fp4lab {
namespace {

using cuda::CudaContext;
using cuda::DeviceBuffer;

Result<DeviceBuffer> UploadBytes(const std::shared_ptr<CudaContext>& context, const void* data, size_t bytes) {
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Allocate(context, static_cast<int64_t>(bytes), "input"));
  if (bytes > 0) {
    CUDA_CHECK(cudaMemcpyAsync(buffer.data(), data, bytes, cudaMemcpyHostToDevice, context->stream()));
  }
  return buffer;
}

Status DownloadBytes(const std::shared_ptr<CudaContext>& context, const DeviceBuffer& buffer, void* out) {
  if (buffer.bytes() > 0) {
    CUDA_CHECK(cudaMemcpyAsync(out, buffer.data(), static_cast<size_t>(buffer.bytes()), cudaMemcpyDeviceToHost,
                               context->stream()));
  }
  CUDA_CHECK(cudaStreamSynchronize(context->stream()));
  return Status::Ok();
}

std::vector<float> Bf16BitsToF32(const std::vector<uint16_t>& bits) {
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) {
    const uint32_t word = static_cast<uint32_t>(bits[i]) << 16;
    std::memcpy(&out[i], &word, 4);
  }
  return out;
}

}  // namespace

Result<DeviceNvfp4Activations> QuantizeNvfp4ActivationsOnDevice(int device, std::span<const float> x, int64_t rows,
                                                                int64_t k, float input_scale) {
  if (k % kNvfp4BlockSize != 0 || static_cast<int64_t>(x.size()) != rows * k) {
    return Status::InvalidArgument("QuantizeNvfp4ActivationsOnDevice: x must be [rows, k] with k % 16 == 0");
  }
  FP4LAB_ASSIGN_OR_RETURN(auto context, CudaContext::Create(device, 0));
  const int64_t scale_bytes = SwizzledScaleBytes(rows, k / kNvfp4BlockSize);
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer x_dev, UploadBytes(context, x.data(), x.size_bytes()));
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer products, DeviceBuffer::Allocate(context, rows * k * 2, "products"));
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer packed, DeviceBuffer::Allocate(context, rows * k / 2, "packed"));
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer scales, DeviceBuffer::Allocate(context, scale_bytes, "scales"));
  if (scale_bytes > 0) {
    CUDA_CHECK(cudaMemsetAsync(scales.data(), 0, static_cast<size_t>(scale_bytes), context->stream()));
  }
  CUDA_CHECK(cuda::LaunchQuantizeNvfp4Activations(x_dev.as<float>(), rows, k, input_scale, products.data(),
                                                  packed.as<uint8_t>(), scales.as<uint8_t>(), context->stream()));
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer products_f32, DeviceBuffer::Allocate(context, rows * k * 4, "products f32"));
  CUDA_CHECK(cuda::LaunchQuantizeNvfp4ActivationsToF32(x_dev.as<float>(), rows, k, input_scale,
                                                       products_f32.as<float>(), context->stream()));
  DeviceNvfp4Activations out;
  out.products_f32.resize(static_cast<size_t>(rows * k));
  FP4LAB_RETURN_IF_ERROR(DownloadBytes(context, products_f32, out.products_f32.data()));
  std::vector<uint16_t> product_bits(static_cast<size_t>(rows * k));
  out.packed.resize(static_cast<size_t>(rows * k / 2));
  out.swizzled_scales.resize(static_cast<size_t>(scale_bytes));
  FP4LAB_RETURN_IF_ERROR(DownloadBytes(context, products, product_bits.data()));
  FP4LAB_RETURN_IF_ERROR(DownloadBytes(context, packed, out.packed.data()));
  FP4LAB_RETURN_IF_ERROR(DownloadBytes(context, scales, out.swizzled_scales.data()));
  out.products = Bf16BitsToF32(product_bits);
  return out;
}

Result<std::vector<uint16_t>> DequantizeNvfp4OnDevice(int device, std::span<const uint8_t> codes,
                                                      std::span<const uint8_t> scales, int64_t rows, int64_t k) {
  FP4LAB_RETURN_IF_ERROR(ValidateNvfp4View({rows, k, codes, scales}));
  FP4LAB_ASSIGN_OR_RETURN(auto context, CudaContext::Create(device, 0));
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer codes_dev, UploadBytes(context, codes.data(), codes.size()));
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer scales_dev, UploadBytes(context, scales.data(), scales.size()));
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer out_dev, DeviceBuffer::Allocate(context, rows * k * 2, "products"));
  CUDA_CHECK(cuda::LaunchDequantizeNvfp4(codes_dev.as<uint8_t>(), scales_dev.as<uint8_t>(), rows, k, out_dev.data(),
                                         context->stream()));
  std::vector<uint16_t> out(static_cast<size_t>(rows * k));
  FP4LAB_RETURN_IF_ERROR(DownloadBytes(context, out_dev, out.data()));
  return out;
}

Result<std::vector<float>> FakeQuantizeFp8OnDevice(int device, std::span<const float> x, float input_scale) {
  FP4LAB_ASSIGN_OR_RETURN(auto context, CudaContext::Create(device, 0));
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer x_dev, UploadBytes(context, x.data(), x.size_bytes()));
  const int64_t count = static_cast<int64_t>(x.size());
  FP4LAB_ASSIGN_OR_RETURN(DeviceBuffer out_dev, DeviceBuffer::Allocate(context, count * 2, "fp8 values"));
  CUDA_CHECK(cuda::LaunchFakeQuantizeFp8Activations(x_dev.as<float>(), count, input_scale, out_dev.data(),
                                                    context->stream()));
  std::vector<uint16_t> bits(x.size());
  FP4LAB_RETURN_IF_ERROR(DownloadBytes(context, out_dev, bits.data()));
  return Bf16BitsToF32(bits);
}

}  // namespace fp4lab
