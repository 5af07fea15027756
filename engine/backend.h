// Backend: one device + one stream, behind which the forward pass (engine/arch/*.cc) is written once.
//
// Activations are f32, row-major [rows, cols] DeviceTensors owned by the caller and allocated through the
// backend; weights are prepared once at load (PrepareLinear / PrepareVector) into the backend's own layout.
// The CPU backend (engine/cpu/) is the reference: plain loops, f32 accumulation; it is the oracle every other
// backend is tested against. A backend answers what it can do (LinearPath) instead of crashing.
//
// Error contract: ops return Status; shape mismatches are Internal (bugs), device failures carry the device error.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/linear_weights.h"
#include "engine/status.h"

namespace fp4lab {

// An f32 activation buffer on the backend's device. Concrete backends subclass it.
class DeviceTensor {
 public:
  DeviceTensor(int64_t rows, int64_t cols) : rows_(rows), cols_(cols) {}
  virtual ~DeviceTensor() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t size() const { return rows_ * cols_; }

 private:
  int64_t rows_, cols_;
};

// A Linear layer prepared for one backend (weights resident on its device, in its layout).
class DeviceLinear {
 public:
  virtual ~DeviceLinear() = default;
  virtual const std::string& name() const = 0;  // module prefix, e.g. "model.layers.0.mlp.up_proj"
  virtual int64_t out_features() const = 0;
  virtual int64_t in_features() const = 0;
  virtual LinearScheme scheme() const = 0;
  // Device bytes held by this layer's weights.
  virtual int64_t DeviceBytes() const = 0;
};

struct AttentionParams {
  int num_heads = 0;     // query heads
  int num_kv_heads = 0;  // key/value heads; query head h uses kv head h / (num_heads / num_kv_heads)
  int head_dim = 0;
  float scale = 0.0f;    // multiplies q.k, usually 1/sqrt(head_dim)
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu" or "cuda:N".
  virtual std::string Name() const = 0;
  // Device facts for provenance: name, memory, compute capability, driver/runtime/library versions.
  virtual nlohmann::json Facts() const = 0;
  // How this device runs a scheme: "reference" (CPU), "native", "emulated", "weight-only"; Unimplemented with the
  // reason if it cannot run it at all.
  virtual Result<std::string> LinearPath(LinearScheme scheme) const = 0;

  // --- memory ---
  virtual Result<std::unique_ptr<DeviceTensor>> Allocate(int64_t rows, int64_t cols) = 0;  // zero-filled
  virtual Status Upload(std::span<const float> host, DeviceTensor& dst) = 0;     // REQUIRES sizes match
  virtual Status Download(const DeviceTensor& src, std::span<float> host) = 0;   // REQUIRES sizes match
  virtual Result<std::unique_ptr<DeviceLinear>> PrepareLinear(const LinearWeights& weights) = 0;

  // --- ops (all shapes in elements; every tensor f32 row-major) ---
  // out[i, :] = row tokens[i] of `table`'s weight matrix W[V, D] (the embedding; may be the tied lm_head).
  virtual Status Embed(const DeviceLinear& table, std::span<const int32_t> tokens, DeviceTensor& out) = 0;
  // RMSNorm over consecutive groups of `group` elements: y = x / sqrt(mean(x^2) + eps) * (weight_offset + w).
  // weight is [1, group]. weight_offset is 0 for Llama, 1 for Gemma's (1 + w). `out` may alias `x`.
  virtual Status RmsNorm(const DeviceTensor& x, const DeviceTensor& weight, int64_t group, float eps,
                         float weight_offset, DeviceTensor& out) = 0;
  // y[M, N] = x[M, K] * W^T (+ bias), with the numerics of w.scheme().
  virtual Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) = 0;
  // Rotate-half RoPE (HF layout) in place on x[M, heads * head_dim]; row i is at position positions[i].
  // inv_freq has head_dim / 2 entries (see RopeInverseFrequencies).
  virtual Status Rope(DeviceTensor& x, int heads, int head_dim, std::span<const int32_t> positions,
                      std::span<const float> inv_freq) = 0;
  // Stores k, v [M, kv_heads * head_dim] into rows pos0 .. pos0+M-1 of the layer's caches [capacity, kv_dim].
  virtual Status WriteKv(const DeviceTensor& k, const DeviceTensor& v, int64_t pos0, DeviceTensor& k_cache,
                         DeviceTensor& v_cache) = 0;
  // Causal attention for M queries at positions pos0 .. pos0+M-1 over cache rows 0 .. pos0+M-1:
  // out[M, num_heads * head_dim].
  virtual Status Attention(const DeviceTensor& q, const DeviceTensor& k_cache, const DeviceTensor& v_cache,
                           int64_t pos0, const AttentionParams& params, DeviceTensor& out) = 0;
  // out = silu(gate) * up, elementwise. `out` may alias `gate`.
  virtual Status SiluMul(const DeviceTensor& gate, const DeviceTensor& up, DeviceTensor& out) = 0;
  // x += y, elementwise.
  virtual Status AddInPlace(DeviceTensor& x, const DeviceTensor& y) = 0;
  // Waits for queued work (no-op on CPU).
  virtual Status Synchronize() = 0;
};

// Creates "cpu" or "cuda[:N]". InvalidArgument listing the devices that exist when `device` is unknown.
Result<std::unique_ptr<Backend>> CreateBackend(const std::string& device);

}  // namespace fp4lab
