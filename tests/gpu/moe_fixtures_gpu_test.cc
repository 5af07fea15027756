// The mixture-of-experts NVFP4 fixtures end to end on the CUDA backend (issue 15): qwen3moe_tiny_nvfp4 and
// gemma4moe_tiny_nvfp4 (experts NVFP4, everything else bf16) at W4A16 and W4A4, each with the bf16 and the FP8 KV
// cache, and gemma4moe_tiny's bf16 weights with the FP8 cache. Every run's logits, per sequence, against:
//   the emulation   the CPU reference taking the GPU's rounding decisions (FollowingBackend): within f32 summation
//                   order, over the positions before the first place they part otherwise, which must be a tie;
//   the CPU engine  at the same precision and cache, within that plus the emulation's measured distance from it;
//   transformers    the fixture's reference logits, within that plus the CPU engine's measured distance from them.
//
// Why not the CPU engine alone: the GPU rounds every bf16 Linear's input of a 40-row pass to bf16 (cuda_linear.h),
// which moves each K/V element by up to 2^-8 of itself where an E4M3 step is 2^-4..2^-3 of it, and each expert
// input by as much where an E2M1 step is ~1/12 of its block. Measured on the CPU with that rounding emulated, the
// FP8 cache (in the FP8 runs) and the W4A4 codes (in the W4A4 runs) then differ from the CPU engine's at position 0
// of every sequence, so a comparison stopped at the first such discontinuity would check nothing. The expert inputs
// do pass the Linear-input observer (DecoderModel::RoutedExperts reports x for every expert's gate/up and the
// slots' hidden activations for every down), and the K/V rows are read back from the cache; the emulation uses both
// to take the GPU's side of each tie, which leaves the two runs computing the same function in different summation
// orders. MoeFixtureComparison checks that machinery on the CPU, without a GPU, against a stand-in.
//
// Greedy tokens of the MoE fixtures are not checked on the GPU: their margins do not allow it. Along the bf16
// fixtures' reference continuations (CPU, f32) qwen3moe_tiny's top-1 margin at step 17 is 0.0061 against a bf16
// rounding effect of 0.0083 on that step's logits, and its layer-0 router picks its top 2 by 0.017 of what rounding
// its input moves; gemma4moe_tiny's step 3 margin is 0.12 against an effect of 0.27 (a router flips). The bf16
// spread CudaGreedyTest relies on is 0.037 (qwen3moe_tiny) and 1.1 (gemma4moe_tiny), above several margins.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/codecs.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/kv_cache.h"
#include "engine/nvfp4.h"
#include "engine/safetensors.h"
#include "engine/split_experts_source.h"
#include "engine/weight_loader.h"
#include "delegating_backend.h"
#include "fixture_compare.h"
#include "gpu_test_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using gpu_testing::CodeFlips;
using gpu_testing::FindCodeFlips;
using gpu_testing::FirstRouterSplit;
using gpu_testing::kLen;
using gpu_testing::kVocab;
using gpu_testing::ObservedInput;
using gpu_testing::RouterInputs;
using gpu_testing::RouterSplit;
using testing::FixturePath;
using testing::ReadReference;

// Two f32 implementations of these fixtures' forward pass that take the same discrete decisions differ by
// summation order and libm only: K * 2^-24 (~1e-5 at K = 256) relative per dot product, compounding through 2-3
// layers and the head; 1e-4 of the logit scale bounds them (as tests/engine/family_reference_test.cc derives) while a
// real bug moves logits by O(1).
constexpr double kF32Tolerance = 1e-4;
// A rounding tie: such implementations' values of one element agree to a few ulp of the dot products behind them,
// after cancellation ~2^-14 of the largest magnitude in the row (tests/engine/kv_cache_fp8_family_test.cc argues the
// same). Where the two sides' values are that close and still round (to bf16, an NVFP4 code or block scale, E4M3)
// to different values, a rounding boundary lies between them: either result is right. (Measured 2026-12-08 against
// MoeFixtureComparison's stand-in, f32 differences of 2^-20 per Linear output, over all nine runs: the largest gap
// between the two sides' Linear inputs is 2^-17 of the row, at an attention output; |stand-in - emulation| stays
// below 0.01 of kF32Tolerance.)
constexpr double kTieGap = 0x1p-14;

