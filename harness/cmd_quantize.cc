// `fp4lab quantize`: write a ModelOpt or compressed-tensors checkpoint (nvfp4, nvfp4-w4a16, fp8) from a bf16
// checkpoint, calibrating activation scales on a text file (engine/quantize_checkpoint.h has the rules).
#include <iomanip>
#include <iostream>
#include <memory>

#include "engine/engine.h"
#include "engine/file_util.h"
#include "engine/quantize_checkpoint.h"
#include "harness/command.h"
#include "harness/paths.h"

namespace fp4lab {

namespace {

struct QuantizeFlags {
  std::string model;
  std::string out;
  std::string scheme = "nvfp4";
  std::string format = "modelopt";
  std::string recipe = "all-linears";
  std::string calib = DataPath("wikitext2/wikitext2_sample.txt");
  int calib_tokens = 512;
  std::vector<std::string> exclude;
  bool force = false;
};

Result<int> RunQuantize(const QuantizeFlags& f) {
  QuantizeOptions options;
  options.model_dir = f.model;
  options.out_dir = f.out;
  FP4LAB_ASSIGN_OR_RETURN(options.scheme, ParsePrecision(f.scheme));
  FP4LAB_ASSIGN_OR_RETURN(options.format, ParseCheckpointFormat(f.format));
  FP4LAB_ASSIGN_OR_RETURN(options.recipe, ParseQuantizeRecipe(f.recipe));
  options.calibration_tokens = f.calib_tokens;
  options.exclude = f.exclude;
  options.force = f.force;
  options.producer_version = std::string("fp4lab ") + FP4LAB_VERSION_STRING;
  const bool calibrates = options.scheme == LinearScheme::kNvfp4 || options.scheme == LinearScheme::kFp8;
  if (calibrates) {
    FP4LAB_ASSIGN_OR_RETURN(options.calibration_text, ReadFile(f.calib));
  }
  FP4LAB_ASSIGN_OR_RETURN(const QuantizeReport report, QuantizeCheckpoint(options));
  int quantized = 0;
  for (const LayerPrecision& l : report.layers) {
    quantized += l.scheme != LinearScheme::kBf16;
    std::cout << "  " << std::left << std::setw(44) << l.layer << std::setw(13) << LinearSchemeName(l.scheme)
              << std::setw(10) << l.bytes << " " << l.reason << "\n";
  }
  std::cout << f.out << ": " << CheckpointFormatName(options.format) << " " << f.scheme << " checkpoint, "
            << quantized << " Linear layers quantized, " << report.excluded.size() << " kept bf16";
  if (calibrates) std::cout << ", calibrated on " << report.calibration_tokens << " tokens of " << f.calib;
  std::cout << "; tensors " << report.tensor_bytes << " B\n";
  return 0;
}

}  // namespace

Command AddQuantizeCommand(CLI::App& root) {
  auto f = std::make_shared<QuantizeFlags>();
  CLI::App* app = root.add_subcommand(
      "quantize", "Quantize a bf16 HF checkpoint to NVFP4 / FP8 in ModelOpt or compressed-tensors form (tensor "
                  "names, dtypes and config fields as those tools write them)");
  app->add_option("--model", f->model, "bf16 HF checkpoint directory")->required();
  app->add_option("--out", f->out, "Output directory (written atomically; must not exist or be empty)")->required();
  app->add_option("--scheme", f->scheme, "nvfp4 | nvfp4-w4a16 | fp8")->capture_default_str();
  app->add_option("--format", f->format, "modelopt | compressed-tensors")->capture_default_str();
  app->add_option("--recipe", f->recipe,
                  "all-linears | experts-only (NVIDIA's DiffusionGemma recipe: only routed experts, FP8 KV cache)")
      ->capture_default_str();
  app->add_option("--calib", f->calib, "Calibration text for activation scales (nvfp4, fp8)")->capture_default_str();
  app->add_option("--calib-tokens", f->calib_tokens, "Calibration tokens (BOS + text) at most")
      ->capture_default_str()
      ->check(CLI::Range(2, 1 << 24));
  app->add_option("--exclude", f->exclude, "Module pattern to keep bf16 (fnmatch, repeatable; lm_head always is)");
  app->add_flag("--force", f->force, "Replace an existing non-empty output directory");
  return {app, [f] { return RunQuantize(*f); }};
}

}  // namespace fp4lab
