// Google Benchmark micro-benchmarks of the CPU reference Linear, one per scheme, on Llama-like square shapes
// small enough for a CI machine: y[M, N] = x[M, K] * W^T with N = K. Weights come from the synthetic source
// (engine/synthetic_weights.h) through the weight loader, exactly as a preset model loads them; x is random (never
// zeros). Counters (per second of iteration time):
//   FLOP/s    2 * M * N * K
//   stored/s  the scheme's stored weight bytes (LinearWeights::StoredBytes) per call
//   min_bytes/s  the fewest bytes a call must move on this backend: its f32 copy of W read once (the CPU reference
//             decodes every scheme to f32 at load) plus x read and y written once, 4 * (N * K + M * K + M * N)
// The CPU reference decodes every scheme to f32 at load, so its time per call should not depend on the scheme
// except for the W4A4/FP8 activation quantization; GPU kernel benchmarks join this binary from engine/cuda.
#include <random>

#include <benchmark/benchmark.h>

#include "engine/arch/architecture.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/synthetic_weights.h"
#include "engine/weight_loader.h"

namespace fp4lab {
namespace {

constexpr LinearScheme kSchemes[] = {LinearScheme::kBf16, LinearScheme::kNvfp4W4A16, LinearScheme::kNvfp4,
                                     LinearScheme::kFp8};

void BM_CpuLinear(benchmark::State& state) {
  const LinearScheme scheme = kSchemes[state.range(0)];
  const int64_t m = state.range(1), nk = state.range(2);
  const nlohmann::json config_json = {{"model_type", "llama"},          {"hidden_size", nk},
                                      {"intermediate_size", nk},        {"num_hidden_layers", 1},
                                      {"num_attention_heads", nk / 64}, {"vocab_size", 256}};
  auto blueprint = ParseModelBlueprint(config_json, "bench");
  if (!blueprint.ok()) {
    state.SkipWithError(blueprint.status().message().c_str());
    return;
  }
  auto source = SyntheticWeights::Create((*blueprint)->manifest(), {scheme, 0, "bench"});
  if (!source.ok()) {
    state.SkipWithError("cannot build the synthetic layer");
    return;
  }
  WeightLoader loader(**source, (*source)->quant_config(), scheme);
  auto weights = loader.Linear("model.layers.0.mlp.down_proj");
  auto backend = CreateCpuBackend();
  if (!weights.ok()) {
    state.SkipWithError(weights.status().message().c_str());
    return;
  }
  auto linear = backend->PrepareLinear(*weights);
  auto x = backend->Allocate(m, nk);
  auto y = backend->Allocate(m, nk);
  std::vector<float> host(static_cast<size_t>(m * nk));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : host) v = normal(rng);
  if (!linear.ok() || !x.ok() || !y.ok() || !backend->Upload(host, **x).ok()) {
    state.SkipWithError("cannot prepare the layer");
    return;
  }
  for (auto _ : state) {
    const Status status = backend->Linear(**x, **linear, **y);
    if (!status.ok()) {
      state.SkipWithError(status.message().c_str());
      return;
    }
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(m) * nk * nk;
  const double min_bytes = 4.0 * (static_cast<double>(nk) * nk + 2.0 * m * nk);
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["stored/s"] = benchmark::Counter(static_cast<double>(weights->StoredBytes()),
                                                  benchmark::Counter::kIsIterationInvariantRate,
                                                  benchmark::Counter::kIs1024);
  state.counters["min_bytes/s"] =
      benchmark::Counter(min_bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1024);
  state.SetLabel(LinearSchemeName(scheme));
}

// Scheme index x M x N=K.
BENCHMARK(BM_CpuLinear)
    ->ArgNames({"scheme", "M", "NK"})
    ->ArgsProduct({{0, 1, 2, 3}, {1, 16}, {512}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace fp4lab