// The largest |x| of row r ([rows, cols] row-major).
double RowMax(std::span<const float> x, int64_t cols, int64_t r) {
  double m = 0.0;
  for (int64_t i = r * cols; i < (r + 1) * cols; ++i) m = std::max(m, std::fabs(double{x[i]}));
  return m;
}

// One forward pass of one sequence: its logits, every Linear's input and the KV cache as stored.
struct Pass {
  std::vector<float> logits;             // [kLen, kVocab]
  std::vector<ObservedInput> inputs;     // in call order, as the model's observer reports them
  std::vector<std::vector<float>> k, v;  // per attention layer [kLen, that layer's kv width]
};

// A place where the GPU and the emulation part, ordered by (position, op): the emulation backend's op counter when
// it happened, so that a consequence (a later op at that position, or a later position) never comes first.
struct Discontinuity {
  int position = kLen;  // kLen: none
  int64_t op = 0;
  std::string what;
  bool tie = true;  // a rounding tie (either result right), or a real disagreement
};
void KeepEarlier(Discontinuity& kept, const Discontinuity& d) {
  if (std::tie(d.position, d.op) < std::tie(kept.position, kept.op)) kept = d;
}

// The emulation: the CPU reference made to take the GPU's discrete decisions, so that the two differ by f32
// summation order only. On these runs the GPU differs from the CPU reference in one respect: every Linear (all bf16:
// attention, routers, Gemma 4's dense MLP, lm_head) rounds its input to bf16 (RNE) before its f32-accumulated GEMM
// (engine/cuda/cuda_linear.h, 40-row passes). The emulation does the same, and where the GPU's rounding of an
// element went the other way at a tie (kTieGap) it takes the GPU's: the bf16 input element, the NVFP4 block of an
// expert's gate/up input under W4A4 (the experts quantize it bit-identically otherwise,
// engine/cuda/experts_kernels.h), the FP8 K/V element. A disagreement that is not a tie is recorded
// (first_disagreement) and the emulation keeps its own value. Not followed (the test stops before them instead):
// a router choosing other experts, and a differing NVFP4 code of an expert's down input (computed inside the
// Experts op).
class FollowingBackend : public testing::DelegatingBackend {
 public:
  // `gpu`: the GPU's pass over the same tokens (must outlive this). `checkpoint`: the input scales, when w4a4.
  FollowingBackend(const Pass& gpu, bool w4a4, const SafetensorsReader& checkpoint)
      : DelegatingBackend(CreateCpuBackend()), gpu_(gpu), w4a4_(w4a4), checkpoint_(checkpoint) {
    for (const ObservedInput& in : gpu.inputs) gpu_inputs_[in.linear] = &in;
  }

  // From the model's observer: the Linear whose input it reports runs next (Experts report theirs separately).
  void NoteLinear(const std::string& name) {
    if (name.find(".experts.") == std::string::npos && next_linear_.empty()) next_linear_ = name;
  }
  // The inputs the Linears actually multiplied (bf16-rounded, ties followed), by Linear name.
  const std::map<std::string, ObservedInput>& used_inputs() const { return used_inputs_; }
  // The op counter when the Linear or the experts op of that name ran.
  int64_t OpOf(const std::string& name) const { return op_of_.count(name) ? op_of_.at(name) : 0; }
  const Discontinuity& first_disagreement() const { return first_disagreement_; }
  int64_t bf16_ties() const { return bf16_ties_; }
  int64_t code_ties() const { return code_ties_; }
  int64_t fp8_ties() const { return fp8_ties_; }

  Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) override;
  Status Experts(const DeviceTensor& x, const DeviceExperts& experts, Activation act, const DeviceIndices& ids,
                 const DeviceTensor& weights, DeviceTensor& out, DeviceTensor* hidden) override;
  Status RoundKvRowsToFp8(const RowPlacement& rows, KvScales scales, DeviceTensor& k_cache,
                          DeviceTensor& v_cache) override;

 private:
  void Disagree(int64_t position, const std::string& what) {
    KeepEarlier(first_disagreement_, {static_cast<int>(position), op_, what, false});
  }

  const Pass& gpu_;
  const bool w4a4_;
  const SafetensorsReader& checkpoint_;
  std::map<std::string, const ObservedInput*> gpu_inputs_;
  std::string next_linear_;
  std::map<std::string, ObservedInput> used_inputs_;
  std::map<std::string, int64_t> op_of_;
  int64_t op_ = 0;
  int fp8_stores_ = 0;
  Discontinuity first_disagreement_;
  int64_t bf16_ties_ = 0, code_ties_ = 0, fp8_ties_ = 0;
};

