// CudaExperts: the routed experts of one MoE layer resident on a CUDA device (Backend::PrepareExperts), and the
// experts op (Backend::Experts) over them.
//
// Stored form (DeviceBytes counts exactly these buffers), every expert in one scheme:
//   bf16          gate|up bf16 [E, 2I, H] (expert e's gate rows, then its up rows), down bf16 [E, H, I]
//   nvfp4(-w4a16) the same as packed E2M1 codes [E, 2I, H/2], [E, H, I/2] and linear E4M3 block scales
//                 [E, 2I, H/16], [E, H, I/16]; f32 factors per expert: gate, up and down alpha (weight_scale_2,
//                 times input_scale under W4A4) and, under W4A4, the gate/up and down input scales
// A synthetic expert (LinearWeights::synthetic) is generated in place (engine/cuda/synthetic_device.h).
//
// Forward, all on the stream, with the expert ids read on the device (recordable; scratch from the Workspace):
//   1. gate|up GEMV per slot (m, j): gu[s] = W_gate_up(ids[s]) x[m]     (W4A4: x[m] quantized with e's input scale)
//   2. h[s] = act(gu[s, :I]) * gu[s, I:]                                 (LaunchGatedMulHalves; `hidden` if given)
//   3. down GEMV per slot: y[s] = W_down(ids[s]) h[s]                    (W4A4: h[s] quantized likewise)
//   4. out[m] = sum over its slots in ascending expert id of w * y[s]
// Decode (fewer than 2 slots per expert on average): one warp per (slot, row) reads only the selected experts' rows;
// larger batches group the slots by expert (one counting-sort block), and a warp runs one expert row over all its
// slots, so each weight row is read from memory once per step. Both GEMVs give the same bits per output.
// Numerics: engine/cuda/experts_kernels.h (the CPU reference up to GEMV summation order and routing's expf).
#pragma once

#include <memory>
#include <span>
#include <string>

#include "engine/backend.h"
#include "engine/cuda/cuda_context.h"
#include "engine/cuda/elementwise_kernels.h"

namespace fp4lab::cuda {

class CudaExperts : public DeviceExperts {
 public:
  // Unimplemented for experts this backend cannot run yet (fp8, mixed schemes, a bias, gate and up with different
  // input scales under W4A4, widths not a multiple of 16); InvalidArgument for shapes that disagree.
  static Result<std::unique_ptr<CudaExperts>> Prepare(const std::shared_ptr<CudaContext>& context,
                                                      std::span<const ExpertLinears> experts,
                                                      const std::string& name);

  const std::string& name() const override { return name_; }
  int num_experts() const override { return e_; }
  int64_t hidden_size() const override { return h_; }
  int64_t intermediate_size() const override { return i_; }
  int64_t DeviceBytes() const override { return device_bytes_; }

  // Backend::Experts on device arrays (shapes checked by the caller): x [rows, H], ids [rows * k], weights [rows, k],
  // out [rows, H], hidden [rows * k, I] or null.
  Status Forward(const float* x, int64_t rows, GateActivation act, const int32_t* ids, const float* weights, int k,
                 float* out, float* hidden, Workspace& workspace) const;

 private:
  explicit CudaExperts(std::shared_ptr<CudaContext> context) : context_(std::move(context)) {}

  std::shared_ptr<CudaContext> context_;
  std::string name_;
  int e_ = 0;
  int64_t h_ = 0, i_ = 0;
  LinearScheme scheme_ = LinearScheme::kBf16;
  DeviceBuffer gate_up_, down_;                 // bf16 weights or NVFP4 codes
  DeviceBuffer gate_up_scales_, down_scales_;   // NVFP4 block scales
  DeviceBuffer gate_up_alpha_, down_alpha_;     // NVFP4: f32 [E * 2], [E]
  DeviceBuffer gate_up_input_, down_input_;     // W4A4: f32 input scales [E], [E]
  int64_t device_bytes_ = 0;
};

}  // namespace fp4lab::cuda
