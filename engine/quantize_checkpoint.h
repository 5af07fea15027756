// QuantizeCheckpoint: turns a bf16 Hugging Face checkpoint into a quantized checkpoint that ModelOpt- and
// compressed-tensors-aware loaders (vLLM, TensorRT-LLM, fp4lab itself) read. Spec: design/NVFP4.md sections 3-5.
//
// What it does, in order:
//   1. Refuses bad requests before touching the disk: an existing non-empty out_dir (unless force), out_dir equal to
//      model_dir, an already quantized input, a scheme/format pair the format cannot express (compressed-tensors
//      has no fp8 writer), and any NaN/Inf in a floating-point tensor (the error names tensor, element and file;
//      calibration runs the whole model, so a non-finite value anywhere would corrupt the activation statistics).
//   2. Calibrates activations (nvfp4 and fp8 only; nvfp4-w4a16 needs none) with CalibrateActivations: the max |x|
//      of every Linear input over the calibration tokens ("max" calibration, as ModelOpt's default).
//   3. Quantizes every Linear, i.e. every 2-D "<prefix>.weight" except the token embedding ("embed_tokens"),
//      through the same WeightLoader code that quantizes a bf16 checkpoint on load, so loading the output and
//      quantizing on load with the same calibration give identical weights. Fused groups (q/k/v, gate/up, w1/w3
//      of one parent module) share weight_scale_2 and input_scale as ModelOpt exports them. Stays bf16 (and is
//      listed in the exclusions): the loader's default exclusions (lm_head, routers), NVFP4 layers whose
//      K % 16 != 0, and layers matching an `exclude` pattern (ModelOpt fnmatch semantics, quant_config.h).
//   4. Writes <out_dir>/model.safetensors (tensors ordered as the safetensors library orders them: larger dtypes
//      first, then by name; metadata {"format": "pt"}), config.json with "quantization_config",
//      hf_quant_config.json (ModelOpt only) and copies of the tokenizer files. Everything goes into
//      "<out_dir>.tmp.<pid>" first and is renamed into place at the end: a failed run leaves no out_dir.
// Tensors per quantized Linear <p> (other tensors, excluded Linears and biases are copied byte for byte):
//   ModelOpt nvfp4 / nvfp4-w4a16: <p>.weight U8 [N, K/2], <p>.weight_scale F8_E4M3 [N, K/16],
//                                 <p>.weight_scale_2 F32 [], <p>.input_scale F32 [] (nvfp4 only)
//   ModelOpt fp8                : <p>.weight F8_E4M3 [N, K], <p>.weight_scale F32 [], <p>.input_scale F32 []
//   compressed-tensors          : <p>.weight_packed U8 [N, K/2], <p>.weight_scale F8_E4M3 [N, K/16],
//                                 <p>.weight_global_scale F32 [1], <p>.input_global_scale F32 [1] (nvfp4 only),
//                                 with compressed-tensors' own formulas (QuantizeNvfp4CtWeight, global = 2688/amax)
// Mixture-of-experts checkpoints saved with fused 3-D experts (transformers >= 5: "<p>.experts.gate_up_proj"
// [E, 2I, H], "<p>.experts.down_proj" [E, H, I]) are written per expert as ModelOpt exports them
// ("<p>.experts.<e>.gate_proj" etc., engine/split_experts_source.h); each expert's gate and up share weight_scale_2,
// and all experts of a layer share one input_scale for gate/up and one for down (the experts' inputs are calibrated
// together). The exclusion list written to the config names every Linear kept bf16 exactly (no wildcards), so
// every loader resolves the same layers; kExpertsOnly writes it sorted and with lm_head also when the head is tied
// to the embedding, as ModelOpt's export of the recipe does. The output tensors are assembled in memory before the
// write (fine for the model sizes the CPU reference runs; calibration needs the whole bf16 model on the CPU anyway).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/linear_scheme.h"
#include "engine/status.h"
#include "engine/weight_loader.h"

namespace fp4lab {

enum class CheckpointFormat { kModelOpt, kCompressedTensors };

// Which Linears a checkpoint quantizes:
//   kAllLinears  : every Linear but the default exclusions (lm_head, routers) and --exclude patterns.
//   kExpertsOnly : only the routed experts of mixture-of-experts layers ("<layer>.experts.<e>.{gate,up,down}_proj",
//                  part "experts" of the family's manifest), NVIDIA's DiffusionGemma recipe (Model-Optimizer
//                  modelopt_recipes/huggingface/diffusion_gemma/ptq/nvfp4_experts_only.yaml): attention, the dense
//                  MLP and the routers stay bf16 and are listed in the exclusions, and the KV cache is declared FP8
//                  (kv_cache_quant_algo "FP8" with no k/v scales, the recipe's fp8_cast: scale 1.0).
enum class QuantizeRecipe { kAllLinears, kExpertsOnly };

// "modelopt" | "compressed-tensors"; InvalidArgument listing both otherwise.
Result<CheckpointFormat> ParseCheckpointFormat(const std::string& name);
const char* CheckpointFormatName(CheckpointFormat format);
// "all-linears" | "experts-only"; InvalidArgument listing both otherwise.
Result<QuantizeRecipe> ParseQuantizeRecipe(const std::string& name);
const char* QuantizeRecipeName(QuantizeRecipe recipe);

struct QuantizeOptions {
  std::string model_dir;  // bf16 HF checkpoint: config.json, *.safetensors, tokenizer files
  std::string out_dir;    // created; its parent directories are created when missing
  LinearScheme scheme = LinearScheme::kNvfp4;  // kNvfp4, kNvfp4W4A16 or kFp8
  CheckpointFormat format = CheckpointFormat::kModelOpt;
  QuantizeRecipe recipe = QuantizeRecipe::kAllLinears;
  // Calibration (kNvfp4, kFp8). Either explicit token-id sequences, each run as its own sequence from position 0
  // (e.g. a reference's input_ids rows), or, when that is empty, text: [BOS] + tokenizer(text) truncated to
  // calibration_tokens tokens, exactly as Engine::Open calibrates a bf16 checkpoint quantized on load.
  std::vector<std::vector<int32_t>> calibration_sequences;
  std::string calibration_text;
  int calibration_tokens = 512;
  std::vector<std::string> exclude;  // extra module patterns kept bf16 ("model.layers.0.*", "*down_proj")
  bool force = false;                // replace an existing non-empty out_dir
  std::string producer_version = "fp4lab";  // ModelOpt "producer": {"name": "modelopt", "version": ...}
};

struct QuantizeReport {
  std::vector<LayerPrecision> layers;  // every Linear in checkpoint order: scheme, reason, stored bytes
  std::vector<std::string> excluded;   // the exclusion list written (ModelOpt exclude_modules / CT ignore)
  int64_t calibration_tokens = 0;      // tokens run through the model (0 for nvfp4-w4a16)
  int64_t tensor_bytes = 0;            // bytes of all tensors in the written model.safetensors
};

// Errors: InvalidArgument (bad options, non-finite weights, bad calibration ids, a fused group split by
// `exclude`), FailedPrecondition (out_dir exists and is not empty without force, input already quantized, no
// calibration data), NotFound (model_dir, config.json, tokenizer for text calibration), IoError (writes).
Result<QuantizeReport> QuantizeCheckpoint(const QuantizeOptions& options);

}  // namespace fp4lab
