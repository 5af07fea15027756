#include "harness/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace fp4lab {
namespace {

std::string Fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

// "850", "12.3k", "2.1M": token counts at a glance.
std::string Count(int64_t n) {
  if (n < 10000) return std::to_string(n);
  if (n < 1000000) return Fixed(static_cast<double>(n) / 1e3, 1) + "k";
  return Fixed(static_cast<double>(n) / 1e6, 1) + "M";
}

}  // namespace

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(std::max(seconds, 0.0)));
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  }
  return buf;
}

std::string FormatProgress(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                           const TokenCounts& tokens) {
  std::string line = "[" + label + "] " + std::to_string(done) + "/" + std::to_string(total) + " items";
  if (elapsed_s <= 0.0) return line;
  const double rate = static_cast<double>(done) / elapsed_s;
  line += ", " + Fixed(rate, 1) + " items/s";
  line += ", " + Fixed(static_cast<double>(tokens.forward) / elapsed_s, 0) + " forward tok/s";
  line += ", " + Fixed(static_cast<double>(tokens.generated) / elapsed_s, 0) + " generated tok/s";
  if (rate > 0.0 && done < total) line += ", ETA " + FormatDuration(static_cast<double>(total - done) / rate);
  return line;
}

std::string FormatProgressDone(const std::string& label, int64_t done, double elapsed_s, const TokenCounts& tokens) {
  const auto per_second = [elapsed_s](int64_t n) {
    return elapsed_s > 0.0 ? " (" + Fixed(static_cast<double>(n) / elapsed_s, 0) + " tok/s)" : std::string();
  };
  std::string line = "[" + label + "] done: " + std::to_string(done) + " items in " + FormatDuration(elapsed_s);
  line += ", " + Count(tokens.forward) + " forward tokens" + (tokens.forward > 0 ? per_second(tokens.forward) : "");
  line += ", " + Count(tokens.generated) + " generated" + (tokens.generated > 0 ? per_second(tokens.generated) : "");
  return line;
}

Progress::Progress(std::string label, ProgressOptions options)
    : label_(std::move(label)),
      options_(std::move(options)),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_tokens_(options_.tokens ? options_.tokens() : TokenCounts{}),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

TokenCounts Progress::TokensSinceStart() const {
  if (!options_.tokens) return {};
  const TokenCounts now = options_.tokens();
  return {now.forward - start_tokens_.forward, now.generated - start_tokens_.generated};
}

void Progress::Update(int64_t done, int64_t total) {
  done_ = done;
  total_ = total;
  if (options_.quiet) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  if (since_print < (tty_ ? 0.2 : 10.0) && done < total) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const std::string line = FormatProgress(label_, done, total, elapsed, TokensSinceStart());
  std::fprintf(stderr, "%s%s%s", tty_ ? "\r" : "", line.c_str(), tty_ ? "\033[K" : "\n");
  std::fflush(stderr);
}

void Progress::Finish() {
  if (options_.quiet) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line = FormatProgressDone(label_, done_, elapsed, TokensSinceStart());
  std::fprintf(stderr, "%s%s%s\n", tty_ ? "\r" : "", line.c_str(), tty_ ? "\033[K" : "");
}

}  // namespace fp4lab
