// The synthetic model directories behind `bench --preset/--config` and `run --preset --tokenizer`: a config with
// deterministic random weights (engine/synthetic_weights.h), optionally with a copy of a real tokenizer, written under
// the system temp directory as fp4lab-synthetic/<slug>-<hash> (the hash covers the config, seed, origin and every
// tokenizer byte, so equal inputs reuse one directory and different ones never share it).
#pragma once

#include <string>

#include "engine/status.h"
#include "engine/synthetic_weights.h"

namespace fp4lab {

// Writes the directory for `spec` and returns its path. With `tokenizer_dir`, its tokenizer files (tokenizer.json
// or tokenizer.model, plus tokenizer_config.json, generation_config.json, special_tokens_map.json and
// chat_template.json/.jinja when present; each plain or gzipped as "<name>.gz", as the bundled tokenizers under
// tests/fixtures/tokenizers are stored) are copied, inflated, into <dir>/tokenizer and spec.tokenizer_dir points
// there. NotFound naming the folder when it holds neither tokenizer.json(.gz) nor tokenizer.model; IoError when the
// temp directory cannot be written.
Result<std::string> WriteSyntheticModel(SyntheticModelSpec spec, const std::string& slug,
                                        const std::string& tokenizer_dir = "");

}  // namespace fp4lab