Status FollowingBackend::Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) {
  ++op_;
  const std::string name = next_linear_;
  next_linear_.clear();
  if (w.scheme() != LinearScheme::kBf16) {
    return Status::Internal(w.name() + ": the emulation covers bf16 Linears only (the experts-only recipe)");
  }
  if (!gpu_inputs_.count(name)) return Status::Internal("no GPU input observed for Linear '" + name + "'");
  const std::vector<float>& on_gpu = gpu_inputs_.at(name)->x;
  std::vector<float> host = testing::Get(inner(), x);
  if (on_gpu.size() != host.size()) return Status::Internal(name + ": the GPU's input has another shape");
  for (int64_t r = 0; r < x.rows(); ++r) {
    const double row_max = RowMax(host, x.cols(), r);
    for (int64_t i = r * x.cols(); i < (r + 1) * x.cols(); ++i) {
      const float mine = Bf16ToF32(F32ToBf16(host[i])), theirs = Bf16ToF32(F32ToBf16(on_gpu[i]));
      if (mine != theirs && std::fabs(double{host[i]} - on_gpu[i]) <= kTieGap * row_max) {
        host[i] = theirs;
        ++bf16_ties_;
      } else {
        if (mine != theirs) Disagree(r, "the bf16 input of " + name + " rounds otherwise, not at a tie");
        host[i] = mine;
      }
    }
  }
  op_of_[name] = op_;
  used_inputs_[name] = {name, x.cols(), host};
  FP4LAB_ASSIGN_OR_RETURN(auto rounded, inner().Allocate(x.rows(), x.cols()));
  FP4LAB_RETURN_IF_ERROR(inner().Upload(host, *rounded));
  return inner().Linear(*rounded, w, y);
}

Status FollowingBackend::Experts(const DeviceTensor& x, const DeviceExperts& experts, Activation act,
                                 const DeviceIndices& ids, const DeviceTensor& weights, DeviceTensor& out,
                                 DeviceTensor* hidden) {
  op_of_[experts.name()] = ++op_;
  if (!w4a4_) return inner().Experts(x, experts, act, ids, weights, out, hidden);
  // Every expert of a layer quantizes its gate/up input with one input scale (ModelOpt's shared quantizer).
  const std::string gate = experts.name() + ".0.gate_proj";
  const TensorView* scale = checkpoint_.Find(gate + ".input_scale");
  if (scale == nullptr || !gpu_inputs_.count(gate)) return Status::Internal("no input scale or GPU input of " + gate);
  float input_scale = 0.0f;
  std::memcpy(&input_scale, scale->bytes.data(), sizeof(float));
  const std::vector<float>& on_gpu = gpu_inputs_.at(gate)->x;
  std::vector<float> host = testing::Get(inner(), x);
  const int64_t k = x.cols();
  std::vector<uint8_t> packed[2], scales[2];
  for (int64_t r = 0; r < x.rows(); ++r) {
    for (int side = 0; side < 2; ++side) {
      packed[side].assign(static_cast<size_t>(k / 2), 0);
      scales[side].assign(static_cast<size_t>(k / 16), 0);
      FP4LAB_RETURN_IF_ERROR(QuantizeNvfp4ActivationRow(std::span(side == 0 ? host : on_gpu).subspan(r * k, k),
                                                        input_scale, packed[side], scales[side]));
    }
    const double row_max = RowMax(host, k, r);
    for (int64_t b = 0; b < k / 16; ++b) {
      const bool same = scales[0][b] == scales[1][b] &&
                        std::equal(packed[0].begin() + b * 8, packed[0].begin() + b * 8 + 8, packed[1].begin() + b * 8);
      if (same) continue;
      double gap = 0.0;
      for (int64_t i = r * k + b * 16; i < r * k + b * 16 + 16; ++i) {
        gap = std::max(gap, std::fabs(double{host[i]} - on_gpu[i]));
      }
      if (gap > kTieGap * row_max) {
        Disagree(r, "the NVFP4 input of " + gate + " quantizes otherwise, not at a tie");
        continue;
      }
      std::copy(on_gpu.begin() + r * k + b * 16, on_gpu.begin() + r * k + b * 16 + 16, host.begin() + r * k + b * 16);
      ++code_ties_;
    }
  }
  FP4LAB_ASSIGN_OR_RETURN(auto followed, inner().Allocate(x.rows(), x.cols()));
  FP4LAB_RETURN_IF_ERROR(inner().Upload(host, *followed));
  return inner().Experts(*followed, experts, act, ids, weights, out, hidden);
}

