// LinearScheme: how one Linear layer's weights and input activations are stored and computed. The names are the
// precision names users type in --precisions and read in reports.
#pragma once

namespace fp4lab {

enum class LinearScheme {
  kBf16,        // unquantized: bf16 weight, activations unquantized ("bf16")
  kNvfp4,       // W4A4: NVFP4 weights, NVFP4 activations (dynamic per-16 scales, static input_scale) ("nvfp4")
  kNvfp4W4A16,  // NVFP4 weights, activations unquantized (ModelOpt W4A16_NVFP4, CT NVFP4A16) ("nvfp4-w4a16")
  kFp8,         // per-tensor FP8 E4M3 weights and activations, W8A8 (fp8.h) ("fp8")
};

// "bf16", "nvfp4", "nvfp4-w4a16", "fp8".
const char* LinearSchemeName(LinearScheme scheme);

}  // namespace fp4lab
