#include "engine/tokenizer/pre_tokenizer.h"

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pattern.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/unicode_text.h"

namespace fp4lab::tokenizer {

namespace {

// A new T as the interface type the parse functions return.
template <typename T, typename... Args>
std::unique_ptr<PreTokenizer> Make(Args&&... args) {
  return std::make_unique<T>(std::forward<Args>(args)...);
}

// Splits every word with `regex` and `behavior`; a piece starts the input if its word did and it begins at 0.
Status SplitWords(const Regex& regex, SplitBehavior behavior, bool invert, std::vector<PreToken>* words) {
  std::vector<PreToken> out;
  out.reserve(words->size());
  std::vector<std::string_view> pieces;
  for (PreToken& word : *words) {
    pieces.clear();
    FP4LAB_RETURN_IF_ERROR(SplitText(word.text, regex, behavior, invert, &pieces));
    for (std::string_view piece : pieces) {
      out.push_back({std::string(piece), word.starts_input && piece.data() == word.text.data()});
    }
  }
  *words = std::move(out);
  return Status::Ok();
}

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::shared_ptr<const Regex> regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  Status PreTokenize(std::vector<PreToken>* words) const override {
    return SplitWords(*regex_, behavior_, invert_, words);
  }

 private:
  std::shared_ptr<const Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

// GPT-2's pre-tokenizer: optionally a leading space, optionally GPT-2's word regex, then each byte as its
// byte-level character.
class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::shared_ptr<const Regex> word_regex)
      : add_prefix_space_(add_prefix_space), word_regex_(std::move(word_regex)) {}
  Status PreTokenize(std::vector<PreToken>* words) const override {
    if (add_prefix_space_) {
      for (PreToken& word : *words) {
        if (word.text.empty() || word.text[0] != ' ') word.text.insert(word.text.begin(), ' ');
      }
    }
    if (word_regex_) FP4LAB_RETURN_IF_ERROR(SplitWords(*word_regex_, SplitBehavior::kIsolated, false, words));
    std::string mapped;
    for (PreToken& word : *words) {
      mapped.clear();
      AppendByteLevel(word.text, &mapped);
      word.text.swap(mapped);
    }
    return Status::Ok();
  }

 private:
  bool add_prefix_space_;
  std::shared_ptr<const Regex> word_regex_;  // null when use_regex is false
};

enum class PrependScheme { kAlways, kFirst, kNever };

// Sentencepiece's whitespace handling: spaces become the replacement character (▁), which is prepended per the
// scheme, and with `split` each word starts at a replacement character.
class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, std::shared_ptr<const Regex> split_regex)
      : replacement_(std::move(replacement)), scheme_(scheme), split_regex_(std::move(split_regex)) {}
  Status PreTokenize(std::vector<PreToken>* words) const override {
    for (PreToken& word : *words) {
      std::string replaced;
      for (const char c : word.text) {
        if (c == ' ') {
          replaced += replacement_;
        } else {
          replaced += c;
        }
      }
      const bool starts_with_replacement = replaced.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts_with_replacement &&
          (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && word.starts_input))) {
        replaced.insert(0, replacement_);
      }
      word.text = std::move(replaced);
    }
    if (split_regex_) return SplitWords(*split_regex_, SplitBehavior::kMergedWithNext, /*invert=*/false, words);
    return Status::Ok();
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  std::shared_ptr<const Regex> split_regex_;  // the replacement character; null when split is false
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  Status PreTokenize(std::vector<PreToken>* words) const override {
    for (const auto& step : steps_) FP4LAB_RETURN_IF_ERROR(step->PreTokenize(words));
    return Status::Ok();
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// GPT-2's word regex, as the ByteLevel pre-tokenizer of Hugging Face tokenizers writes it.
constexpr const char* kGpt2WordRegex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

Result<std::unique_ptr<PreTokenizer>> RegexSplit(const char* pattern, SplitBehavior behavior, bool invert) {
  FP4LAB_ASSIGN_OR_RETURN(auto regex, Regex::Compile(pattern, /*literal=*/false));
  return Make<SplitPreTokenizer>(std::move(regex), behavior, invert);
}

Result<std::unique_ptr<PreTokenizer>> ParseMetaspace(const nlohmann::json& node, std::string_view path,
                                                     const JsonFields& fields) {
  FP4LAB_ASSIGN_OR_RETURN(const std::string replacement, fields.OptionalString(node, path, "replacement", "\u2581"));
  char32_t c;
  if (replacement.empty() || DecodeUtf8(replacement, 0, &c) != static_cast<int>(replacement.size())) {
    return fields.Error(JoinPath(path, "replacement"), "expected exactly one character, got \"" + replacement + "\"");
  }
  // Files before tokenizers 0.14 say add_prefix_space instead of prepend_scheme.
  FP4LAB_ASSIGN_OR_RETURN(const bool add_prefix_space, fields.OptionalBool(node, path, "add_prefix_space", true));
  FP4LAB_ASSIGN_OR_RETURN(const std::string scheme_name, fields.OptionalString(node, path, "prepend_scheme",
                                                                                add_prefix_space ? "always" : "never"));
  PrependScheme scheme;
  if (scheme_name == "always") {
    scheme = PrependScheme::kAlways;
  } else if (scheme_name == "first") {
    scheme = PrependScheme::kFirst;
  } else if (scheme_name == "never") {
    scheme = PrependScheme::kNever;
  } else {
    return fields.Error(JoinPath(path, "prepend_scheme"),
                        "expected always, first or never, got \"" + scheme_name + "\"");
  }
  FP4LAB_ASSIGN_OR_RETURN(const bool split, fields.OptionalBool(node, path, "split", true));
  std::shared_ptr<const Regex> split_regex;
  if (split) {
    FP4LAB_ASSIGN_OR_RETURN(split_regex, Regex::Compile(replacement, /*literal=*/true));
  }
  return Make<MetaspacePreTokenizer>(replacement, scheme, std::move(split_regex));
}

}  // namespace