Status FollowingBackend::RoundKvRowsToFp8(const RowPlacement& rows, KvScales scales, DeviceTensor& k_cache,
                                          DeviceTensor& v_cache) {
  ++op_;
  const size_t layer = static_cast<size_t>(fp8_stores_++);
  if (layer >= gpu_.k.size()) return Status::Internal("more FP8 stores than the GPU's cache has layers");
  const std::vector<float> k_before = testing::Get(inner(), k_cache), v_before = testing::Get(inner(), v_cache);
  FP4LAB_RETURN_IF_ERROR(inner().RoundKvRowsToFp8(rows, scales, k_cache, v_cache));
  for (int kv = 0; kv < 2; ++kv) {
    DeviceTensor& cache = kv == 0 ? k_cache : v_cache;
    const std::vector<float>& before = kv == 0 ? k_before : v_before;
    const std::vector<float>& on_gpu = kv == 0 ? gpu_.k[layer] : gpu_.v[layer];
    std::vector<float> stored = testing::Get(inner(), cache);
    if (on_gpu.size() != stored.size()) return Status::Internal("the GPU's KV cache has another shape");
    bool followed = false;
    for (int64_t r = 0; r < cache.rows(); ++r) {
      const double row_max = RowMax(before, cache.cols(), r);
      for (int64_t i = r * cache.cols(); i < (r + 1) * cache.cols(); ++i) {
        if (std::memcmp(&stored[i], &on_gpu[i], sizeof(float)) == 0) continue;
        // The two stored values are the E4M3 neighbours around the GPU's and the emulation's unrounded values: a
        // tie when the emulation's is within kTieGap of their midpoint (then so is the GPU's, on its other side).
        if (std::fabs(before[i] - 0.5 * (double{stored[i]} + on_gpu[i])) > kTieGap * row_max) {
          Disagree(r, std::string(kv == 0 ? "a K" : "a V") + " element of attention layer " + std::to_string(layer) +
                          " is stored otherwise in FP8, not at a tie");
          continue;
        }
        stored[i] = on_gpu[i];
        followed = true;
        ++fp8_ties_;
      }
    }
    if (followed) FP4LAB_RETURN_IF_ERROR(inner().Upload(stored, cache));
  }
  return Status::Ok();
}

// Runs `tokens` through `model` from an empty cache, observing the Linear inputs (and telling `follower`, when
// given, which Linear runs next).
Pass RunPass(Model& model, Backend& backend, const std::vector<int32_t>& tokens,
             FollowingBackend* follower = nullptr) {
  Pass pass;
  auto cache = model.NewCache(kLen, 1);
  auto logits = backend.Allocate(kLen, kVocab);
  EXPECT_TRUE(cache.ok() && logits.ok());
  if (!cache.ok() || !logits.ok()) return pass;
  model.SetLinearInputObserver([&](const std::string& linear, const DeviceTensor& x) -> Status {
    if (follower != nullptr) follower->NoteLinear(linear);
    pass.inputs.push_back({linear, x.cols(), testing::Get(backend, x)});
    return Status::Ok();
  });
  const Status forward = model.Forward(tokens, **cache, 0, **logits);
  model.SetLinearInputObserver(nullptr);
  EXPECT_TRUE(forward.ok()) << forward.ToString();
  pass.logits = testing::Get(backend, **logits);
  for (const auto& t : (*cache)->k) pass.k.push_back(testing::Get(backend, *t));
  for (const auto& t : (*cache)->v) pass.v.push_back(testing::Get(backend, *t));
  return pass;
}

