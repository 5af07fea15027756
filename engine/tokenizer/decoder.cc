#include "engine/tokenizer/decoder.h"

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pattern.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/unicode_text.h"

namespace fp4lab::tokenizer {

namespace {

// A new T as the interface type the parse functions return.
template <typename T, typename... Args>
std::unique_ptr<Decoder> Make(Args&&... args) {
  return std::make_unique<T>(std::forward<Args>(args)...);
}

constexpr const char* kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Joins the tokens, maps each byte-level character back to its byte (a token with any other character keeps its
// own bytes) and reads the bytes as UTF-8, invalid sequences becoming U+FFFD.
class ByteLevelDecoder final : public Decoder {
 public:
  Status DecodeChain(std::vector<std::string>* tokens) const override {
    std::string bytes;
    for (const std::string& token : *tokens) {
      const size_t start = bytes.size();
      bool all_mapped = true;
      char32_t c;
      for (size_t pos = 0; pos < token.size();) {
        const int length = DecodeUtf8(token, pos, &c);
        const int byte = length > 0 ? ByteOfByteLevelChar(c) : -1;
        if (byte < 0) {
          all_mapped = false;
          break;
        }
        bytes.push_back(static_cast<char>(byte));
        pos += length;
      }
      if (!all_mapped) {
        bytes.resize(start);
        bytes += token;
      }
    }
    *tokens = {Utf8Lossy(bytes)};
    return Status::Ok();
  }
};

// Runs of "<0xXX>" tokens become the UTF-8 text of their bytes, or one U+FFFD per byte if that is not valid UTF-8.
class ByteFallbackDecoder final : public Decoder {
 public:
  Status DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    std::string pending;  // bytes of the current run
    size_t pending_count = 0;
    const auto flush = [&] {
      if (pending_count == 0) return;
      if (FindInvalidUtf8(pending) == std::string_view::npos) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending_count; ++i) out.emplace_back(kReplacementCharacter);
      }
      pending.clear();
      pending_count = 0;
    };
    for (std::string& token : *tokens) {
      int byte = -1;
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>') {
        byte = ParseHexByte(token[3], token[4]);
      }
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
        ++pending_count;
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    *tokens = std::move(out);
    return Status::Ok();
  }

 private:
  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int ParseHexByte(char high, char low) {
    const int h = HexDigit(high), l = HexDigit(low);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class FuseDecoder final : public Decoder {
 public:
  Status DecodeChain(std::vector<std::string>* tokens) const override {
    std::string joined;
    for (const std::string& token : *tokens) joined += token;
    *tokens = {std::move(joined)};
    return Status::Ok();
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& token : *tokens) {
      size_t begin = 0, end = token.size();
      for (size_t i = 0; i < start_ && token.compare(begin, content_.size(), content_) == 0 && begin < end; ++i) {
        begin += content_.size();
      }
      for (size_t i = 0; i < stop_ && end >= begin + content_.size() &&
                         token.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i) {
        end -= content_.size();
      }
      token = token.substr(begin, end - begin);
    }
    return Status::Ok();
  }

 private:
  std::string content_;  // one character
  size_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::shared_ptr<const Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  Status DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<Segment> segments;
    for (std::string& token : *tokens) {
      FP4LAB_RETURN_IF_ERROR(pattern_->FindSegments(token, &segments));
      std::string out;
      for (const Segment& s : segments) {
        if (s.is_match) {
          out += content_;
        } else {
          out.append(token, s.begin, s.end - s.begin);
        }
      }
      token = std::move(out);
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<const Regex> pattern_;
  std::string content_;
};

// The replacement character becomes a space, except in the first token, where it is dropped unless the
// pre-tokenizer never prepends it.
class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool drop_in_first) : replacement_(std::move(replacement)),
                                                                   drop_in_first_(drop_in_first) {}
  Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      std::string& token = (*tokens)[i];
      std::string out;
      for (size_t pos = 0; pos < token.size();) {
        if (token.compare(pos, replacement_.size(), replacement_) == 0) {
          if (i != 0 || !drop_in_first_) out += ' ';
          pos += replacement_.size();
        } else {
          out += token[pos++];
        }
      }
      token = std::move(out);
    }
    return Status::Ok();
  }

 private:
  std::string replacement_;
  bool drop_in_first_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (const auto& step : steps_) FP4LAB_RETURN_IF_ERROR(step->DecodeChain(tokens));
    return Status::Ok();
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

