#include "harness/token_ids.h"

#include <charconv>
#include <limits>

namespace fp4lab {

namespace {

std::string Trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

std::vector<std::string> Split(const std::string& s, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(separator, start);
    parts.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

}  // namespace

Result<std::vector<std::vector<TokenId>>> ParseTokenIdSequences(const std::string& text, const std::string& flag) {
  std::vector<std::vector<TokenId>> sequences;
  for (const std::string& sequence_text : Split(text, ';')) {
    std::vector<TokenId> ids;
    for (const std::string& raw : Split(sequence_text, ',')) {
      const std::string piece = Trim(raw);
      int64_t id = -1;
      const auto [end, error] = std::from_chars(piece.data(), piece.data() + piece.size(), id);
      if (piece.empty() || error != std::errc() || end != piece.data() + piece.size() || id < 0 ||
          id > std::numeric_limits<TokenId>::max()) {
        return Status::InvalidArgument(flag + ": '" + piece + "' is not a token id (expected comma-separated "
                                       "non-negative integers, sequences separated by ';')");
      }
      ids.push_back(static_cast<TokenId>(id));
    }
    sequences.push_back(std::move(ids));
  }
  return sequences;
}

}  // namespace fp4lab
