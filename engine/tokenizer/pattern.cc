#include "engine/tokenizer/pattern.h"

#include <algorithm>

namespace fp4lab::tokenizer {

Result<std::shared_ptr<const Regex>> ParsePattern(const nlohmann::json& pattern, std::string_view path,
                                                  const JsonFields& fields) {
  const bool is_string = pattern.is_object() && pattern.size() == 1 && pattern.contains("String");
  const bool is_regex = pattern.is_object() && pattern.size() == 1 && pattern.contains("Regex");
  if (!is_string && !is_regex) {
    return fields.Error(path, "expected {\"String\": ...} or {\"Regex\": ...}, got " + pattern.dump().substr(0, 80));
  }
  const std::string key = is_string ? "String" : "Regex";
  FP4LAB_ASSIGN_OR_RETURN(const std::string text, fields.RequiredString(pattern, path, key.c_str()));
  auto regex = Regex::Compile(text, /*literal=*/is_string);
  if (!regex.ok()) return fields.Error(JoinPath(path, key), regex.status().message());
  return std::move(regex).value();
}

Result<SplitBehavior> ParseSplitBehavior(const nlohmann::json& value, std::string_view path,
                                         const JsonFields& fields) {
  if (value.is_string()) {
    const std::string name = value.get<std::string>();
    if (name == "Removed") return SplitBehavior::kRemoved;
    if (name == "Isolated") return SplitBehavior::kIsolated;
    if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
    if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
    if (name == "Contiguous") return SplitBehavior::kContiguous;
  }
  return fields.Error(path, "expected one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous, got " +
                                value.dump());
}

Status SplitText(std::string_view text, const Regex& regex, SplitBehavior behavior, bool invert,
                 std::vector<std::string_view>* pieces) {
  std::vector<Segment> segments;
  FP4LAB_RETURN_IF_ERROR(regex.FindSegments(text, &segments));
  if (invert) {
    for (Segment& s : segments) s.is_match = !s.is_match;
  }
  // Each entry: a byte range and whether it is dropped.
  struct Piece {
    size_t begin, end;
    bool removed;
  };
  std::vector<Piece> result;
  result.reserve(segments.size());
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) result.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments) result.push_back({s.begin, s.end, s.is_match});
      break;
    case SplitBehavior::kContiguous: {
      bool has_previous = false, previous_match = false;
      for (const Segment& s : segments) {
        if (has_previous && s.is_match == previous_match) {
          result.back().end = s.end;
        } else {
          result.push_back({s.begin, s.end, false});
        }
        has_previous = true;
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !result.empty()) {
          result.back().end = s.end;
        } else {
          result.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;  // walking right to left: whether the segment to the right matched
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !result.empty()) {
          result.back().begin = it->begin;
        } else {
          result.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(result.begin(), result.end());
      break;
    }
  }
  for (const Piece& p : result) {
    if (!p.removed && p.end > p.begin) pieces->push_back(text.substr(p.begin, p.end - p.begin));
  }
  return Status::Ok();
}

}  // namespace fp4lab::tokenizer