// Where the emulation and the GPU part in ways the emulation does not follow: a router choosing other experts (from
// the bf16 inputs each side multiplied; a tie when the top-k margin is within what bf16 rounding moves), an NVFP4
// code of an expert's down input under W4A4 (a tie within kTieGap), and the emulation's recorded disagreements.
Discontinuity FirstParting(const FollowingBackend& emulation, const Pass& e, const Pass& g,
                           const std::string& checkpoint, int top_k, bool w4a4) {
  Discontinuity first = emulation.first_disagreement();
  std::vector<ObservedInput> used_routers, gpu_routers;
  for (const ObservedInput& in : g.inputs) {
    if (!gpu_testing::IsRouter(in.linear)) continue;
    gpu_routers.push_back(in);
    used_routers.push_back(emulation.used_inputs().at(in.linear));
  }
  const RouterSplit split = FirstRouterSplit(used_routers, gpu_routers, checkpoint, top_k, RouterInputs::kBothRounded);
  if (split.position < kLen) {
    KeepEarlier(first, {split.position, emulation.OpOf(split.router),
                        split.router + " chose other experts, top-k margin " + std::to_string(split.cpu_margin) +
                            " (bf16 rounding room " + std::to_string(split.rounding_room) + ")",
                        split.cpu_margin <= split.rounding_room});
  }
  if (w4a4) {
    std::vector<ObservedInput> e_down, g_down;
    for (const ObservedInput& in : e.inputs) {
      if (in.linear.find(".experts.") != std::string::npos && in.linear.ends_with(".down_proj")) e_down.push_back(in);
    }
    for (const ObservedInput& in : g.inputs) {
      if (in.linear.find(".experts.") != std::string::npos && in.linear.ends_with(".down_proj")) g_down.push_back(in);
    }
    const CodeFlips flips = FindCodeFlips(e_down, g_down, checkpoint);
    if (flips.position < kLen) {
      const std::string experts = flips.linear.substr(0, flips.linear.rfind('.', flips.linear.rfind('.') - 1));
      KeepEarlier(first, {flips.position, emulation.OpOf(experts),
                          "the NVFP4 input of " + flips.linear + " quantizes otherwise, inputs " +
                              std::to_string(flips.relative_gap) + " of the row's magnitude apart",
                          flips.relative_gap <= kTieGap});
    }
  }
  return first;
}

// max |a[p, :] - b[p, :]| of one position of [kLen, kVocab] logits (b at `b_offset` positions into its array).
double RowDiff(const std::vector<float>& a, const std::vector<float>& b, int p, size_t b_offset = 0) {
  double diff = 0.0;
  for (int n = 0; n < kVocab; ++n) {
    diff = std::max(diff, std::fabs(double{a[p * kVocab + n]} - b[(b_offset + p) * kVocab + n]));
  }
  return diff;
}

// The router's k (Qwen3-MoE: num_experts_per_tok, Gemma 4: top_k_experts) from the fixture's config.json.
int TopK(const std::string& dir) {
  std::ifstream file(dir + "/config.json");
  const nlohmann::json config = nlohmann::json::parse(file);
  return config.value("num_experts_per_tok", config.value("top_k_experts", 0));
}

// A model of the checkpoint in `dir` loaded onto `backend` with the precision and cache `like` resolved, and the
// tensor source it was read from.
struct LoadedModel {
  std::unique_ptr<TensorSource> source;
  std::unique_ptr<Model> model;
};
LoadedModel LoadOnto(const Engine& like, const std::string& dir, Backend& backend) {
  LoadedModel loaded;
  auto file = SafetensorsReader::Open(dir);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (!file.ok()) return loaded;
  auto source = SplitExpertsSource::Wrap(std::move(*file));  // gemma4moe_tiny stores fused 3-D experts
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  if (!source.ok()) return loaded;
  loaded.source = std::move(*source);
  WeightLoader loader(*loaded.source, like.quant_config(), like.precision());
  loader.SetKvCacheFormat(like.kv_cache_format());
  auto model = like.blueprint().Load(loader, backend);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (model.ok()) loaded.model = std::move(*model);
  return loaded;
}

