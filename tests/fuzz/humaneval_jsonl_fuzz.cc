// libFuzzer target: HumanEval JSONL, read both as a problems file and as a samples file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "datasets/humaneval_jsonl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)fp4lab::ParseHumanEvalProblems(text, "problems.jsonl");
  (void)fp4lab::ParseHumanEvalSamples(text, "samples.jsonl");
  return 0;
}
