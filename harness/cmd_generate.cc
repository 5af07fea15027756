// `fp4lab generate`: stream a completion of a prompt from a checkpoint at one precision.
#include <iostream>
#include <memory>

#include "engine/engine.h"
#include "harness/kv_cache_flag.h"
#include "harness/command.h"
#include "harness/open_engine.h"
#include "harness/flag_checks.h"
#include "harness/paths.h"
#include "harness/token_ids.h"

namespace fp4lab {

namespace {

struct GenerateFlags {
  std::string model = DefaultModelDir();
  std::string prompt = "Once upon a time";
  std::string precision = "bf16";
  std::string device = "cpu";
  std::string calib;
  std::string kv_cache = "auto";
  int max_tokens = 64;
  SamplingOptions sampling;
  bool no_bos = false;
  std::string prompt_ids;  // token ids instead of --prompt text (no tokenizer needed; no BOS added)
  bool json = false;
};

// --prompt-ids: generate from ids, print {"prompt_ids", "ids"} (and "text" when the model has a tokenizer).
Result<int> GenerateFromIds(Engine& engine, const GenerateFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(const auto sequences, ParseTokenIdSequences(f.prompt_ids, "--prompt-ids"));
  if (sequences.size() != 1) return Status::InvalidArgument("--prompt-ids: expected one sequence (no ';')");
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenId> ids,
                          engine.Generate(sequences.front(), f.max_tokens, f.sampling, nullptr));
  nlohmann::json out = {{"prompt_ids", sequences.front()}, {"ids", ids}};
  if (engine.HasTokenizer()) out["text"] = engine.Decode(ids);
  if (f.json) {
    std::cout << out.dump() << "\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? "," : "") << ids[i];
    std::cout << "\n";
  }
  return 0;
}

Result<int> RunGenerate(const GenerateFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(auto engine, OpenEngineFromFlags(f.model, f.precision, f.device, f.calib, f.kv_cache));
  if (!f.prompt_ids.empty()) return GenerateFromIds(*engine, f);
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TokenId> prompt, engine->Encode(f.prompt));
  if (!f.no_bos) prompt.insert(prompt.begin(), engine->BosId());
  // Stream: decode prompt + continuation each step and print what is new, so sentencepiece's whitespace rules
  // apply to the sequence as a whole (decoding the continuation alone would drop its leading space).
  std::vector<TokenId> sequence(prompt.begin() + (f.no_bos ? 0 : 1), prompt.end());
  std::string printed = engine->Decode(sequence);
  std::cout << f.prompt << std::flush;
  auto on_token = [&](TokenId t) {
    sequence.push_back(t);
    const std::string text = engine->Decode(sequence);
    if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
      std::cout << text.substr(printed.size()) << std::flush;
    }
    printed = text;
    return true;
  };
  FP4LAB_ASSIGN_OR_RETURN(auto tokens, engine->Generate(prompt, f.max_tokens, f.sampling, on_token));
  std::cout << "\n";
  return 0;
}

}  // namespace

Command AddGenerateCommand(CLI::App& root) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* app = root.add_subcommand("generate", "Stream a completion of --prompt (bundled stories260K by default)");
  app->add_option("--model", flags->model, "HF checkpoint directory")->capture_default_str();
  app->add_option("--prompt", flags->prompt, "Prompt text (BOS is prepended)")->capture_default_str();
  app->add_option("--max-tokens", flags->max_tokens, "Tokens to generate at most")->capture_default_str()
      ->check(AtLeast(1));
  app->add_option("--temperature", flags->sampling.temperature, "0 = greedy")->capture_default_str()
      ->check(InRange(0, 100));
  app->add_option("--top-k", flags->sampling.top_k, "Keep the k most likely tokens (0 = off)")
      ->capture_default_str()
      ->check(AtLeast(0));
  app->add_option("--top-p", flags->sampling.top_p, "Nucleus sampling mass (1 = off)")->capture_default_str()
      ->check(InRange(0, 1));
  app->add_option("--seed", flags->sampling.seed, "Sampling seed")->capture_default_str();
  app->add_option("--precision", flags->precision, "bf16 | nvfp4 | nvfp4-w4a16 | fp8")->capture_default_str();
  app->add_option("--device", flags->device, "cpu | cuda[:N]")->capture_default_str();
  app->add_option("--calib", flags->calib, "Calibration text for quantizing a bf16 model to nvfp4/fp8 on load");
  AddKvCacheFlag(*app, flags->kv_cache);
  app->add_flag("--no-bos", flags->no_bos, "Do not prepend BOS");
  app->add_option("--prompt-ids", flags->prompt_ids,
                  "Generate from these token ids (\"1,2,3\") instead of --prompt; prints the generated ids");
  app->add_flag("--json", flags->json, "With --prompt-ids: print {\"prompt_ids\", \"ids\", \"text\"} as JSON");
  return {app, [flags] { return RunGenerate(*flags); }};
}

}  // namespace fp4lab
