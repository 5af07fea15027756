#include "datasets/text_corpus.h"

#include "datasets/sha256.h"
#include "datasets/utf8.h"
#include "engine/file_util.h"

namespace fp4lab {
namespace {

std::string_view StripAsciiWhitespace(std::string_view s) {
  static constexpr std::string_view kWhitespace = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kWhitespace);
  return s.substr(begin, end - begin + 1);
}

}  // namespace

std::vector<std::string> SplitDocuments(std::string_view text) {
  if (text.find(kEndOfTextSeparator) == std::string_view::npos) return {std::string(text)};
  std::vector<std::string> documents;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(kEndOfTextSeparator, start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view document = StripAsciiWhitespace(text.substr(start, end - start));
    if (!document.empty()) documents.emplace_back(document);
    start = end + kEndOfTextSeparator.size();
  }
  return documents;
}

Result<TextCorpus> ReadTextCorpus(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  if (text.empty()) return Status::InvalidArgument(path + ": file is empty");
  if (const auto error = FindInvalidUtf8(text)) {
    return Status::InvalidArgument(path + ": invalid UTF-8 at byte offset " + std::to_string(error->byte_offset) +
                                   " (line " + std::to_string(error->line) + ")");
  }
  TextCorpus corpus;
  corpus.path = path;
  corpus.file_bytes = text.size();
  corpus.sha256 = Sha256Hex(text);
  corpus.documents = SplitDocuments(text);
  if (corpus.documents.empty() || StripAsciiWhitespace(text).empty()) {
    return Status::InvalidArgument(path + ": no text besides '" + std::string(kEndOfTextSeparator) +
                                   "' separators and whitespace");
  }
  return corpus;
}

}  // namespace fp4lab
