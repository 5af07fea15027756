#include "engine/tokenizer/normalizer.h"

#include <vector>

#include <unicode/bytestream.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "engine/tokenizer/pattern.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/unicode_text.h"

namespace fp4lab::tokenizer {

namespace {

// A new T as the interface type the parse functions return.
template <typename T, typename... Args>
std::unique_ptr<Normalizer> Make(Args&&... args) {
  return std::make_unique<T>(std::forward<Args>(args)...);
}

// NFC / NFD / NFKC / NFKD through ICU's Normalizer2, straight on UTF-8.
class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(const icu::Normalizer2* normalizer) : normalizer_(normalizer) {}
  Status Normalize(std::string* text) const override {
    UErrorCode status = U_ZERO_ERROR;
    if (normalizer_->isNormalizedUTF8(*text, status) && U_SUCCESS(status)) return Status::Ok();
    status = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text->size()));
    normalizer_->normalizeUTF8(0, *text, sink, nullptr, status);
    if (U_FAILURE(status)) {
      return Status::Internal(std::string("tokenizer: ICU normalization failed: ") + u_errorName(status));
    }
    *text = std::move(out);
    return Status::Ok();
  }

 private:
  const icu::Normalizer2* normalizer_;  // owned by ICU, lives for the process
};

// Full Unicode lowercase mapping, locale-independent (Rust's str::to_lowercase).
class LowercaseNormalizer final : public Normalizer {
 public:
  Status Normalize(std::string* text) const override {
    std::string out;
    icu::UnicodeString::fromUTF8(*text).toLower(icu::Locale::getRoot()).toUTF8String(out);
    *text = std::move(out);
    return Status::Ok();
  }
};

// Removes leading and/or trailing Unicode whitespace.
class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  Status Normalize(std::string* text) const override {
    size_t begin = 0, end = text->size();
    char32_t c;
    if (left_) {
      while (begin < end) {
        const int n = DecodeUtf8(*text, begin, &c);
        if (n == 0 || !IsWhitespace(c)) break;
        begin += n;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>((*text)[start]) & 0xC0) == 0x80) --start;
        const int n = DecodeUtf8(*text, start, &c);
        if (n == 0 || !IsWhitespace(c)) break;
        end = start;
      }
    }
    *text = text->substr(begin, end - begin);
    return Status::Ok();
  }

 private:
  bool left_, right_;
};

// Prepends a string to non-empty text.
class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  Status Normalize(std::string* text) const override {
    if (!text->empty()) text->insert(0, prefix_);
    return Status::Ok();
  }

 private:
  std::string prefix_;
};

// Replaces every match of a pattern.
class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::shared_ptr<const Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  Status Normalize(std::string* text) const override {
    std::vector<Segment> segments;
    FP4LAB_RETURN_IF_ERROR(pattern_->FindSegments(*text, &segments));
    if (segments.size() == 1 && !segments[0].is_match) return Status::Ok();
    std::string out;
    out.reserve(text->size());
    for (const Segment& s : segments) {
      if (s.is_match) {
        out += content_;
      } else {
        out.append(*text, s.begin, s.end - s.begin);
      }
    }
    *text = std::move(out);
    return Status::Ok();
  }

 private:
  std::shared_ptr<const Regex> pattern_;
  std::string content_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  Status Normalize(std::string* text) const override {
    for (const auto& step : steps_) FP4LAB_RETURN_IF_ERROR(step->Normalize(text));
    return Status::Ok();
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

Result<const icu::Normalizer2*> IcuNormalizer(const std::string& type, std::string_view path,
                                              const JsonFields& fields) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = nullptr;
  if (type == "NFC") normalizer = icu::Normalizer2::getNFCInstance(status);
  if (type == "NFD") normalizer = icu::Normalizer2::getNFDInstance(status);
  if (type == "NFKC") normalizer = icu::Normalizer2::getNFKCInstance(status);
  if (type == "NFKD") normalizer = icu::Normalizer2::getNFKDInstance(status);
  if (normalizer == nullptr || U_FAILURE(status)) {
    return fields.Error(path, std::string("ICU cannot provide the ") + type + " normalizer: " + u_errorName(status));
  }
  return normalizer;
}

}  // namespace

Result<std::unique_ptr<Normalizer>> ParseNormalizer(const nlohmann::json& node, std::string_view path,
                                                    const JsonFields& fields) {
  FP4LAB_ASSIGN_OR_RETURN(const std::string type, fields.Type(node, path));
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    FP4LAB_ASSIGN_OR_RETURN(const icu::Normalizer2* normalizer, IcuNormalizer(type, path, fields));
    return Make<UnicodeNormalizer>(normalizer);
  }
  if (type == "Lowercase") return Make<LowercaseNormalizer>();
  if (type == "Strip") {
    FP4LAB_ASSIGN_OR_RETURN(const bool left, fields.OptionalBool(node, path, "strip_left", true));
    FP4LAB_ASSIGN_OR_RETURN(const bool right, fields.OptionalBool(node, path, "strip_right", true));
    return Make<StripNormalizer>(left, right);
  }
  if (type == "Prepend") {
    FP4LAB_ASSIGN_OR_RETURN(std::string prefix, fields.RequiredString(node, path, "prepend"));
    return Make<PrependNormalizer>(std::move(prefix));
  }
  if (type == "Replace") {
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* pattern, fields.Required(node, path, "pattern", "a pattern"));
    FP4LAB_ASSIGN_OR_RETURN(auto regex, ParsePattern(*pattern, JoinPath(path, "pattern"), fields));
    FP4LAB_ASSIGN_OR_RETURN(std::string content, fields.RequiredString(node, path, "content"));
    return Make<ReplaceNormalizer>(std::move(regex), std::move(content));
  }
  if (type == "Sequence") {
    const std::string list_path = JoinPath(path, "normalizers");
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* list, fields.Required(node, path, "normalizers", "a list"));
    if (!list->is_array()) return fields.TypeError(list_path, "a list of normalizers", *list);
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      FP4LAB_ASSIGN_OR_RETURN(auto step, ParseNormalizer((*list)[i], IndexPath(list_path, i), fields));
      steps.push_back(std::move(step));
    }
    return Make<SequenceNormalizer>(std::move(steps));
  }
  return fields.Error(JoinPath(path, "type"), "unsupported normalizer \"" + type +
                                                  "\" (expected NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, "
                                                  "Replace or Sequence)");
}

}  // namespace fp4lab::tokenizer