// The emulation of one sequence, given the GPU's pass `gpu` over `tokens`: the checkpoint in `dir` at the CPU
// engine `cpu`'s precision and cache on a FollowingBackend, its pass, where it parts from the GPU's and the ties it
// followed.
struct Emulation {
  Pass pass;
  Discontinuity parting;
  int64_t bf16_ties = 0, code_ties = 0, fp8_ties = 0;
};
Emulation Emulate(const Engine& cpu, const std::string& dir, const Pass& gpu, const std::vector<int32_t>& tokens) {
  Emulation emulation;
  const std::string checkpoint = dir + "/model.safetensors";
  auto scales = SafetensorsReader::Open(checkpoint);
  EXPECT_TRUE(scales.ok()) << scales.status().ToString();
  if (!scales.ok()) return emulation;
  const bool w4a4 = cpu.precision() == LinearScheme::kNvfp4;
  FollowingBackend following(gpu, w4a4, **scales);
  LoadedModel loaded = LoadOnto(cpu, dir, following);
  if (loaded.model == nullptr) return emulation;
  emulation.pass = RunPass(*loaded.model, following, tokens, &following);
  emulation.parting = FirstParting(following, emulation.pass, gpu, checkpoint, TopK(dir), w4a4);
  emulation.bf16_ties = following.bf16_ties();
  emulation.code_ties = following.code_ties();
  emulation.fp8_ties = following.fp8_ties();
  return emulation;
}

struct MoeCase {
  const char* fixture;    // under tests/fixtures
  const char* precision;  // the run label: weights, and the KV cache where not the one the checkpoint declares
  const char* reference;  // transformers' logits: file under tests/fixtures and tensor, or "" where none exists
  const char* tensor;
};
void PrintTo(const MoeCase& c, std::ostream* os) { *os << c.fixture << " " << c.precision; }

class CudaMoeFixtureTest : public ::testing::TestWithParam<MoeCase> {};

