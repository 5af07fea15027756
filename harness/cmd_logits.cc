// `fp4lab logits`: the f32 logits of given token-id sequences as a safetensors file, so fp4lab can be checked
// against any other implementation (transformers, vLLM, llama.cpp) on identical inputs. Works on checkpoints
// without a tokenizer. On a block-diffusion model (--canvas-ids): the decoder's logits for a canvas after a
// committed prompt, optionally after N self-conditioning steps on the same canvas.
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
  std::string canvas_ids;           // block diffusion: the canvas to denoise (empty: causal forward passes)
  int self_conditioning_steps = 0;  // block diffusion: passes after the first, each self-conditioned on the last
  bool json = false;
};

// `name`: equal-length sequences as an I32 tensor [sequences, tokens].
TensorToWrite IdsTensor(const std::string& name, const std::vector<std::vector<TokenId>>& sequences) {
  TensorToWrite ids{name, DType::kI32,
                    {static_cast<int64_t>(sequences.size()), static_cast<int64_t>(sequences.front().size())}, {}};
  for (const auto& sequence : sequences) {
    const size_t offset = ids.bytes.size();
    ids.bytes.resize(offset + sequence.size() * sizeof(int32_t));
    std::memcpy(ids.bytes.data() + offset, sequence.data(), sequence.size() * sizeof(int32_t));
  }
  return ids;
}

// Writes `logits` [sequences, rows, vocab] and the `ids` tensors to f.out and prints the summary.
Result<int> WriteLogits(Engine& engine, const LogitsFlags& f, TensorToWrite logits, std::vector<TensorToWrite> ids) {
  const std::vector<int64_t> shape = logits.shape;
  const std::map<std::string, std::string> metadata = {
      {"model", f.model}, {"precision", engine.StoredLabel()}, {"device", f.device}, {"producer", "fp4lab logits"}};
  std::string names;
  std::vector<TensorToWrite> tensors;
  tensors.push_back(std::move(logits));
  for (TensorToWrite& t : ids) {
    names += " and " + t.name;
    tensors.push_back(std::move(t));
  }
  FP4LAB_RETURN_IF_ERROR(WriteSafetensors(f.out, tensors, metadata));
  const nlohmann::json summary = {{"out", f.out},
                                  {"shape", shape},
                                  {"model", engine.Describe()},
                                  {"precision", engine.StoredLabel()},
                                  {"kv_cache", KvCacheFormatName(engine.kv_cache_format())}};
  if (f.json) {
    std::cout << summary.dump(2) << "\n";
  } else {
    std::cout << "wrote " << f.out << ": logits [" << shape[0] << ", " << shape[1] << ", " << shape[2] << "] f32"
              << names << ", " << engine.Describe() << "\n";
  }
  return 0;
}

// The logits of the last of 1 + f.self_conditioning_steps decoder passes over `canvas` after committing `prompt`,
// [canvas_length, vocab]. InvalidArgument naming the flag for a causal model or a canvas of the wrong length.
Result<std::vector<float>> DenoiserLogits(Engine& engine, const LogitsFlags& f, const std::vector<TokenId>& prompt,
                                          const std::vector<TokenId>& canvas) {
  BlockDenoiser* denoiser = engine.AsBlockDenoiser();
  if (denoiser == nullptr) {
    return Status::InvalidArgument("--canvas-ids: " + engine.Describe() + " is not a block-diffusion model (only a "
                                   "diffusion decoder denoises a canvas; drop --canvas-ids and "
                                   "--self-conditioning-steps)");
  }
  if (static_cast<int64_t>(canvas.size()) != denoiser->canvas_length()) {
    return Status::InvalidArgument("--canvas-ids: expected exactly canvas_length = " +
                                   std::to_string(denoiser->canvas_length()) + " ids, got " +
                                   std::to_string(canvas.size()));
  }
  const Status committed = denoiser->Commit(prompt);
  if (!committed.ok()) return committed.WithContext("--ids");
  std::vector<float> logits(canvas.size() * static_cast<size_t>(denoiser->vocab_size())), previous;
  for (int step = 0; step <= f.self_conditioning_steps; ++step) {
    const Status denoised = denoiser->Denoise(canvas, previous, logits);
    if (!denoised.ok()) return denoised.WithContext("--canvas-ids");
    previous = logits;
  }
  return logits;
}

