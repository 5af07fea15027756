// Batched against one-at-a-time evaluation on the CPU reference, on the bundled model (stories260K), both measured in
// the same run: scoring (perplexity's llama.cpp chunks: Engine::ScoreBatch against one ScoreTokens per chunk) and
// generation (Engine::GenerateBatch against one Generate per prompt). Counter: tokens/s (scored, or generated).
// On the CPU every row costs the same whatever the batch, so the difference measured here is the per-call overhead
// the batch removes, not the GPU's gain from larger GEMMs; claim nothing beyond what this prints.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "engine/engine.h"

namespace fp4lab {
namespace {

constexpr int kChunks = 16;
constexpr int kChunkTokens = 128;
constexpr int kPrompts = 8;
constexpr int kNewTokens = 32;

Engine* Stories() {
  static std::unique_ptr<Engine> engine = [] {
    EngineOptions options;
    options.model_dir = std::string(FP4LAB_SOURCE_DIR) + "/datasets/models/stories260K";
    auto opened = Engine::Open(options);
    return opened.ok() ? std::move(opened).value() : nullptr;
  }();
  return engine.get();
}

// Deterministic token ids in [3, vocab) with BOS first.
std::vector<TokenId> Tokens(int n, int salt, int vocab) {
  std::vector<TokenId> t(static_cast<size_t>(n));
  t[0] = 1;
  for (int i = 1; i < n; ++i) t[static_cast<size_t>(i)] = 3 + (i * 131 + salt * 17) % (vocab - 3);
  return t;
}

void BM_ChunkScoring(benchmark::State& state) {
  const bool batched = state.range(0) == 1;
  Engine* engine = Stories();
  if (engine == nullptr) {
    state.SkipWithError("cannot open datasets/models/stories260K");
    return;
  }
  std::vector<std::vector<TokenId>> chunks;
  std::vector<std::vector<ScoreRequest>> requests(kChunks);
  std::vector<ScoreSequence> batch;
  for (int c = 0; c < kChunks; ++c) {
    chunks.push_back(Tokens(kChunkTokens, c, engine->VocabSize()));
    for (int r = kChunkTokens / 2; r + 1 < kChunkTokens; ++r) requests[c].push_back({r, chunks[c][r + 1]});
  }
  for (int c = 0; c < kChunks; ++c) batch.push_back({chunks[c], requests[c]});
  int64_t scored = 0;
  for (auto _ : state) {
    if (batched) {
      auto scores = engine->ScoreBatch(batch);
      if (!scores.ok()) state.SkipWithError(scores.status().message().c_str());
    } else {
      for (const ScoreSequence& s : batch) {
        auto scores = engine->ScoreTokens(s.tokens, s.requests);
        if (!scores.ok()) state.SkipWithError(scores.status().message().c_str());
      }
    }
    for (const auto& r : requests) scored += static_cast<int64_t>(r.size());
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(scored), benchmark::Counter::kIsRate);
  state.SetLabel(batched ? "ScoreBatch" : "ScoreTokens per chunk");
}
BENCHMARK(BM_ChunkScoring)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Generation(benchmark::State& state) {
  const bool batched = state.range(0) == 1;
  Engine* engine = Stories();
  if (engine == nullptr) {
    state.SkipWithError("cannot open datasets/models/stories260K");
    return;
  }
  std::vector<std::vector<TokenId>> prompts;
  std::vector<GenerationRequest> requests;
  for (int p = 0; p < kPrompts; ++p) prompts.push_back(Tokens(16 + p, p, engine->VocabSize()));
  // A request may end early at EOS: the counter counts the tokens actually generated.
  for (int p = 0; p < kPrompts; ++p) requests.push_back({prompts[p], kNewTokens, {0.8f, 0, 1.0f, static_cast<uint64_t>(p)}});
  const int64_t before = engine->TokensProcessed().generated;
  for (auto _ : state) {
    if (batched) {
      auto out = engine->GenerateBatch(requests, nullptr);
      if (!out.ok()) state.SkipWithError(out.status().message().c_str());
    } else {
      for (const GenerationRequest& r : requests) {
        auto out = engine->Generate(r.prompt, r.max_new_tokens, r.sampling, nullptr);
        if (!out.ok()) state.SkipWithError(out.status().message().c_str());
      }
    }
  }
  const double generated = static_cast<double>(engine->TokensProcessed().generated - before);
  state.counters["tokens/s"] = benchmark::Counter(generated, benchmark::Counter::kIsRate);
  state.SetLabel(batched ? "GenerateBatch" : "Generate per prompt");
}
BENCHMARK(BM_Generation)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fp4lab
