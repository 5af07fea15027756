// Engine's batched methods beyond ScoreBatch: pass planning (the memory budget of engine/batch_memory.h),
// LogitsBatch and GenerateBatch.
#include <algorithm>
#include <optional>
#include <random>

#include "engine/batch_memory.h"
#include "engine/engine.h"
#include "engine/sampler.h"

namespace fp4lab {

Result<std::vector<std::pair<size_t, size_t>>> Engine::PlanPasses(std::span<const size_t> lengths,
                                                                  bool host_logits) const {
  FP4LAB_RETURN_IF_ERROR(RequireWeights("a batched forward pass"));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t budget,
                          BatchMemoryBudget(*backend_, model_->WeightDeviceBytes(), options_.batch_memory_bytes));
  std::vector<std::pair<size_t, size_t>> passes;
  size_t begin = 0;
  while (begin < lengths.size()) {
    size_t end = begin + 1;
    int64_t rows = static_cast<int64_t>(lengths[begin]), longest = rows;
    while (end < lengths.size()) {
      const int64_t n = static_cast<int64_t>(lengths[end]);
      const int64_t next_longest = std::max(longest, n);
      const int64_t sequences = static_cast<int64_t>(end - begin) + 1;
      if (rows + n > kScoreBatchRows ||
          ScorePassBytes(*blueprint_, rows + n, sequences, next_longest, host_logits) > budget) {
        break;
      }
      rows += n;
      longest = next_longest;
      ++end;
    }
    passes.emplace_back(begin, end);
    begin = end;
  }
  return passes;
}

Status Engine::LogitsBatch(std::span<const LogitsSequence> batch, const LogitRowsConsumer& on_rows) {
  FP4LAB_RETURN_IF_ERROR(RequireCausal("logits"));
  std::vector<size_t> lengths;
  for (size_t i = 0; i < batch.size(); ++i) {
    const size_t n = batch[i].tokens.size();
    const std::string what = "logits of sequence " + std::to_string(i) + " of a batch";
    if (n == 0 || static_cast<int64_t>(n) > MaxContext()) {
      return Status::InvalidArgument(what + ": a forward pass of " + std::to_string(n) + " tokens; expected 1.." +
                                     std::to_string(MaxContext()));
    }
    if (batch[i].first_row < 0 || static_cast<size_t>(batch[i].first_row) >= n) {
      return Status::InvalidArgument(what + ": first row " + std::to_string(batch[i].first_row) +
                                     " outside a pass of " + std::to_string(n) + " tokens");
    }
    lengths.push_back(n);
  }
  FP4LAB_ASSIGN_OR_RETURN(const auto passes, PlanPasses(lengths, /*host_logits=*/true));
  const size_t vocab = static_cast<size_t>(config_.vocab_size);
  std::vector<float> host;
  for (const auto& [begin, end] : passes) {
    std::vector<std::vector<int32_t>> tokens;
    int64_t longest = 0, rows = 0;
    for (size_t i = begin; i < end; ++i) {
      tokens.emplace_back(batch[i].tokens.begin(), batch[i].tokens.end());
      longest = std::max<int64_t>(longest, static_cast<int64_t>(lengths[i]));
      rows += static_cast<int64_t>(lengths[i]);
    }
    FP4LAB_ASSIGN_OR_RETURN(auto cache, model_->NewCache(longest, static_cast<int>(end - begin)));
    FP4LAB_ASSIGN_OR_RETURN(auto logits, backend_->Allocate(rows, config_.vocab_size));
    FP4LAB_RETURN_IF_ERROR(model_->ForwardSequences(tokens, *cache, *logits));
    tokens_.forward += rows;
    host.resize(static_cast<size_t>(logits->size()));
    FP4LAB_RETURN_IF_ERROR(Download(*logits, host));
    size_t offset = 0;  // first row of sequence i in the pass
    for (size_t i = begin; i < end; ++i) {
      const size_t first = offset + static_cast<size_t>(batch[i].first_row);
      const size_t count = lengths[i] - static_cast<size_t>(batch[i].first_row);
      FP4LAB_RETURN_IF_ERROR(on_rows(i, std::span<const float>(host).subspan(first * vocab, count * vocab)));
      offset += lengths[i];
    }
  }
  return Status::Ok();
}

namespace {

// One request of a GenerateBatch while it holds a slot.
struct LiveRequest {
  size_t index = 0;      // into the requests
  int limit = 0;         // tokens it may generate: min(max_new_tokens, MaxContext - prompt + 1), as Generate
  std::mt19937_64 rng;   // seeded with its own sampling seed
  TokenId pending = 0;   // its last token, fed to the next decode step
};

}  // namespace

