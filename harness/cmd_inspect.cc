// `fp4lab inspect`: what a checkpoint is, and what each precision would make of it (per-layer precision map,
// bytes per part, effective bits per parameter). With --config it predicts the weight memory of a model from its
// config.json alone (engine/memory_model.h).
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "engine/engine.h"
#include "engine/file_util.h"
#include "engine/memory_model.h"
#include "engine/presets.h"
#include "engine/role_memory.h"
#include "engine/safetensors.h"
#include "harness/command.h"
#include "harness/kv_cache_flag.h"
#include "harness/paths.h"

namespace fp4lab {

namespace {

struct InspectFlags {
  std::string model = DefaultModelDir();
  std::string precision;  // empty: as stored
  std::string calib = DataPath("wikitext2/wikitext2_sample.txt");
  std::string config;            // config-only prediction mode
  std::string scheme = "nvfp4";  // its scheme
  std::string kv_cache = "auto";
  bool json = false;
};

std::string Gigabytes(int64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(3) << static_cast<double>(bytes) / 1e9 << " GB";
  return out.str();
}

// The KV cache a config implies in the --kv-cache format (auto: the config's quantization_config), for the families
// the engine runs (those with a blueprint, diffusion_gemma included); nullopt for configs without one.
Result<std::optional<nlohmann::json>> PredictKvCache(const nlohmann::json& config, const std::string& path,
                                                     const std::string& choice) {
  auto blueprint = ParseModelBlueprint(config, path);
  if (!blueprint.ok()) return std::optional<nlohmann::json>();
  FP4LAB_ASSIGN_OR_RETURN(const QuantConfig quant, ParseQuantConfig(config, path, nullptr, ""));
  FP4LAB_ASSIGN_OR_RETURN(const KvCacheFormat kv, ResolveKvCacheFormat(choice, quant, path));
  return std::optional<nlohmann::json>(
      nlohmann::json{{"format", KvCacheFormatName(kv)},
                     {"bytes_per_element", KvCacheBytesPerElement(kv)},
                     {"bytes_per_token", KvCacheBytesPerToken((*blueprint)->KvWidths(), kv)},
                     {"declared", quant.kv_cache_quant_algo}});
}

// --config FILE --scheme S: the weight footprint the config implies, part by part, with the layers kept bf16.
Result<int> RunPredict(const InspectFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(const LinearScheme scheme, ParsePrecision(f.scheme));
  // --config names a config.json, or a built-in preset (engine/presets.h) when no such file exists.
  std::error_code ec;
  const auto preset = FindPreset(f.config);
  FP4LAB_ASSIGN_OR_RETURN(const ModelInventory inventory,
                          !std::filesystem::exists(f.config, ec) && preset.ok()
                              ? InventoryFromConfig((*preset)->config, "preset " + f.config)
                              : InventoryFromConfigFile(f.config));
  const MemoryPrediction p = PredictWeightMemory(inventory, scheme);
  nlohmann::json config_json;
  if (!std::filesystem::exists(f.config, ec) && preset.ok()) {
    config_json = (*preset)->config;
  } else {
    FP4LAB_ASSIGN_OR_RETURN(config_json, ReadJsonFile(f.config));
  }
  FP4LAB_ASSIGN_OR_RETURN(const std::optional<nlohmann::json> kv_cache, PredictKvCache(config_json, f.config, f.kv_cache));
  // The naive claim "N parameters at 4 bits": N / 2 bytes, no scales, nothing kept in bf16.
  const int64_t naive_4bit_bytes = p.parameters / 2;
  nlohmann::json out = {{"config", f.config},
                        {"model_type", p.model_type},
                        {"scheme", LinearSchemeName(scheme)},
                        {"parameters", p.parameters},
                        {"quantized_parameters", p.quantized_parameters},
                        {"bytes", p.bytes},
                        {"code_bytes", p.code_bytes},
                        {"scale_bytes", p.scale_bytes},
                        {"bf16_bytes", p.bf16_bytes},
                        {"bits_per_parameter", p.BitsPerParameter()},
                        {"naive_4bit_bytes", naive_4bit_bytes},
                        {"parts", nlohmann::json::array()},
                        {"kept_bf16", nlohmann::json::array()},
                        {"notes", inventory.notes}};
  if (kv_cache) out["kv_cache"] = *kv_cache;
  const auto skipped = [&](const std::string& part) {
    return std::find(inventory.skipped_parts.begin(), inventory.skipped_parts.end(), part) !=
           inventory.skipped_parts.end();
  };
  for (const PartMemory& part : p.parts) {
    out["parts"].push_back({{"part", part.part}, {"parameters", part.parameters},
                            {"quantized_parameters", part.quantized_parameters}, {"bytes", part.bytes},
                            {"bits_per_parameter", part.BitsPerParameter()}, {"skipped", skipped(part.part)}});
  }
  for (const KeptBf16& k : p.kept_bf16) {
    out["kept_bf16"].push_back({{"name", k.name}, {"parameters", k.parameters}, {"reason", k.reason}});
  }
  if (f.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << f.config << ": " << p.model_type << ", " << p.parameters << " parameters; predicted weights at "
            << LinearSchemeName(scheme) << " (from the config alone)\n"
            << "  " << std::left << std::setw(20) << "part" << std::right << std::setw(16) << "parameters"
            << std::setw(16) << "quantized" << std::setw(16) << "bytes" << std::setw(12) << "bits/param\n";
  for (const PartMemory& part : p.parts) {
    std::cout << "  " << std::left << std::setw(20) << (skipped(part.part) ? part.part + " (skipped)" : part.part)
              << std::right << std::setw(16) << part.parameters
              << std::setw(16) << part.quantized_parameters << std::setw(16) << part.bytes << std::setw(11)
              << std::fixed << std::setprecision(3) << part.BitsPerParameter() << "\n";
  }
  std::cout << "  " << std::left << std::setw(20) << "total" << std::right << std::setw(16) << p.parameters
            << std::setw(16) << p.quantized_parameters << std::setw(16) << p.bytes << std::setw(11)
            << p.BitsPerParameter() << "\n";
  for (const KeptBf16& k : p.kept_bf16) {
    std::cout << "  stays bf16: " << k.name << " (" << k.parameters << " parameters): " << k.reason << "\n";
  }
  std::cout << "  stays bf16: embeddings, norms, scalars and biases (not Linear layers)\n";
  for (const std::string& note : inventory.notes) std::cout << "  note: " << note << "\n";
  std::cout << "  " << p.parameters << " parameters at 4 bits would be " << Gigabytes(naive_4bit_bytes)
            << "; as stored in " << LinearSchemeName(scheme) << ": " << Gigabytes(p.bytes) << " (quantized codes "
            << Gigabytes(p.code_bytes) << " + scales " << Gigabytes(p.scale_bytes) << " + bf16 "
            << Gigabytes(p.bf16_bytes) << "), " << std::setprecision(3) << p.BitsPerParameter()
            << " bits/parameter\n";
  if (kv_cache) {
    std::cout << "  KV cache: " << (*kv_cache)["format"].get<std::string>() << ", "
              << (*kv_cache)["bytes_per_token"].get<int64_t>() << " B per token\n";
  }
  return 0;
}

Result<int> RunInspect(const InspectFlags& f) {
  if (!f.config.empty()) return RunPredict(f);
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
    const bool quantized = HasDirectoryEntry(f.model + "/hf_quant_config.json");
    auto cfg = ReadJsonFile(f.model + "/config.json");
    options.precision = quantized || (cfg.ok() && cfg->contains("quantization_config")) ? "nvfp4-w4a16" : "bf16";
  }
  options.kv_cache = f.kv_cache;
  if (!f.calib.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(options.calibration_text, ReadFile(f.calib));
  }
  FP4LAB_ASSIGN_OR_RETURN(auto engine, Engine::Open(options));
  const std::vector<RoleMemory> roles = MemoryByRole(engine->blueprint().manifest(), engine->layer_map());
  const KvCacheFormat kv = engine->kv_cache_format();
  const int64_t kv_per_token = KvCacheBytesPerToken(engine->blueprint().KvWidths(), kv);
  int64_t role_bytes = 0;
  for (const RoleMemory& r : roles) role_bytes += r.bytes;
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
      {"parameters", engine->blueprint().ParameterCount()},
      {"config", {{"hidden_size", c.hidden_size}, {"num_layers", c.num_layers}, {"vocab_size", c.vocab_size},
                  {"max_position_embeddings", c.max_position_embeddings},
                  {"kv_cache_bytes_per_token", engine->blueprint().KvCacheBytes(1)}}},
      {"precision", options.precision},
      {"quantization", engine->Provenance()["quantization"]},
      {"weight_bytes", engine->model().WeightDeviceBytes()},
      {"linear_bytes", linear_bytes},
      {"linear_bits_per_parameter", linear_params ? 8.0 * linear_bytes / linear_params : 0.0},
      {"roles", nlohmann::json::array()},
      {"stored_weight_bytes", role_bytes},
      {"kv_cache", {{"format", KvCacheFormatName(kv)},
                    {"bytes_per_element", KvCacheBytesPerElement(kv)},
                    {"bytes_per_token", kv_per_token},
                    {"declared", engine->quant_config().kv_cache_quant_algo}}}};
  for (const RoleMemory& r : roles) {
    out["roles"].push_back({{"role", r.role}, {"linears_by_scheme", r.linears_by_scheme},
                            {"parameters", r.parameters}, {"bytes", r.bytes}});
  }
  for (const auto& [dtype, entry] : by_dtype) out["tensors_by_dtype"][dtype] = {{"tensors", entry.first}, {"bytes", entry.second}};
  for (const auto& l : engine->layer_map()) {
    out["layers"].push_back({{"layer", l.layer}, {"scheme", LinearSchemeName(l.scheme)}, {"reason", l.reason},
                             {"bytes", l.bytes}, {"parameters", l.parameters}});
  }
  if (f.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << f.model << ": " << c.model_type << " (" << c.architecture << " family), "
            << engine->blueprint().ParameterCount() << " parameters\n"
            << "  hidden " << c.hidden_size << ", layers " << c.num_layers << ", vocab " << c.vocab_size
            << ", context " << c.max_position_embeddings << ", KV cache " << engine->blueprint().KvCacheBytes(1)
            << " B per token (f32)\n"
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
  std::cout << "  by role at " << engine->StoredLabel() << ":\n    " << std::left << std::setw(14) << "role"
            << std::setw(34) << "linear layers" << std::right << std::setw(14) << "parameters" << std::setw(16)
            << "stored bytes\n";
  for (const RoleMemory& r : roles) {
    std::string schemes;
    for (const auto& [scheme, count] : r.linears_by_scheme) {
      schemes += (schemes.empty() ? "" : ", ") + scheme + " x" + std::to_string(count);
    }
    std::cout << "    " << std::left << std::setw(14) << r.role << std::setw(34) << (schemes.empty() ? "-" : schemes)
              << std::right << std::setw(14) << r.parameters << std::setw(15) << r.bytes << "\n";
  }
  std::cout << "    " << std::left << std::setw(48) << "total" << std::right << std::setw(14)
            << engine->blueprint().ParameterCount() << std::setw(15) << role_bytes << "\n"
            << "  KV cache: " << KvCacheFormatName(kv) << " (" << KvCacheBytesPerElement(kv) << " B per element; "
            << "checkpoint declares " << (out["kv_cache"]["declared"].get<std::string>().empty()
                                               ? std::string("none")
                                               : out["kv_cache"]["declared"].get<std::string>())
            << "), " << kv_per_token << " B per token\n";
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
  AddKvCacheFlag(*app, f->kv_cache);
  CLI::Option* config = app->add_option(
      "--config", f->config,
      "Predict the weight memory of the model this config.json (or built-in preset, e.g. qwen3-8b) describes");
  app->add_option("--scheme", f->scheme, "Scheme of the --config prediction: nvfp4 | nvfp4-w4a16 | fp8 | bf16")
      ->capture_default_str()
      ->needs(config);
  app->add_flag("--json", f->json, "Machine-readable output");
  return {app, [f] { return RunInspect(*f); }};
}

}  // namespace fp4lab
