#include "engine/tokenizer/post_processor.h"

#include <string>

namespace fp4lab::tokenizer {

namespace {

// A new T as the interface type the parse functions return.
template <typename T, typename... Args>
std::unique_ptr<PostProcessor> Make(Args&&... args) {
  return std::make_unique<T>(std::forward<Args>(args)...);
}

// The sequence's ids between fixed runs of special-token ids: prefix, ids, suffix.
class SurroundProcessor final : public PostProcessor {
 public:
  SurroundProcessor(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void AddSpecialTokens(std::vector<int32_t>* ids) const override {
    ids->insert(ids->begin(), prefix_.begin(), prefix_.end());
    ids->insert(ids->end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<int32_t> prefix_, suffix_;
};

class NoOpProcessor final : public PostProcessor {
 public:
  void AddSpecialTokens(std::vector<int32_t>*) const override {}
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void AddSpecialTokens(std::vector<int32_t>* ids) const override {
    for (const auto& step : steps_) step->AddSpecialTokens(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

// TemplateProcessing's "single": a list of {"SpecialToken": {"id": name}} and one {"Sequence": {"id": "A"}}; each
// special token's ids come from "special_tokens"[name].ids.
Result<std::unique_ptr<PostProcessor>> ParseTemplate(const nlohmann::json& node, std::string_view path,
                                                     const JsonFields& fields) {
  const std::string single_path = JoinPath(path, "single");
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* single, fields.Required(node, path, "single", "a template list"));
  if (!single->is_array()) return fields.TypeError(single_path, "a template list", *single);
  const std::string specials_path = JoinPath(path, "special_tokens");
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* specials,
                          fields.Required(node, path, "special_tokens", "an object of special tokens"));
  if (!specials->is_object()) return fields.TypeError(specials_path, "an object of special tokens", *specials);
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const std::string item_path = IndexPath(single_path, i);
    const nlohmann::json& item = (*single)[i];
    if (item.is_object() && item.contains("Sequence")) {
      if (seen_sequence) return fields.Error(item_path, "expected one Sequence in the single template");
      seen_sequence = true;
      continue;
    }
    if (!item.is_object() || !item.contains("SpecialToken")) {
      return fields.Error(item_path, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
    const std::string token_path = JoinPath(item_path, "SpecialToken");
    FP4LAB_ASSIGN_OR_RETURN(const std::string name, fields.RequiredString(item["SpecialToken"], token_path, "id"));
    if (!specials->contains(name)) {
      return fields.Error(JoinPath(token_path, "id"), "\"" + name + "\" is not in " + specials_path);
    }
    const std::string entry_path = JoinPath(specials_path, name);
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* ids, fields.Required((*specials)[name], entry_path, "ids",
                                                                       "a list of ids"));
    if (!ids->is_array()) return fields.TypeError(JoinPath(entry_path, "ids"), "a list of ids", *ids);
    for (const nlohmann::json& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0) {
        return fields.TypeError(JoinPath(entry_path, "ids"), "non-negative integer ids", id);
      }
      (seen_sequence ? suffix : prefix).push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  if (!seen_sequence) return fields.Error(single_path, "expected a {\"Sequence\": ...} item");
  return Make<SurroundProcessor>(std::move(prefix), std::move(suffix));
}

// BertProcessing / RobertaProcessing: "cls" and "sep" are ["token", id].
Result<int32_t> TokenIdPair(const nlohmann::json& node, std::string_view path, const char* key,
                            const JsonFields& fields) {
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* pair, fields.Required(node, path, key, "[\"token\", id]"));
  if (!pair->is_array() || pair->size() != 2 || !(*pair)[1].is_number_integer()) {
    return fields.TypeError(JoinPath(path, key), "[\"token\", id]", *pair);
  }
  return static_cast<int32_t>((*pair)[1].get<int64_t>());
}

}  // namespace

Result<std::unique_ptr<PostProcessor>> ParsePostProcessor(const nlohmann::json& node, std::string_view path,
                                                          const JsonFields& fields) {
  FP4LAB_ASSIGN_OR_RETURN(const std::string type, fields.Type(node, path));
  if (type == "TemplateProcessing") return ParseTemplate(node, path, fields);
  if (type == "ByteLevel") return Make<NoOpProcessor>();
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    FP4LAB_ASSIGN_OR_RETURN(const int32_t cls, TokenIdPair(node, path, "cls", fields));
    FP4LAB_ASSIGN_OR_RETURN(const int32_t sep, TokenIdPair(node, path, "sep", fields));
    return Make<SurroundProcessor>(std::vector<int32_t>{cls}, std::vector<int32_t>{sep});
  }
  if (type == "Sequence") {
    const std::string list_path = JoinPath(path, "processors");
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* list, fields.Required(node, path, "processors", "a list"));
    if (!list->is_array()) return fields.TypeError(list_path, "a list of post-processors", *list);
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      FP4LAB_ASSIGN_OR_RETURN(auto step, ParsePostProcessor((*list)[i], IndexPath(list_path, i), fields));
      steps.push_back(std::move(step));
    }
    return Make<SequenceProcessor>(std::move(steps));
  }
  return fields.Error(JoinPath(path, "type"), "unsupported post-processor \"" + type +
                                                  "\" (expected TemplateProcessing, ByteLevel, BertProcessing, "
                                                  "RobertaProcessing or Sequence)");
}

}  // namespace fp4lab::tokenizer
