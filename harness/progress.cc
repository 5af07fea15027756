#include "harness/progress.h"

#include <unistd.h>

#include <cstdio>

namespace fp4lab {

Progress::Progress(std::string label)
    : label_(std::move(label)),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

void Progress::Update(int64_t done, int64_t total) {
  done_ = done;
  total_ = total;
  const auto now = std::chrono::steady_clock::now();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  if (since_print < (tty_ ? 0.2 : 10.0) && done < total) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total - done) / rate : 0.0;
  std::fprintf(stderr, "%s[%s] %lld/%lld items, %.1f items/s, ETA %.0f s%s", tty_ ? "\r" : "", label_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total), rate, eta, tty_ ? "   " : "\n");
  std::fflush(stderr);
}

void Progress::Finish() {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%s[%s] done: %lld items in %.1f s\n", tty_ ? "\r" : "", label_.c_str(),
               static_cast<long long>(done_), elapsed);
}

}  // namespace fp4lab
