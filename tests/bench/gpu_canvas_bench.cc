// Google Benchmark of the block-diffusion step ops at DiffusionGemma's released shape (canvas C = 256, vocabulary
// V = 262,144: 268 MB of f32 logits), through the CUDA backend as diffusion_gemma.cc calls them, against the host
// path they replace (the Backend defaults: download the logits, the row functions on the host, upload):
//   BM_ProcessCanvasRows/device:1  CudaBackend::ProcessCanvasRows: uniforms up, the kernel, C outcomes down, sync
//   BM_ProcessCanvasRows/device:0  Backend::ProcessCanvasRows (host): [C, V] down, ProcessCanvasRow per row, up
//   BM_SelfConditioningSoftmax/device:1  the kernel + Backend::Synchronize
//   BM_SelfConditioningSoftmax/device:0  Backend::SelfConditioningSoftmax (host): down, softmax per row, up
// Time per call is wall time (each call ends synchronized). Temperature 1 keeps the logits unchanged from call to
// call. Built only with the CUDA backend (tests/CMakeLists.txt); without a device every benchmark skips.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "engine/backend.h"

namespace fp4lab {
namespace {

constexpr int64_t kCanvas = 256;
constexpr int64_t kVocab = 262144;

struct Setup {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DeviceTensor> logits, probs;
  std::vector<double> uniforms;
  std::vector<CanvasRowOutcome> outcomes;
};

// The backend and buffers, or null with the benchmark skipped and the reason given.
std::unique_ptr<Setup> MakeSetup(benchmark::State& state) {
  auto setup = std::make_unique<Setup>();
  auto backend = CreateBackend("cuda");
  if (!backend.ok()) {
    state.SkipWithError(("no CUDA backend: " + backend.status().ToString()).c_str());
    return nullptr;
  }
  setup->backend = std::move(backend).value();
  auto logits = setup->backend->Allocate(kCanvas, kVocab);
  auto probs = setup->backend->Allocate(kCanvas, kVocab);
  if (!logits.ok() || !probs.ok()) {
    state.SkipWithError("cannot allocate two [256, 262144] f32 tensors");
    return nullptr;
  }
  setup->logits = std::move(logits).value();
  setup->probs = std::move(probs).value();
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> host(static_cast<size_t>(kCanvas * kVocab));
  for (float& x : host) x = normal(rng);
  if (!setup->backend->Upload(host, *setup->logits).ok()) {
    state.SkipWithError("upload failed");
    return nullptr;
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int64_t c = 0; c < kCanvas; ++c) setup->uniforms.push_back(uniform(rng));
  setup->outcomes.resize(static_cast<size_t>(kCanvas));
  return setup;
}

void BM_ProcessCanvasRows(benchmark::State& state) {
  const bool device = state.range(0) != 0;
  auto s = MakeSetup(state);
  if (!s) return;
  for (auto _ : state) {
    const Status status =
        device ? s->backend->ProcessCanvasRows(*s->logits, 1.0f, s->uniforms, s->outcomes)
               : s->backend->Backend::ProcessCanvasRows(*s->logits, 1.0f, s->uniforms, s->outcomes);
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(s->outcomes.data());
  }
}

void BM_SelfConditioningSoftmax(benchmark::State& state) {
  const bool device = state.range(0) != 0;
  auto s = MakeSetup(state);
  if (!s) return;
  for (auto _ : state) {
    Status status = device ? s->backend->SelfConditioningSoftmax(*s->logits, true, *s->probs)
                           : s->backend->Backend::SelfConditioningSoftmax(*s->logits, true, *s->probs);
    if (status.ok()) status = s->backend->Synchronize();
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      return;
    }
  }
}

BENCHMARK(BM_ProcessCanvasRows)->ArgName("device")->Arg(1)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SelfConditioningSoftmax)
    ->ArgName("device")
    ->Arg(1)
    ->Arg(0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fp4lab
