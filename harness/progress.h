// Progress of long work on stderr: a live line on a terminal, or a plain line every 10 s (and at the end) otherwise,
// so CI logs stay readable; nothing at all when quiet (e.g. `run --json`, whose stdout a program reads).
// A line: "[mmlu/bf16] 1200/14042 items, 35.2 items/s, 8120 forward tok/s, 0 generated tok/s, ETA 6m05s"; token
// rates come from the model's counters (engine/engine.h TokenCounts) since this Progress was created.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "engine/engine.h"

namespace fp4lab {

// The line Update prints (no "\r" or newline). `elapsed_s` > 0 gives rates and an ETA; `tokens` are counted since
// the start.
std::string FormatProgress(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                           const TokenCounts& tokens);
// The line Finish prints: "[mmlu/bf16] done: 14042 items in 6m40s, 2.1M forward tokens (5250 tok/s), 0 generated".
std::string FormatProgressDone(const std::string& label, int64_t done, double elapsed_s, const TokenCounts& tokens);
// "45s", "6m05s", "2h03m".
std::string FormatDuration(double seconds);

struct ProgressOptions {
  bool quiet = false;
  std::function<TokenCounts()> tokens;  // the model's running counters; null = no token rates
};

class Progress {
 public:
  explicit Progress(std::string label, ProgressOptions options = ProgressOptions());
  // `done` of `total` items finished so far.
  void Update(int64_t done, int64_t total);
  // Prints the final line (items, elapsed time, tokens).
  void Finish();

 private:
  TokenCounts TokensSinceStart() const;

  std::string label_;
  ProgressOptions options_;
  bool tty_;
  TokenCounts start_tokens_;
  std::chrono::steady_clock::time_point start_, last_print_;
  int64_t done_ = 0, total_ = 0;
};

}  // namespace fp4lab
