#include "tasks/reference_logprobs.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "tasks/lm_requests.h"

namespace fp4lab {
namespace {

static_assert(std::endian::native == std::endian::little, "the stored rows are little-endian");

constexpr double kMaxCode = 65535.0;
constexpr double kFloorBelowUniform = 28.0;  // floor = -(ln vocab + 28): clamped mass <= e^-28

struct RowHeader {
  uint32_t vocab;
  int32_t argmax;
  int32_t correct;
  float floor;
  float step;
  double correct_logprob;
};
constexpr size_t kHeaderBytes = 4 + 4 + 4 + 4 + 4 + 8;

template <typename T>
void Put(std::string& out, size_t& offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof(T));
  offset += sizeof(T);
}

template <typename T>
T Get(std::string_view in, size_t& offset) {
  T value;
  std::memcpy(&value, in.data() + offset, sizeof(T));
  offset += sizeof(T);
  return value;
}

}  // namespace

std::string CompressReferenceRow(std::span<const float> logits, TokenId correct) {
  const std::vector<double> lp = LogSoftmax(logits);
  const size_t vocab = lp.size();
  const double top = *std::max_element(lp.begin(), lp.end());
  const double lowest = *std::min_element(lp.begin(), lp.end());
  const double floor_limit = -(std::log(static_cast<double>(vocab)) + kFloorBelowUniform);
  const float floor = static_cast<float>(std::max(lowest, floor_limit));
  // Rounded up so that top maps to a code <= 65535; a row of equal logits gets a positive step all the same.
  float step = static_cast<float>((top - static_cast<double>(floor)) / kMaxCode);
  while (static_cast<double>(floor) + kMaxCode * static_cast<double>(step) < top) {
    step = std::nextafter(step, INFINITY);
  }
  if (step <= 0.0f) step = std::numeric_limits<float>::min();

  std::string out(kHeaderBytes + 2 * vocab, '\0');
  size_t offset = 0;
  Put<uint32_t>(out, offset, static_cast<uint32_t>(vocab));
  Put<int32_t>(out, offset, ArgMax(logits));
  Put<int32_t>(out, offset, correct);
  Put<float>(out, offset, floor);
  Put<float>(out, offset, step);
  Put<double>(out, offset, lp[static_cast<size_t>(correct)]);
  for (const double x : lp) {
    const double code = std::nearbyint((std::max(x, static_cast<double>(floor)) - floor) / step);
    Put<uint16_t>(out, offset, static_cast<uint16_t>(std::clamp(code, 0.0, kMaxCode)));
  }
  return out;
}

Result<ReferenceRow> DecompressReferenceRow(std::string_view bytes, int vocab, const std::string& what) {
  if (vocab < 1 || bytes.size() != kHeaderBytes + 2 * static_cast<size_t>(vocab)) {
    return Status::InvalidArgument(what + ": a stored reference row of " + std::to_string(bytes.size()) +
                                   " bytes; expected " + std::to_string(kHeaderBytes + 2 * static_cast<size_t>(vocab)) +
                                   " for a vocabulary of " + std::to_string(vocab));
  }
  size_t offset = 0;
  RowHeader header;
  header.vocab = Get<uint32_t>(bytes, offset);
  header.argmax = Get<int32_t>(bytes, offset);
  header.correct = Get<int32_t>(bytes, offset);
  header.floor = Get<float>(bytes, offset);
  header.step = Get<float>(bytes, offset);
  header.correct_logprob = Get<double>(bytes, offset);
  const auto in_vocab = [vocab](int32_t id) { return id >= 0 && id < vocab; };
  if (header.vocab != static_cast<uint32_t>(vocab) || !in_vocab(header.argmax) || !in_vocab(header.correct) ||
      !std::isfinite(header.floor) || !(header.step > 0.0f) || !std::isfinite(header.step) ||
      !(header.correct_logprob <= 0.0)) {
    return Status::InvalidArgument(what + ": the stored reference row's header is not valid (vocab " +
                                   std::to_string(header.vocab) + ", argmax " + std::to_string(header.argmax) +
                                   ", correct " + std::to_string(header.correct) + ")");
  }
  ReferenceRow row;
  row.argmax = header.argmax;
  row.correct = header.correct;
  row.correct_logprob = header.correct_logprob;
  row.max_logprob_error = static_cast<double>(header.step);  // 2d = step
  row.logprobs.resize(static_cast<size_t>(vocab));
  double top = -INFINITY;
  for (double& x : row.logprobs) {
    x = static_cast<double>(header.floor) + static_cast<double>(Get<uint16_t>(bytes, offset)) * header.step;
    top = std::max(top, x);
  }
  double sum = 0.0;
  for (const double x : row.logprobs) sum += std::exp(x - top);
  const double log_norm = top + std::log(sum);
  for (double& x : row.logprobs) x -= log_norm;
  return row;
}

double KlCompressionBound(const ReferenceRow& row, std::span<const double> candidate_logprobs) {
  const double e = std::expm1(row.max_logprob_error);  // e^{2d} - 1
  double weighted = 0.0;  // sum_v p''_v (|lp''_v - lq_v| + 2d) >= e^{-2d} sum_v p_v |lp_v - lq_v|
  for (size_t v = 0; v < row.logprobs.size(); ++v) {
    weighted += std::exp(row.logprobs[v]) * (std::abs(row.logprobs[v] - candidate_logprobs[v]) + row.max_logprob_error);
  }
  return e * (1.0 + e) * weighted + e * e;
}

}  // namespace fp4lab