Result<int> RunLogits(const LogitsFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(const auto sequences, ParseTokenIdSequences(f.ids, "--ids"));
  for (const auto& sequence : sequences) {
    if (sequence.size() != sequences.front().size()) {
      return Status::InvalidArgument("--ids: every sequence must have the same length (the output is one [sequences, "
                                     "tokens, vocab] tensor); got " + std::to_string(sequences.front().size()) +
                                     " and " + std::to_string(sequence.size()));
    }
  }
  std::vector<TokenId> canvas;
  if (!f.canvas_ids.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(const auto canvases, ParseTokenIdSequences(f.canvas_ids, "--canvas-ids"));
    if (canvases.size() != 1 || sequences.size() != 1) {
      return Status::InvalidArgument("--canvas-ids: takes one prompt (--ids) and one canvas, without ';'");
    }
    canvas = canvases.front();
  } else if (f.self_conditioning_steps != 0) {
    return Status::InvalidArgument("--self-conditioning-steps: needs --canvas-ids (the canvas it denoises)");
  }
  FP4LAB_ASSIGN_OR_RETURN(auto engine, OpenEngineFromFlags(f.model, f.precision, f.device, f.calib, f.kv_cache));
  const int64_t vocab = engine->VocabSize();
  if (!canvas.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<float> values, DenoiserLogits(*engine, f, sequences.front(), canvas));
    TensorToWrite logits{"logits", DType::kF32, {1, static_cast<int64_t>(canvas.size()), vocab}, {}};
    logits.bytes.resize(values.size() * sizeof(float));
    std::memcpy(logits.bytes.data(), values.data(), logits.bytes.size());
    return WriteLogits(*engine, f, std::move(logits),
                       {IdsTensor("input_ids", sequences), IdsTensor("canvas_ids", {canvas})});
  }
  const int64_t tokens = static_cast<int64_t>(sequences.front().size());
  TensorToWrite logits{"logits", DType::kF32, {static_cast<int64_t>(sequences.size()), tokens, vocab}, {}};
  for (const auto& sequence : sequences) {
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<float> values, engine->Logits(sequence));
    const size_t offset = logits.bytes.size();
    logits.bytes.resize(offset + values.size() * sizeof(float));
    std::memcpy(logits.bytes.data() + offset, values.data(), values.size() * sizeof(float));
  }
  return WriteLogits(*engine, f, std::move(logits), {IdsTensor("input_ids", sequences)});
}

}  // namespace

Command AddLogitsCommand(CLI::App& root) {
  auto f = std::make_shared<LogitsFlags>();
  CLI::App* app = root.add_subcommand(
      "logits", "Write the f32 logits [sequences, tokens, vocab] of token-id sequences to a safetensors file, to\n"
                "check fp4lab against another implementation (needs no tokenizer). Examples:\n"
                "  fp4lab logits --model DIR --ids \"1,2,3;4,5,6\" --out logits.safetensors --precision nvfp4\n"
                "  fp4lab logits --model DIFFUSION_DIR --ids 2,5,9 --canvas-ids 7,8,...,9 --self-conditioning-steps 1"
                " --out canvas.safetensors");
  app->add_option("--model", f->model, "HF checkpoint directory")->capture_default_str();
  app->add_option("--ids", f->ids, "Token ids: \"1,2,3\" or several equal-length sequences \"1,2,3;4,5,6\"")
      ->required();
  app->add_option("--out", f->out, "Output .safetensors file (tensors 'logits' and 'input_ids')")->required();
  app->add_option("--precision", f->precision, "bf16 | nvfp4 | nvfp4-w4a16 | fp8")->capture_default_str();
  app->add_option("--device", f->device, "cpu | cuda[:N]")->capture_default_str();
  app->add_option("--calib", f->calib, "Calibration text for quantizing a bf16 model to nvfp4/fp8 on load");
  AddKvCacheFlag(*app, f->kv_cache);
  app->add_option("--canvas-ids", f->canvas_ids,
                  "Block-diffusion models only: a canvas of exactly canvas_length ids that the decoder denoises\n"
                  "after committing --ids (one prompt); writes its logits [1, canvas_length, vocab], input_ids\n"
                  "and canvas_ids");
  app->add_option("--self-conditioning-steps", f->self_conditioning_steps,
                  "With --canvas-ids: N more decoder passes over the same canvas, each self-conditioned on the\n"
                  "previous pass's logits; writes the last pass's logits")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app->add_flag("--json", f->json, "Print a JSON summary");
  return {app, [f] { return RunLogits(*f); }};
}

}  // namespace fp4lab
