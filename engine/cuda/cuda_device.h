// Which CUDA devices this process can see. CUDA-free header: tests and the device registry call it in CUDA builds
// to skip (with the reason) or to list the devices that exist.
#pragma once

#include <string>

namespace fp4lab {

// Number of CUDA devices (cudaGetDeviceCount); 0 when there are none or no usable driver, and then *reason (if not
// null) says why, e.g. "cudaGetDeviceCount: cudaErrorNoDevice (100): no CUDA-capable device is detected".
int CudaDeviceCount(std::string* reason = nullptr);

// "cuda:0 (NVIDIA H100 80GB HBM3), cuda:1 (...)" or "none (<reason>)".
std::string DescribeCudaDevices();

}  // namespace fp4lab
