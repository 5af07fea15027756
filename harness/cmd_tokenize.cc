// `fp4lab tokenize`: a checkpoint's tokenizer on text a user gives, to check by hand: ids, pieces and whether
// decoding gives the text back. Reads only the tokenizer files (tokenizer.json or tokenizer.model, and the
// configs that name special tokens), never weights.
#include <iostream>
#include <memory>
#include <sstream>

#include "engine/file_util.h"
#include "engine/tokenizer.h"
#include "harness/command.h"
#include "harness/paths.h"

namespace fp4lab {

namespace {

struct TokenizeFlags {
  std::string model = DefaultModelDir();
  std::string text;
  std::string file;
  std::string jsonl;
  bool special = false;
  bool json = false;
};

// The texts of a JSON Lines file, one {"text": "..."} object per non-empty line; all are checked before any is
// used.
Result<std::vector<std::string>> ReadJsonlTexts(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(const std::string content, ReadFile(path));
  std::vector<std::string> texts;
  std::istringstream lines(content);
  int line_number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_number);
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json item, ParseJsonBounded(line, where));
    if (!item.is_object() || !item.contains("text") || !item["text"].is_string()) {
      return Status::InvalidArgument(where + ": field 'text': expected {\"text\": \"...\"} with a string");
    }
    texts.push_back(item["text"].get<std::string>());
  }
  return texts;
}

Result<int> RunTokenize(const TokenizeFlags& f) {
  const int sources = !f.text.empty() + !f.file.empty() + !f.jsonl.empty();
  if (sources != 1) return Status::InvalidArgument("tokenize: give exactly one of --text, --file or --jsonl");
  FP4LAB_ASSIGN_OR_RETURN(auto tokenizer, Tokenizer::Open(f.model, /*bos_id=*/-1, /*eos_id=*/-1));
  const auto encode = [&](const std::string& text) {
    return f.special ? tokenizer->EncodeWithSpecialTokens(text) : tokenizer->Encode(text);
  };

  if (!f.jsonl.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<std::string> texts, ReadJsonlTexts(f.jsonl));
    std::vector<std::string> out;  // every line encoded before any is printed
    for (const std::string& text : texts) {
      FP4LAB_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, encode(text));
      FP4LAB_ASSIGN_OR_RETURN(const std::string decoded, tokenizer->Decode(ids, /*skip_special_tokens=*/false));
      out.push_back(nlohmann::json{{"ids", ids}, {"decoded", decoded}}.dump());
    }
    for (const std::string& line : out) std::cout << line << "\n";
    return 0;
  }

  std::string text = f.text;
  if (!f.file.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(text, ReadFile(f.file));
  }
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, encode(text));
  std::vector<std::string> pieces;
  for (const int32_t id : ids) pieces.push_back(tokenizer->IdToPiece(id));
  FP4LAB_ASSIGN_OR_RETURN(const std::string decoded, tokenizer->Decode(ids, /*skip_special_tokens=*/false));
  const std::string source = f.model + "/" + tokenizer->source_file();
  if (f.json) {
    const nlohmann::json out = {{"tokenizer", source},     {"ids", ids},
                                {"pieces", pieces},        {"decoded", decoded},
                                {"round_trip", decoded == text}, {"bos_id", tokenizer->bos_id()},
                                {"eos_ids", tokenizer->eos_ids()}};
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::cout << source << ": vocabulary " << tokenizer->vocab_size() << ", bos " << tokenizer->bos_id() << ", eos "
            << nlohmann::json(tokenizer->eos_ids()).dump() << "\n"
            << ids.size() << " ids: " << nlohmann::json(ids).dump() << "\n"
            << "pieces: " << nlohmann::json(pieces).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n"
            << "decoded: " << nlohmann::json(decoded).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n"
            << "round trip: " << (decoded == text ? "exact" : "differs from the input") << "\n";
  return 0;
}

}  // namespace

Command AddTokenizeCommand(CLI::App& root) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App* app = root.add_subcommand(
      "tokenize", "Token ids, pieces and the decode round trip of text (reads only the tokenizer files)");
  app->add_option("--model", flags->model, "Directory with tokenizer.json or tokenizer.model")->capture_default_str();
  app->add_option("--text", flags->text, "Text to tokenize");
  app->add_option("--file", flags->file, "Tokenize the whole content of this file");
  app->add_option("--jsonl", flags->jsonl,
                  "One {\"text\": ...} per line; prints one {\"ids\": [...], \"decoded\": ...} per line");
  app->add_flag("--special", flags->special, "Add the tokenizer's special tokens (e.g. BOS), as encode(text) does");
  app->add_flag("--json", flags->json, "Machine-readable output");
  return {app, [flags] { return RunTokenize(*flags); }};
}

}  // namespace fp4lab