// Per sequence, over the positions p before the first place the GPU and the emulation part (FirstParting, which
// must be a tie), for every logit n, with scale = max |cpu logit| of the sequence:
//   |gpu - emulation|      <= kF32Tolerance * scale                                 (summation order)
//   |gpu - cpu|            <= that + max_n' |emulation - cpu|[p, n']                (triangle inequality)
//   |gpu - transformers|   <= that + max_n' |cpu - transformers|[p, n']             (triangle inequality)
// The first is the claim; the other two follow from it with measured quantities (what the GPU's bf16 rounding, and
// the FP8 and NVFP4 roundings it tips, move; the CPU engine's distance from the reference, itself held to 1e-4 of
// the scale by the CPU tests) and say where the GPU's numbers sit.
TEST_P(CudaMoeFixtureTest, LogitsAgainstTheEmulationTheCpuAndTransformers) {
  FP4LAB_REQUIRE_GPU();
  const MoeCase c = GetParam();
  const std::string dir = FixturePath(c.fixture);
  const std::string label = std::string(c.fixture) + " " + c.precision;
  auto gpu = testing::OpenEngine(dir, c.precision, "cuda");
  auto cpu = testing::OpenEngine(dir, c.precision, "cpu");
  ASSERT_TRUE(gpu && cpu);
  ASSERT_EQ(gpu->kv_cache_format(), cpu->kv_cache_format());
  const auto ids = ReadReference<int32_t>(dir + "/reference.safetensors", "input_ids");
  const std::vector<float> reference =
      *c.reference ? ReadReference<float>(FixturePath(c.reference), c.tensor) : std::vector<float>();
  int positions_checked = 0;
  for (int seq = 0; seq < 2; ++seq) {
    const std::vector<int32_t> tokens(ids.begin() + seq * kLen, ids.begin() + (seq + 1) * kLen);
    const Pass g = RunPass(gpu->model(), gpu->backend(), tokens);
    const Pass p = RunPass(cpu->model(), cpu->backend(), tokens);
    const Emulation emulation = Emulate(*cpu, dir, g, tokens);
    const Pass& e = emulation.pass;
    ASSERT_EQ(g.logits.size(), static_cast<size_t>(kLen * kVocab));
    ASSERT_EQ(p.logits.size(), g.logits.size());
    ASSERT_EQ(e.logits.size(), g.logits.size());
    const Discontinuity& parting = emulation.parting;
    const int n = parting.position;
    EXPECT_TRUE(parting.tie) << label << " sequence " << seq << ": the GPU and the emulation part at position " << n
                             << ", not at a tie: " << parting.what;

    double scale = 0.0;
    for (float v : p.logits) scale = std::max(scale, std::fabs(double{v}));
    const double tolerance = kF32Tolerance * scale;
    double vs_emulation = 0.0, vs_cpu = 0.0, vs_reference = 0.0, effect_max = 0.0;
    int failures = 0;
    for (int pos = 0; pos < n; ++pos) {
      const double effect = RowDiff(e.logits, p.logits, pos);
      const double cpu_vs_reference = reference.empty() ? 0.0 : RowDiff(p.logits, reference, pos, seq * kLen);
      effect_max = std::max(effect_max, effect);
      for (int v = 0; v < kVocab; ++v) {
        const size_t i = static_cast<size_t>(pos) * kVocab + v;
        const double to_emulation = std::fabs(double{g.logits[i]} - e.logits[i]);
        const double to_cpu = std::fabs(double{g.logits[i]} - p.logits[i]);
        const double to_reference =
            reference.empty() ? 0.0 : std::fabs(double{g.logits[i]} - reference[seq * kLen * kVocab + i]);
        vs_emulation = std::max(vs_emulation, to_emulation / tolerance);
        vs_cpu = std::max(vs_cpu, to_cpu / (tolerance + effect));
        vs_reference = std::max(vs_reference, to_reference / (tolerance + effect + cpu_vs_reference));
        if ((!(to_emulation <= tolerance) || !(to_cpu <= tolerance + effect) ||
             !(to_reference <= tolerance + effect + cpu_vs_reference)) &&
            ++failures <= 3) {
          ADD_FAILURE() << label << " sequence " << seq << " position " << pos << " logit " << v
                        << ": |gpu - emulation| " << to_emulation << " (bound " << tolerance << "), |gpu - cpu| "
                        << to_cpu << " (bound " << tolerance + effect << "), |gpu - " << c.tensor << "| "
                        << to_reference << " (bound " << tolerance + effect + cpu_vs_reference << ")";
        }
      }
    }
    EXPECT_EQ(failures, 0) << label << " sequence " << seq;
    positions_checked += n;
    std::cout << "[" << label << " (" << *gpu->backend().LinearPath(gpu->precision()) << "), sequence " << seq
              << "] positions 0.." << n - 1 << ": max |gpu - emulation| / bound = " << vs_emulation << " (bound "
              << tolerance << "), max |gpu - cpu| / bound = " << vs_cpu;
    if (!reference.empty()) std::cout << ", max |gpu - " << c.tensor << "| / bound = " << vs_reference;
    std::cout << "; max |emulation - cpu| = " << effect_max << "; GPU ties followed: " << emulation.bf16_ties
              << " bf16 inputs, " << emulation.code_ties << " NVFP4 blocks, " << emulation.fp8_ties
              << " FP8 K/V elements";
    if (n < kLen) std::cout << "; parts at position " << n << ": " << parting.what;
    std::cout << "\n";
  }
  // Not vacuous: at least one whole sequence's worth of positions was held to the bounds.
  EXPECT_GE(positions_checked, kLen) << label;
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, CudaMoeFixtureTest,
    ::testing::Values(
        MoeCase{"qwen3moe_tiny_nvfp4", "nvfp4-w4a16", "qwen3moe_tiny_nvfp4/reference.safetensors", "logits_w4a16_f32"},
        MoeCase{"qwen3moe_tiny_nvfp4", "nvfp4", "qwen3moe_tiny_nvfp4/reference.safetensors", "logits_w4a4_f32"},
        MoeCase{"qwen3moe_tiny_nvfp4", "nvfp4-w4a16+kv-fp8", "", ""},  // transformers' FP8-KV runs: Gemma 4 only
        MoeCase{"qwen3moe_tiny_nvfp4", "nvfp4+kv-fp8", "", ""},
        MoeCase{"gemma4moe_tiny_nvfp4", "nvfp4-w4a16+kv-bf16", "gemma4moe_tiny_nvfp4/reference.safetensors",
                "logits_w4a16_f32"},
        MoeCase{"gemma4moe_tiny_nvfp4", "nvfp4+kv-bf16", "gemma4moe_tiny_nvfp4/reference.safetensors",
                "logits_w4a4_f32"},
        MoeCase{"gemma4moe_tiny_nvfp4", "nvfp4-w4a16+kv-fp8", "gemma4moe_tiny_nvfp4/reference.safetensors",
                "logits_w4a16_kv8_f32"},
        MoeCase{"gemma4moe_tiny_nvfp4", "nvfp4+kv-fp8", "gemma4moe_tiny_nvfp4/reference.safetensors",
                "logits_w4a4_kv8_f32"},
        MoeCase{"gemma4moe_tiny", "bf16+kv-fp8", "gemma4moe_tiny_nvfp4/reference_kv8.safetensors",
                "logits_bf16w_kv8_f32"}),
    [](const ::testing::TestParamInfo<MoeCase>& info) {
      std::string name = std::string(info.param.fixture) + "_" + info.param.precision;
      std::replace_if(name.begin(), name.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); },
                      '_');
      return name;
    });