// A one-character string field.
Result<std::string> CharacterField(const nlohmann::json& node, std::string_view path, const char* key,
                                   const char* fallback, const JsonFields& fields) {
  FP4LAB_ASSIGN_OR_RETURN(std::string value, fields.OptionalString(node, path, key, fallback));
  char32_t c;
  if (value.empty() || DecodeUtf8(value, 0, &c) != static_cast<int>(value.size())) {
    return fields.Error(JoinPath(path, key), "expected exactly one character, got \"" + value + "\"");
  }
  return value;
}

}  // namespace

Result<std::unique_ptr<Decoder>> ParseDecoder(const nlohmann::json& node, std::string_view path,
                                              const JsonFields& fields) {
  FP4LAB_ASSIGN_OR_RETURN(const std::string type, fields.Type(node, path));
  if (type == "ByteLevel") return Make<ByteLevelDecoder>();
  if (type == "ByteFallback") return Make<ByteFallbackDecoder>();
  if (type == "Fuse") return Make<FuseDecoder>();
  if (type == "Strip") {
    FP4LAB_ASSIGN_OR_RETURN(std::string content, CharacterField(node, path, "content", " ", fields));
    FP4LAB_ASSIGN_OR_RETURN(const int64_t start, fields.OptionalInt(node, path, "start", 0));
    FP4LAB_ASSIGN_OR_RETURN(const int64_t stop, fields.OptionalInt(node, path, "stop", 0));
    if (start < 0 || stop < 0) return fields.Error(path, "expected non-negative start and stop");
    return Make<StripDecoder>(std::move(content), static_cast<size_t>(start), static_cast<size_t>(stop));
  }
  if (type == "Replace") {
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* pattern, fields.Required(node, path, "pattern", "a pattern"));
    FP4LAB_ASSIGN_OR_RETURN(auto regex, ParsePattern(*pattern, JoinPath(path, "pattern"), fields));
    FP4LAB_ASSIGN_OR_RETURN(std::string content, fields.RequiredString(node, path, "content"));
    return Make<ReplaceDecoder>(std::move(regex), std::move(content));
  }
  if (type == "Metaspace") {
    FP4LAB_ASSIGN_OR_RETURN(std::string replacement, CharacterField(node, path, "replacement", "\u2581", fields));
    FP4LAB_ASSIGN_OR_RETURN(const bool add_prefix_space, fields.OptionalBool(node, path, "add_prefix_space", true));
    FP4LAB_ASSIGN_OR_RETURN(const std::string scheme, fields.OptionalString(node, path, "prepend_scheme",
                                                                             add_prefix_space ? "always" : "never"));
    return Make<MetaspaceDecoder>(std::move(replacement), scheme != "never");
  }
  if (type == "Sequence") {
    const std::string list_path = JoinPath(path, "decoders");
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* list, fields.Required(node, path, "decoders", "a list"));
    if (!list->is_array()) return fields.TypeError(list_path, "a list of decoders", *list);
    std::vector<std::unique_ptr<Decoder>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      FP4LAB_ASSIGN_OR_RETURN(auto step, ParseDecoder((*list)[i], IndexPath(list_path, i), fields));
      steps.push_back(std::move(step));
    }
    return Make<SequenceDecoder>(std::move(steps));
  }
  return fields.Error(JoinPath(path, "type"), "unsupported decoder \"" + type +
                                                  "\" (expected ByteLevel, ByteFallback, Fuse, Strip, Replace, "
                                                  "Metaspace or Sequence)");
}

}  // namespace fp4lab::tokenizer
