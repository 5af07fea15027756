// `fp4lab inspect`: what a checkpoint is, and what each precision would make of it (per-layer precision map,
// bytes per part, effective bits per parameter).
#include <iomanip>
#include <iostream>
#include <filesystem>
#include <map>
#include <memory>

#include "engine/engine.h"
#include "engine/file_util.h"
#include "engine/safetensors.h"
#include "harness/command.h"
#include "harness/paths.h"

namespace fp4lab {

namespace {

struct InspectFlags {
  std::string model = DefaultModelDir();
  std::string precision;  // empty: as stored
  std::string calib = DataPath("wikitext2/wikitext2_sample.txt");
  bool json = false;
};

Result<int> RunInspect(const InspectFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(auto reader, SafetensorsReader::Open(f.model));
  std::map<std::string, std::pair<int64_t, int64_t>> by_dtype;  // dtype -> (tensors, bytes)
  for (const auto& t : reader->tensors()) {
    auto& entry = by_dtype[std::string(DTypeName(t.dtype))];
    entry.first++;
    entry.second += static_cast<int64_t>(t.bytes.size());
  }
  EngineOptions options;
  options.model_dir = f.model;
  options.precision = f.precision;
  if (options.precision.empty()) {
    // As stored: a quantized checkpoint runs at nvfp4 (or its weight-only form), a bf16 one at bf16.
    const bool quantized = std::filesystem::exists(std::filesystem::path(f.model) / "hf_quant_config.json");
    auto cfg = ReadJsonFile(f.model + "/config.json");
    options.precision = quantized || (cfg.ok() && cfg->contains("quantization_config")) ? "nvfp4-w4a16" : "bf16";
  }
  if (!f.calib.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(options.calibration_text, ReadFile(f.calib));
  }
  FP4LAB_ASSIGN_OR_RETURN(auto engine, Engine::Open(options));
  const ModelConfig& c = engine->config();
  int64_t linear_bytes = 0, linear_params = 0;
  for (const auto& l : engine->layer_map()) {
    linear_bytes += l.bytes;
    linear_params += l.parameters;
  }
  nlohmann::json out = {
      {"model", f.model},
      {"model_type", c.model_type},
      {"family", c.architecture},
      {"parameters", c.ParameterCount()},
      {"config", {{"hidden_size", c.hidden_size}, {"intermediate_size", c.intermediate_size},
                  {"num_layers", c.num_layers}, {"num_heads", c.num_heads}, {"num_kv_heads", c.num_kv_heads},
                  {"head_dim", c.head_dim}, {"vocab_size", c.vocab_size},
                  {"max_position_embeddings", c.max_position_embeddings}, {"tie_word_embeddings", c.tie_word_embeddings}}},
      {"precision", options.precision},
      {"quantization", engine->Provenance()["quantization"]},
      {"weight_bytes", engine->model().WeightDeviceBytes()},
      {"linear_bytes", linear_bytes},
      {"linear_bits_per_parameter", linear_params ? 8.0 * linear_bytes / linear_params : 0.0}};
  for (const auto& [dtype, entry] : by_dtype) out["tensors_by_dtype"][dtype] = {{"tensors", entry.first}, {"bytes", entry.second}};
  for (const auto& l : engine->layer_map()) {
    out["layers"].push_back({{"layer", l.layer}, {"scheme", LinearSchemeName(l.scheme)}, {"reason", l.reason},
                             {"bytes", l.bytes}, {"parameters", l.parameters}});
  }
  if (f.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << f.model << ": " << c.model_type << " (" << c.architecture << " family), " << c.ParameterCount()
            << " parameters\n"
            << "  hidden " << c.hidden_size << ", layers " << c.num_layers << ", heads " << c.num_heads << " ("
            << c.num_kv_heads << " kv, head_dim " << c.head_dim << "), ffn " << c.intermediate_size << ", vocab "
            << c.vocab_size << ", context " << c.max_position_embeddings << "\n"
            << "  quantization: " << out["quantization"].get<std::string>() << "\n  tensors:";
  for (const auto& [dtype, entry] : by_dtype) std::cout << " " << dtype << " x" << entry.first << " (" << entry.second << " B)";
  std::cout << "\n  precision map at " << options.precision << ":\n";
  for (const auto& l : engine->layer_map()) {
    std::cout << "    " << std::left << std::setw(40) << l.layer << std::setw(13) << LinearSchemeName(l.scheme)
              << std::setw(10) << l.bytes << " " << l.reason << "\n";
  }
  std::cout << "  linear weights: " << linear_bytes << " B, " << std::fixed << std::setprecision(3)
            << out["linear_bits_per_parameter"].get<double>() << " bits/parameter; all weights on device: "
            << out["weight_bytes"].get<int64_t>() << " B\n";
  return 0;
}

}  // namespace

Command AddInspectCommand(CLI::App& root) {
  auto f = std::make_shared<InspectFlags>();
  CLI::App* app = root.add_subcommand("inspect", "Describe a checkpoint: architecture, parameters, tensors by dtype, "
                                                 "and the per-layer precision map with bytes and bits/parameter");
  app->add_option("--model", f->model, "HF checkpoint directory")->capture_default_str();
  app->add_option("--precision", f->precision, "Resolve the map for this precision (default: as stored)");
  app->add_option("--calib", f->calib, "Calibration text (only for quantizing bf16 to nvfp4/fp8 on load)");
  app->add_flag("--json", f->json, "Machine-readable output");
  return {app, [f] { return RunInspect(*f); }};
}

}  // namespace fp4lab
