// libFuzzer target: an MMLU release CSV (question, four choices, answer letter) through ParseMmluCsv. Accepted
// questions must be valid UTF-8 with an answer in 0..3.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "datasets/mmlu_csv.h"
#include "datasets/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto questions = fp4lab::ParseMmluCsv(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.csv");
  if (!questions.ok()) return 0;
  for (const auto& q : *questions) {
    if (q.answer < 0 || q.answer > 3 || fp4lab::FindInvalidUtf8(q.question)) std::abort();
  }
  return 0;
}
