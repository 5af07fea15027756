// FakeLanguageModel: a deterministic LanguageModel for task tests (no weights, no tokenizer files).
//
// Tokens: 0 <unk>, 1 BOS, 2 EOS; Encode maps each byte b of the text to token 3 + b % (vocab_size - 3), and
// Decode maps token t >= 3 back to the byte t - 3 (special tokens decode to nothing), so Decode(Encode(s)) == s
// whenever vocab_size >= 259 (the default).
// Logits: row i depends only on tokens[0..i] (causal, as a real model): by default every entry is a pseudo-random
// value in [-3, 3) drawn from a hash of (seed, the prefix, the vocab id), plus `noise` times another such value in
// [-1, 1) when noise != 0 (a "quantized" twin of the same seed). `row_function`, when set, replaces all of that
// and writes the row itself (for closed-form tests). The model records every Logits() input in forwards().
// Generate runs Logits over prompt + generated tokens each step and samples with engine/sampler.h.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/language_model.h"
#include "engine/sampler.h"

namespace fp4lab::testing {

struct FakeModelOptions {
  int vocab_size = 259;  // REQUIRES > 3
  int max_context = 64;
  uint64_t seed = 0;
  float noise = 0.0f;
  // Writes the logits row for the prefix tokens[0..i] into `row` (VocabSize() floats).
  std::function<void(std::span<const TokenId> prefix, std::span<float> row)> row_function = nullptr;
};

class FakeLanguageModel : public LanguageModel {
 public:
  explicit FakeLanguageModel(FakeModelOptions options = {}) : options_(std::move(options)) {}

  std::string Describe() const override { return "fake model, vocab " + std::to_string(options_.vocab_size); }
  int VocabSize() const override { return options_.vocab_size; }
  int MaxContext() const override { return options_.max_context; }
  TokenId BosId() const override { return 1; }
  TokenId EosId() const override { return 2; }

  Result<std::vector<TokenId>> Encode(std::string_view text) const override {
    std::vector<TokenId> tokens;
    tokens.reserve(text.size());
    for (unsigned char byte : text) tokens.push_back(3 + static_cast<TokenId>(byte % (options_.vocab_size - 3)));
    return tokens;
  }

  std::string Decode(std::span<const TokenId> tokens) const override {
    std::string text;
    for (TokenId t : tokens) {
      if (t >= 3) text.push_back(static_cast<char>(t - 3));
    }
    return text;
  }

  Result<std::vector<float>> Logits(std::span<const TokenId> tokens) override {
    if (tokens.empty() || tokens.size() > static_cast<size_t>(options_.max_context)) {
      return Status::InvalidArgument("FakeLanguageModel::Logits: " + std::to_string(tokens.size()) +
                                     " tokens; expected 1.." + std::to_string(options_.max_context));
    }
    forwards_.emplace_back(tokens.begin(), tokens.end());
    const size_t vocab = static_cast<size_t>(options_.vocab_size);
    std::vector<float> logits(tokens.size() * vocab);
    uint64_t prefix_hash = Mix(options_.seed);
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] >= options_.vocab_size) {
        return Status::InvalidArgument("FakeLanguageModel::Logits: token " + std::to_string(tokens[i]) +
                                       " outside the vocabulary");
      }
      prefix_hash = Mix(prefix_hash ^ (static_cast<uint64_t>(tokens[i]) + 0x9E3779B97F4A7C15ull));
      const std::span<float> row(logits.data() + i * vocab, vocab);
      if (options_.row_function) {
        options_.row_function(tokens.subspan(0, i + 1), row);
        continue;
      }
      for (size_t v = 0; v < vocab; ++v) {
        row[v] = 6.0f * (Uniform(prefix_hash, v, 1) - 0.5f);
        if (options_.noise != 0.0f) row[v] += options_.noise * 2.0f * (Uniform(prefix_hash, v, 2) - 0.5f);
      }
    }
    return logits;
  }

  Result<std::vector<TokenId>> Generate(std::span<const TokenId> prompt, int max_new_tokens,
                                        const SamplingOptions& sampling,
                                        const std::function<bool(TokenId)>& on_token) override {
    std::mt19937_64 rng(sampling.seed);
    std::vector<TokenId> sequence(prompt.begin(), prompt.end());
    std::vector<TokenId> generated;
    for (int step = 0; step < max_new_tokens; ++step) {
      auto logits = Logits(sequence);
      if (!logits.ok()) return logits.status();
      const size_t vocab = static_cast<size_t>(options_.vocab_size);
      const std::span<const float> last(logits->data() + (sequence.size() - 1) * vocab, vocab);
      const TokenId next = SampleToken(last, sampling, rng);
      if (next == EosId()) break;
      generated.push_back(next);
      sequence.push_back(next);
      if (!on_token(next)) break;
    }
    return generated;
  }

  // Every Logits() input so far, in call order.
  const std::vector<std::vector<TokenId>>& forwards() const { return forwards_; }

 private:
  // splitmix64 finalizer: a bijective 64-bit mix.
  static uint64_t Mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  // A value in [0, 1) from (prefix hash, vocab id, stream), 24 random bits so it is exact in float.
  static float Uniform(uint64_t prefix_hash, size_t v, uint64_t stream) {
    const uint64_t h = Mix(prefix_hash ^ Mix(static_cast<uint64_t>(v) * 4 + stream));
    return static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
  }

  FakeModelOptions options_;
  std::vector<std::vector<TokenId>> forwards_;
};

}  // namespace fp4lab::testing
