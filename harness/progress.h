// Progress of long work on stderr: a live line with items/s and ETA on a terminal, or a plain line every 10 s
// (and at the end) otherwise, so CI logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace fp4lab {

class Progress {
 public:
  explicit Progress(std::string label);
  // `done` of `total` items finished so far.
  void Update(int64_t done, int64_t total);
  // Prints the final line (items, elapsed time).
  void Finish();

 private:
  std::string label_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
  int64_t done_ = 0, total_ = 0;
};

}  // namespace fp4lab