Result<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const nlohmann::json& node, std::string_view path,
                                                        const JsonFields& fields) {
  FP4LAB_ASSIGN_OR_RETURN(const std::string type, fields.Type(node, path));
  if (type == "Split") {
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* pattern, fields.Required(node, path, "pattern", "a pattern"));
    FP4LAB_ASSIGN_OR_RETURN(auto regex, ParsePattern(*pattern, JoinPath(path, "pattern"), fields));
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* behavior_node,
                            fields.Required(node, path, "behavior", "a split behavior"));
    FP4LAB_ASSIGN_OR_RETURN(const SplitBehavior behavior,
                            ParseSplitBehavior(*behavior_node, JoinPath(path, "behavior"), fields));
    FP4LAB_ASSIGN_OR_RETURN(const bool invert, fields.OptionalBool(node, path, "invert", false));
    return Make<SplitPreTokenizer>(std::move(regex), behavior, invert);
  }
  if (type == "ByteLevel") {
    FP4LAB_ASSIGN_OR_RETURN(const bool add_prefix_space, fields.OptionalBool(node, path, "add_prefix_space", true));
    FP4LAB_ASSIGN_OR_RETURN(const bool use_regex, fields.OptionalBool(node, path, "use_regex", true));
    std::shared_ptr<const Regex> word_regex;
    if (use_regex) {
      FP4LAB_ASSIGN_OR_RETURN(word_regex, Regex::Compile(kGpt2WordRegex, /*literal=*/false));
    }
    return Make<ByteLevelPreTokenizer>(add_prefix_space, std::move(word_regex));
  }
  if (type == "Metaspace") return ParseMetaspace(node, path, fields);
  if (type == "Digits") {
    FP4LAB_ASSIGN_OR_RETURN(const bool individual, fields.OptionalBool(node, path, "individual_digits", false));
    return RegexSplit(individual ? R"(\p{N})" : R"(\p{N}+)", SplitBehavior::kIsolated, false);
  }
  if (type == "Whitespace") return RegexSplit(R"(\w+|[^\w\s]+)", SplitBehavior::kRemoved, /*invert=*/true);
  if (type == "WhitespaceSplit") return RegexSplit(R"(\s+)", SplitBehavior::kRemoved, /*invert=*/false);
  if (type == "Sequence") {
    const std::string list_path = JoinPath(path, "pretokenizers");
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* list, fields.Required(node, path, "pretokenizers", "a list"));
    if (!list->is_array()) return fields.TypeError(list_path, "a list of pre-tokenizers", *list);
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      FP4LAB_ASSIGN_OR_RETURN(auto step, ParsePreTokenizer((*list)[i], IndexPath(list_path, i), fields));
      steps.push_back(std::move(step));
    }
    return Make<SequencePreTokenizer>(std::move(steps));
  }
  return fields.Error(JoinPath(path, "type"), "unsupported pre-tokenizer \"" + type +
                                                  "\" (expected Split, ByteLevel, Metaspace, Digits, Whitespace, "
                                                  "WhitespaceSplit or Sequence)");
}

}  // namespace fp4lab::tokenizer
