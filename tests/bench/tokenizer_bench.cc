// Encoding speed of tokenizer.json, single thread: the bundled WikiText-2 sample (datasets/wikitext2) encoded whole,
// without special tokens, by the Llama 3.1 and Qwen3 tokenizers of tests/fixtures/tokenizers. bytes_per_second is
// the input text's UTF-8 bytes. The BPE word cache is warm after the first iteration, as it is for the Rust HF
// tokenizers library measured the same way (docs/PERFORMANCE.md, "Tokenizer encode speed").
#include <map>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include "engine/file_util.h"
#include "engine/tokenizer/hf_tokenizer.h"

namespace fp4lab {
namespace {

const tokenizer::HfTokenizer& Family(const std::string& family) {
  static std::map<std::string, std::unique_ptr<tokenizer::HfTokenizer>> loaded;
  auto& slot = loaded[family];
  if (!slot) {
    const std::string path = std::string(FP4LAB_SOURCE_DIR) + "/tests/fixtures/tokenizers/" + family +
                             "/tokenizer.json.gz";
    auto text = ReadGzipFile(path);
    if (!text.ok()) throw std::runtime_error(text.status().ToString());
    auto tok = tokenizer::HfTokenizer::Parse(*text, path);
    if (!tok.ok()) throw std::runtime_error(tok.status().ToString());
    slot = std::move(tok).value();
  }
  return *slot;
}

const std::string& WikiText() {
  static const std::string text = [] {
    auto t = ReadFile(std::string(FP4LAB_SOURCE_DIR) + "/datasets/wikitext2/wikitext2_sample.txt");
    if (!t.ok()) throw std::runtime_error(t.status().ToString());
    return *t;
  }();
  return text;
}

void BM_TokenizerEncode(benchmark::State& state, const std::string& family) {
  const tokenizer::HfTokenizer& tok = Family(family);
  const std::string& text = WikiText();
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok.Encode(text, /*add_special_tokens=*/false);
    if (!ids.ok()) {
      state.SkipWithError(ids.status().ToString().c_str());
      return;
    }
    tokens = ids->size();
    benchmark::DoNotOptimize(ids->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}

BENCHMARK_CAPTURE(BM_TokenizerEncode, llama3_1, std::string("llama3.1-8b-instruct"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenizerEncode, qwen3, std::string("qwen3"))->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fp4lab