Result<std::vector<std::vector<TokenId>>> Engine::GenerateBatch(std::span<const GenerationRequest> requests,
                                                                const BatchTokenCallback& on_token) {
  FP4LAB_RETURN_IF_ERROR(RequireWeights("GenerateBatch"));
  // A diffusion model denoises one canvas of one sequence at a time: one Generate per request.
  if (config_.block_diffusion) return LanguageModel::GenerateBatch(requests, on_token);
  const int64_t context = MaxContext();
  std::vector<int> limits(requests.size(), 0);
  std::vector<size_t> waiting;  // requests with tokens to generate, in order
  int64_t capacity = 1, longest_prompt = 1;
  for (size_t i = 0; i < requests.size(); ++i) {
    const int64_t prompt = static_cast<int64_t>(requests[i].prompt.size());
    const int max_new = requests[i].max_new_tokens;
    if (prompt == 0 || prompt > context || (max_new > 0 && prompt >= context)) {
      return Status::InvalidArgument("generating request " + std::to_string(i) + " of a batch: a prompt of " +
                                     std::to_string(prompt) + " tokens leaves no room in the context of " +
                                     std::to_string(context) + " (at least BOS, and one position to generate)");
    }
    if (max_new <= 0) continue;
    limits[i] = static_cast<int>(std::min<int64_t>(max_new, context - prompt + 1));
    // The last token is sampled but never fed back, so a request occupies prompt + limit - 1 positions.
    capacity = std::max(capacity, prompt + limits[i] - 1);
    longest_prompt = std::max(longest_prompt, prompt);
    waiting.push_back(i);
  }
  std::vector<std::vector<TokenId>> out(requests.size());
  if (waiting.empty()) return out;
  FP4LAB_ASSIGN_OR_RETURN(const int64_t budget,
                          BatchMemoryBudget(*backend_, model_->WeightDeviceBytes(), options_.batch_memory_bytes));
  const int slots =
      GenerationSlots(*blueprint_, budget, capacity, longest_prompt, static_cast<int64_t>(waiting.size()));
  FP4LAB_ASSIGN_OR_RETURN(auto cache, model_->NewCache(capacity, slots));
  const std::vector<TokenId> eos_ids = EosIds();
  const size_t vocab = static_cast<size_t>(config_.vocab_size);
  std::vector<std::optional<LiveRequest>> live(static_cast<size_t>(slots));
  std::vector<float> host;

  // Samples request `r`'s next token from `row` as Generate does; false when the request has ended.
  const auto advance = [&](LiveRequest& r, std::span<const float> row) {
    const TokenId next = SampleToken(row, requests[r.index].sampling, r.rng);
    if (std::find(eos_ids.begin(), eos_ids.end(), next) != eos_ids.end()) return false;
    std::vector<TokenId>& generated = out[r.index];
    generated.push_back(next);
    ++tokens_.generated;
    if (on_token && !on_token(r.index, next)) return false;
    r.pending = next;
    return static_cast<int>(generated.size()) < r.limit;
  };
  // Gives every free slot a waiting request (lowest slot first): its prompt is prefilled into the slot and its
  // first token sampled; a request that ends at once leaves the slot free for the next.
  size_t next_waiting = 0;
  const auto fill = [&]() -> Status {
    for (size_t s = 0; s < live.size(); ++s) {
      while (!live[s] && next_waiting < waiting.size()) {
        LiveRequest r;
        r.index = waiting[next_waiting++];
        r.limit = limits[r.index];
        r.rng.seed(requests[r.index].sampling.seed);
        const std::span<const TokenId> prompt = requests[r.index].prompt;
        cache->lengths[s] = 0;
        FP4LAB_ASSIGN_OR_RETURN(auto logits, backend_->Allocate(static_cast<int64_t>(prompt.size()), config_.vocab_size));
        FP4LAB_RETURN_IF_ERROR(model_->Forward(prompt, *cache, static_cast<int>(s), *logits));
        tokens_.forward += static_cast<int64_t>(prompt.size());
        host.resize(static_cast<size_t>(logits->size()));
        FP4LAB_RETURN_IF_ERROR(Download(*logits, host));
        if (advance(r, std::span<const float>(host).subspan(host.size() - vocab))) live[s] = std::move(r);
      }
    }
    return Status::Ok();
  };

  std::unique_ptr<DeviceTensor> step_logits;
  while (true) {
    FP4LAB_RETURN_IF_ERROR(fill());
    // The step covers slots 0 .. the highest live one; free slots below it decode a BOS at position 0.
    int64_t active = 0;
    for (size_t s = 0; s < live.size(); ++s) {
      if (live[s]) active = static_cast<int64_t>(s) + 1;
    }
    if (active == 0) break;
    std::vector<TokenId> step_tokens(static_cast<size_t>(active));
    for (int64_t s = 0; s < active; ++s) {
      if (live[s]) {
        step_tokens[s] = live[s]->pending;
      } else {
        step_tokens[s] = BosId();
        cache->lengths[s] = 0;
      }
    }
    if (!step_logits || step_logits->rows() != active) {
      step_logits.reset();  // the old buffer goes before the new one is allocated
      FP4LAB_ASSIGN_OR_RETURN(step_logits, backend_->Allocate(active, config_.vocab_size));
    }
    // Narrow the cache to its first `active` sequences for the step (the others' rows stay where they are).
    cache->lengths.resize(static_cast<size_t>(active));
    const Status stepped = model_->DecodeStep(step_tokens, *cache, *step_logits);
    cache->lengths.resize(static_cast<size_t>(slots), 0);
    FP4LAB_RETURN_IF_ERROR(stepped);
    host.resize(static_cast<size_t>(step_logits->size()));
    FP4LAB_RETURN_IF_ERROR(Download(*step_logits, host));
    for (int64_t s = 0; s < active; ++s) {
      if (!live[s]) continue;
      if (!advance(*live[s], std::span<const float>(host).subspan(static_cast<size_t>(s) * vocab, vocab))) {
        live[s].reset();
      }
    }
  }
  return out;
}

}  // namespace fp4lab
