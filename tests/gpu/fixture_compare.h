// Comparing two runs of one tiny fixture (every reference: 2 sequences of 40 ids, vocabulary 256) position by
// position, with what each side fed its Linears: the helpers that find where two runs may legitimately part (a
// router's top-k choice, an NVFP4 activation code) and the positions before it. Shared by cuda_engine_test.cc and
// moe_fixtures_gpu_test.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/codecs.h"
#include "engine/engine.h"
#include "engine/nvfp4.h"
#include "engine/safetensors.h"
#include "gpu_test_util.h"

namespace fp4lab::gpu_testing {

inline constexpr int kLen = 40, kVocab = 256;

// max |a - b| over positions [0, positions) of sequence `seq` of [2, 40, 256] logits.
inline double MaxDiff(const std::vector<float>& a, const std::vector<float>& b, int seq, int positions = kLen) {
  double diff = 0.0;
  for (int i = seq * kLen * kVocab; i < (seq * kLen + positions) * kVocab; ++i) {
    diff = std::max(diff, std::fabs(double{a[i]} - b[i]));
  }
  return diff;
}

// One Linear's input in one forward pass (a host copy; the observer reports them in call order).
struct ObservedInput {
  std::string linear;
  int64_t cols = 0;
  std::vector<float> x;  // [rows, cols]: one row per position, or k per position for an expert's down (one per slot)
};

// Installs an observer on `model` that appends every Linear input to *inputs (downloaded through `backend`).
inline void ObserveLinearInputs(Model& model, Backend& backend, std::vector<ObservedInput>* inputs) {
  model.SetLinearInputObserver([&backend, inputs](const std::string& linear, const DeviceTensor& x) -> Status {
    ObservedInput in{linear, x.cols(), std::vector<float>(static_cast<size_t>(x.size()))};
    FP4LAB_RETURN_IF_ERROR(backend.Download(x, in.x));
    inputs->push_back(std::move(in));
    return Status::Ok();
  });
}

// One forward pass over `tokens` that also records every Linear's input (host copies, in call order).
inline std::vector<float> ObservedLogits(Engine& engine, const std::vector<int32_t>& tokens,
                                         std::vector<ObservedInput>* inputs) {
  ObserveLinearInputs(engine.model(), engine.backend(), inputs);
  auto logits = engine.Logits(tokens);
  engine.model().SetLinearInputObserver(nullptr);
  EXPECT_TRUE(logits.ok()) << logits.status().ToString();
  return logits.ok() ? std::move(logits).value() : std::vector<float>();
}

// Whether `linear` is a router: "*.mlp.gate" in Qwen3-MoE, "*.router.proj" in Gemma 4, both choosing the top k of
// their raw output.
inline bool IsRouter(const std::string& linear) {
  return linear.ends_with(".mlp.gate") || linear.ends_with(".router.proj");
}

// Where two runs' routers part: the first position at which a router picks a different top-k set from one side's
// input than from the other's, each set computed in double from that side's observed input. The GPU rounds a
// router's input to bf16 (its GEMM consumes bf16): `second` is rounded so; with kBothRounded (two runs of that
// numerics), `first` is too. Routing is causal: positions before it saw the same experts on both sides.
enum class RouterInputs { kSecondRounded, kBothRounded };
struct RouterSplit {
  int position = kLen;  // kLen: the sides agree everywhere (or the model has no router)
  std::string router;
  double cpu_margin = 0.0;     // the first side's k-th minus (k+1)-th router logit there
  double rounding_room = 0.0;  // 2 * 2^-8 * max_j sum_k |x_k w_jk|: what bf16-rounding the input on both sides moves
};
inline RouterSplit FirstRouterSplit(const std::vector<ObservedInput>& cpu, const std::vector<ObservedInput>& gpu,
                                    const std::string& checkpoint, int top_k,
                                    RouterInputs rounding = RouterInputs::kSecondRounded) {
  RouterSplit split;
  auto reader = SafetensorsReader::Open(checkpoint);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return split;
  EXPECT_EQ(cpu.size(), gpu.size());
  const auto bf16 = [](float x) { return double{Bf16ToF32(F32ToBf16(x))}; };
  for (size_t l = 0; l < std::min(cpu.size(), gpu.size()); ++l) {
    const std::string& name = cpu[l].linear;
    if (!IsRouter(name)) continue;
    const TensorView* w = (*reader)->Find(name + ".weight");
    EXPECT_TRUE(w != nullptr && w->dtype == DType::kBF16 && w->shape.size() == 2) << name;
    if (w == nullptr || w->dtype != DType::kBF16 || w->shape.size() != 2) continue;
    const int64_t experts = w->shape[0], k = w->shape[1];
    std::vector<float> weight(static_cast<size_t>(experts * k));
    DecodeBf16Row({reinterpret_cast<const uint16_t*>(w->bytes.data()), weight.size()}, weight);
    for (int p = 0; p < split.position; ++p) {
      std::vector<double> on_cpu(experts), on_gpu(experts), magnitude(experts);
      for (int64_t e = 0; e < experts; ++e) {
        for (int64_t i = 0; i < k; ++i) {
          const double wi = weight[e * k + i], xc = cpu[l].x[p * k + i];
          on_cpu[e] += (rounding == RouterInputs::kBothRounded ? bf16(cpu[l].x[p * k + i]) : xc) * wi;
          on_gpu[e] += bf16(gpu[l].x[p * k + i]) * wi;
          magnitude[e] += std::fabs(xc * wi);
        }
      }
      auto top = [&](const std::vector<double>& logits) {
        std::vector<int64_t> order(experts);
        for (int64_t e = 0; e < experts; ++e) order[e] = e;
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
        return order;
      };
      const std::vector<int64_t> c = top(on_cpu), g = top(on_gpu);
      std::vector<int64_t> c_set(c.begin(), c.begin() + top_k), g_set(g.begin(), g.begin() + top_k);
      std::sort(c_set.begin(), c_set.end());
      std::sort(g_set.begin(), g_set.end());
      if (c_set == g_set) continue;
      split = {p, name, on_cpu[c[top_k - 1]] - on_cpu[c[top_k]],
               2 * kBf16Unit * *std::max_element(magnitude.begin(), magnitude.end())};
    }
  }
  return split;
}

// Where two runs' NVFP4 activation codes part: every input to a W4A4-quantized Linear (those with an input_scale in
// `checkpoint`; the others are skipped) is quantized on the host with the reference quantizer and the layer's
// input_scale, and the codes and block scales compared row by row.
struct CodeFlips {
  int position = kLen;   // the first position with a differing code or block scale, kLen if none
  std::string linear;    // the first Linear in call order that differs there
  int64_t flips = 0;     // differing codes and block scales over all positions and Linears
  // At that first (position, Linear): over its blocks that differ, max |x_a - x_b| relative to the largest |x_a| of
  // the row. A flip whose two inputs are this close straddled a rounding boundary within that distance.
  double relative_gap = 0.0;
};
inline CodeFlips FindCodeFlips(const std::vector<ObservedInput>& a, const std::vector<ObservedInput>& b,
                               const std::string& checkpoint) {
  CodeFlips result;
  auto reader = SafetensorsReader::Open(checkpoint);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return result;
  EXPECT_EQ(a.size(), b.size());
  for (size_t l = 0; l < std::min(a.size(), b.size()); ++l) {
    EXPECT_EQ(a[l].linear, b[l].linear);
    const TensorView* scale = (*reader)->Find(a[l].linear + ".input_scale");
    if (scale == nullptr) continue;  // not quantized in this checkpoint
    float input_scale = 0.0f;
    std::memcpy(&input_scale, scale->bytes.data(), sizeof(float));
    const int64_t k = a[l].cols;
    const int64_t rows = static_cast<int64_t>(a[l].x.size()) / k, rows_per_position = rows / kLen;
    std::vector<uint8_t> packed[2], scales[2];
    for (int64_t r = 0; r < rows; ++r) {
      for (int side = 0; side < 2; ++side) {
        const std::vector<float>& x = side == 0 ? a[l].x : b[l].x;
        packed[side].assign(static_cast<size_t>(k / 2), 0);
        scales[side].assign(static_cast<size_t>(k / 16), 0);
        EXPECT_TRUE(QuantizeNvfp4ActivationRow(std::span(x).subspan(r * k, k), input_scale, packed[side],
                                               scales[side]).ok());
      }
      const int position = static_cast<int>(r / rows_per_position);
      for (int64_t block = 0; block < k / 16; ++block) {
        int64_t block_flips = scales[0][block] != scales[1][block];
        for (int64_t i = block * 8; i < (block + 1) * 8; ++i) {
          block_flips += ((packed[0][i] ^ packed[1][i]) & 0x0F) != 0;
          block_flips += ((packed[0][i] ^ packed[1][i]) & 0xF0) != 0;
        }
        if (block_flips == 0) continue;
        result.flips += block_flips;
        if (position > result.position) continue;
        if (position < result.position) result = {position, a[l].linear, result.flips, 0.0};
        if (result.linear != a[l].linear) continue;  // a later Linear at the first position: a consequence
        double gap = 0.0, row_max = 0.0;
        for (int64_t i = r * k; i < (r + 1) * k; ++i) row_max = std::max(row_max, std::fabs(double{a[l].x[i]}));
        for (int64_t i = r * k + block * 16; i < r * k + (block + 1) * 16; ++i) {
          gap = std::max(gap, std::fabs(double{a[l].x[i]} - b[l].x[i]));
        }
        result.relative_gap = std::max(result.relative_gap, gap / row_max);
      }
    }
  }
  return result;
}

// The first position whose NVFP4 activation codes or block scales differ between two runs' inputs to the quantized
// Linears (FindCodeFlips), kLen if none; *flips accumulates the differing codes and scales.
inline int FirstQuantizationFlip(const std::vector<ObservedInput>& a, const std::vector<ObservedInput>& b,
                                 const std::string& checkpoint, int64_t* flips) {
  const CodeFlips found = FindCodeFlips(a, b, checkpoint);
  *flips += found.flips;
  return found.position;
}

}  // namespace fp4lab::gpu_testing
