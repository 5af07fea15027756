// Plain-text corpora for perplexity and fidelity tasks (TinyStories, WikiText-2 raw, any UTF-8 text file).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

// Document separator used by TinyStories and GPT-style corpora.
inline constexpr std::string_view kEndOfTextSeparator = "<|endoftext|>";

struct TextCorpus {
  std::string path;                    // as given to ReadTextCorpus
  std::vector<std::string> documents;  // in file order; non-empty, no surrounding whitespace
  std::string sha256;                  // of the file's bytes, 64 lowercase hex characters
  size_t file_bytes = 0;
};

// Splits `text` on kEndOfTextSeparator when it occurs (each piece stripped of surrounding ASCII whitespace
// " \t\n\r\f\v", empty pieces dropped); otherwise returns the whole text as one document, unchanged.
std::vector<std::string> SplitDocuments(std::string_view text);

// Reads a UTF-8 text file and splits it with SplitDocuments.
// Errors: NotFound "<path>: no such file"; InvalidArgument "<path>: file is empty";
// InvalidArgument "<path>: invalid UTF-8 at byte offset N (line L)"; InvalidArgument if nothing but
// separators and whitespace remains; IoError if unreadable.
Result<TextCorpus> ReadTextCorpus(const std::string& path);

}  // namespace fp4lab