// The comparison's own machinery, on the CPU (no GPU needed): a stand-in for the GPU with its numerics (bf16 Linear
// inputs) and a different f32 evaluation (every Linear output moved by a fixed pseudo-random factor within
// 1 +- 2^-20, the spread of a K = 128..256 dot product's f32 rounding in another summation order) is followed tie by
// tie and matched at every position; the CPU engine itself (no bf16 rounding) is not: the emulation parts from it
// at position 0, at a difference that is no tie.
class GpuStandIn : public testing::DelegatingBackend {
 public:
  GpuStandIn() : DelegatingBackend(CreateCpuBackend()) {}
  Status Linear(const DeviceTensor& x, const DeviceLinear& w, DeviceTensor& y) override {
    std::vector<float> host = testing::Get(inner(), x);
    for (float& v : host) v = Bf16ToF32(F32ToBf16(v));
    FP4LAB_ASSIGN_OR_RETURN(auto rounded, inner().Allocate(x.rows(), x.cols()));
    FP4LAB_RETURN_IF_ERROR(inner().Upload(host, *rounded));
    FP4LAB_RETURN_IF_ERROR(inner().Linear(*rounded, w, y));
    std::vector<float> out = testing::Get(inner(), y);
    for (float& v : out) {
      state_ = state_ * 1664525u + 1013904223u;  // a linear congruential generator: fixed, platform-independent
      v = static_cast<float>(v * (1.0 + 0x1p-20 * (static_cast<double>(state_ >> 8) * 0x1p-23 - 1.0)));
    }
    return inner().Upload(out, y);
  }

 private:
  uint32_t state_ = 1;
};

TEST(MoeFixtureComparison, FollowsAStandInWithTheGpuNumericsAndRejectsTheCpuEngine) {
  const std::string dir = FixturePath("gemma4moe_tiny_nvfp4");
  auto cpu = testing::OpenEngine(dir, "nvfp4+kv-fp8", "cpu");
  ASSERT_NE(cpu, nullptr);
  const auto ids = ReadReference<int32_t>(dir + "/reference.safetensors", "input_ids");
  const std::vector<int32_t> tokens(ids.begin(), ids.begin() + kLen);
  GpuStandIn stand_in_backend;
  LoadedModel stand_in = LoadOnto(*cpu, dir, stand_in_backend);
  ASSERT_NE(stand_in.model, nullptr);
  const Pass g = RunPass(*stand_in.model, stand_in_backend, tokens);
  const Emulation followed = Emulate(*cpu, dir, g, tokens);
  ASSERT_EQ(followed.pass.logits.size(), g.logits.size());
  EXPECT_EQ(followed.parting.position, kLen) << followed.parting.what;
  EXPECT_GT(followed.bf16_ties, 0);  // the stand-in's f32 differences did tip bf16 roundings, and were followed
  double scale = 0.0, diff = 0.0;
  for (size_t i = 0; i < g.logits.size(); ++i) {
    scale = std::max(scale, std::fabs(double{followed.pass.logits[i]}));
    diff = std::max(diff, std::fabs(double{g.logits[i]} - followed.pass.logits[i]));
  }
  EXPECT_LE(diff, kF32Tolerance * scale);

  const Pass plain = RunPass(cpu->model(), cpu->backend(), tokens);
  const Emulation rejected = Emulate(*cpu, dir, plain, tokens);
  EXPECT_EQ(rejected.parting.position, 0);
  EXPECT_FALSE(rejected.parting.tie) << rejected.parting.what;
}

}  // namespace
}  // namespace fp4lab
