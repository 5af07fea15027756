// `fp4lab logits`: the f32 logits of given token-id sequences as a safetensors file, so fp4lab can be checked
// against any other implementation (transformers, vLLM, llama.cpp) on identical inputs. Works on checkpoints
// without a tokenizer.
#include <cstring>
#include <iostream>
#include <memory>

#include "engine/engine.h"
#include "engine/safetensors.h"
#include "harness/command.h"
#include "harness/kv_cache_flag.h"
#include "harness/open_engine.h"
#include "harness/paths.h"
#include "harness/token_ids.h"

namespace fp4lab {

namespace {

struct LogitsFlags {
  std::string model = DefaultModelDir();
  std::string ids;
  std::string out;
  std::string precision = "bf16";
  std::string device = "cpu";
  std::string calib;
  std::string kv_cache = "auto";
  bool json = false;
};

Result<int> RunLogits(const LogitsFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(const auto sequences, ParseTokenIdSequences(f.ids, "--ids"));
  for (const auto& sequence : sequences) {
    if (sequence.size() != sequences.front().size()) {
      return Status::InvalidArgument("--ids: every sequence must have the same length (the output is one [sequences, "
                                     "tokens, vocab] tensor); got " + std::to_string(sequences.front().size()) +
                                     " and " + std::to_string(sequence.size()));
    }
  }
  FP4LAB_ASSIGN_OR_RETURN(auto engine, OpenEngineFromFlags(f.model, f.precision, f.device, f.calib, f.kv_cache));
  const int64_t tokens = static_cast<int64_t>(sequences.front().size());
  const int64_t vocab = engine->VocabSize();
  TensorToWrite logits{"logits", DType::kF32, {static_cast<int64_t>(sequences.size()), tokens, vocab}, {}};
  for (const auto& sequence : sequences) {
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<float> values, engine->Logits(sequence));
    const size_t offset = logits.bytes.size();
    logits.bytes.resize(offset + values.size() * sizeof(float));
    std::memcpy(logits.bytes.data() + offset, values.data(), values.size() * sizeof(float));
  }
  TensorToWrite input_ids{"input_ids", DType::kI32, {static_cast<int64_t>(sequences.size()), tokens}, {}};
  for (const auto& sequence : sequences) {
    const size_t offset = input_ids.bytes.size();
    input_ids.bytes.resize(offset + sequence.size() * sizeof(int32_t));
    std::memcpy(input_ids.bytes.data() + offset, sequence.data(), sequence.size() * sizeof(int32_t));
  }
  const std::map<std::string, std::string> metadata = {
      {"model", f.model}, {"precision", engine->StoredLabel()}, {"device", f.device}, {"producer", "fp4lab logits"}};
  FP4LAB_RETURN_IF_ERROR(WriteSafetensors(f.out, {logits, input_ids}, metadata));
  const nlohmann::json summary = {{"out", f.out},
                                  {"shape", {sequences.size(), tokens, vocab}},
                                  {"model", engine->Describe()},
                                  {"precision", engine->StoredLabel()},
                                  {"kv_cache", KvCacheFormatName(engine->kv_cache_format())}};
  if (f.json) {
    std::cout << summary.dump(2) << "\n";
  } else {
    std::cout << "wrote " << f.out << ": logits [" << sequences.size() << ", " << tokens << ", " << vocab
              << "] f32 and input_ids, " << engine->Describe() << "\n";
  }
  return 0;
}

}  // namespace

Command AddLogitsCommand(CLI::App& root) {
  auto f = std::make_shared<LogitsFlags>();
  CLI::App* app = root.add_subcommand(
      "logits", "Write the f32 logits [sequences, tokens, vocab] of token-id sequences to a safetensors file, to\n"
                "check fp4lab against another implementation (needs no tokenizer). Example:\n"
                "  fp4lab logits --model DIR --ids \"1,2,3;4,5,6\" --out logits.safetensors --precision nvfp4");
  app->add_option("--model", f->model, "HF checkpoint directory")->capture_default_str();
  app->add_option("--ids", f->ids, "Token ids: \"1,2,3\" or several equal-length sequences \"1,2,3;4,5,6\"")
      ->required();
  app->add_option("--out", f->out, "Output .safetensors file (tensors 'logits' and 'input_ids')")->required();
  app->add_option("--precision", f->precision, "bf16 | nvfp4 | nvfp4-w4a16 | fp8")->capture_default_str();
  app->add_option("--device", f->device, "cpu | cuda[:N]")->capture_default_str();
  app->add_option("--calib", f->calib, "Calibration text for quantizing a bf16 model to nvfp4/fp8 on load");
  AddKvCacheFlag(*app, f->kv_cache);
  app->add_flag("--json", f->json, "Print a JSON summary");
  return {app, [f] { return RunLogits(*f); }};
}

}  // namespace fp4lab
