// `fp4lab tokenize` on a directory holding only tokenizer files: ids, pieces, the round trip, JSON Lines, errors.
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/cli_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::RunFp4lab;

TEST(TokenizeCli, TextGivesIdsPiecesAndRoundTrip) {
  const std::string dir = testing::TokenizerFixtureDir("tinyllama-1.1b-chat-v1.0", "tokenize_cli_text");
  auto r = RunFp4lab("tokenize --model " + dir + " --text 'Hello world' --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto out = nlohmann::json::parse(r.output);
  EXPECT_EQ(out["ids"], nlohmann::json({15043, 3186}));  // reference.jsonl case 000
  EXPECT_EQ(out["pieces"], nlohmann::json({"\u2581Hello", "\u2581world"}));
  EXPECT_EQ(out["decoded"], "Hello world");
  EXPECT_EQ(out["round_trip"], true);

  auto special = RunFp4lab("tokenize --model " + dir + " --text 'Hello world' --special --json");
  ASSERT_EQ(special.exit_code, 0) << special.output;
  EXPECT_EQ(nlohmann::json::parse(special.output)["ids"], nlohmann::json({1, 15043, 3186}));

  auto text = RunFp4lab("tokenize --model " + dir + " --text 'Hello world'");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("2 ids: [15043,3186]"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("round trip: exact"), std::string::npos) << text.output;
}

TEST(TokenizeCli, JsonlWritesOneLinePerText) {
  const std::string dir = testing::TokenizerFixtureDir("qwen3", "tokenize_cli_jsonl");
  const std::string input = testing::WriteTempText("tokenize_jsonl", "{\"text\": \"Hello world\"}\n\n"
                                                                     "{\"text\": \"<|im_start|>user\"}\n");
  auto r = RunFp4lab("tokenize --model " + dir + " --jsonl " + input);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  std::string first, second, third;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_FALSE(std::getline(lines, third));
  EXPECT_EQ(nlohmann::json::parse(first), nlohmann::json::parse(R"({"ids": [9707, 1879], "decoded": "Hello world"})"));
  EXPECT_EQ(nlohmann::json::parse(second)["ids"], nlohmann::json({151644, 872}));
}

TEST(TokenizeCli, BadInputExitsTwoNamingTheFile) {
  const std::string dir = testing::TokenizerFixtureDir("qwen3", "tokenize_cli_bad");
  const std::string input = testing::WriteTempText("tokenize_bad_jsonl", "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
  auto bad_line = RunFp4lab("tokenize --model " + dir + " --jsonl " + input);
  EXPECT_EQ(bad_line.exit_code, 2) << bad_line.output;
  EXPECT_NE(bad_line.output.find(input + ":2: field 'text'"), std::string::npos) << bad_line.output;
  EXPECT_EQ(bad_line.output.find("\"ids\""), std::string::npos) << "nothing half-written: " << bad_line.output;

  const std::string deep = testing::WriteTempText(
      "tokenize_deep_jsonl", "{\"text\": \"ok\"}\n" + std::string(100000, '[') + std::string(100000, ']') + "\n");
  auto deep_line = RunFp4lab("tokenize --model " + dir + " --jsonl " + deep);
  EXPECT_EQ(deep_line.exit_code, 2) << deep_line.output;
  EXPECT_NE(deep_line.output.find(deep + ":2: JSON nested deeper than 64 levels"), std::string::npos)
      << deep_line.output;

  {
    std::ofstream truncated(dir + "/tokenizer.json", std::ios::binary | std::ios::trunc);
    truncated << R"({"model": {"type": "BPE", "vocab": {"a": 0)";
  }
  auto broken = RunFp4lab("tokenize --model " + dir + " --text hi");
  EXPECT_EQ(broken.exit_code, 2) << broken.output;
  EXPECT_NE(broken.output.find(dir + "/tokenizer.json: not valid JSON"), std::string::npos) << broken.output;

  auto none = RunFp4lab("tokenize --model " + testing::TempDir("tokenize_empty_dir") + " --text hi");
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(none.output.find("tokenizer missing"), std::string::npos) << none.output;

  auto two_sources = RunFp4lab("tokenize --model " + dir + " --text hi --file " + input);
  EXPECT_EQ(two_sources.exit_code, 2) << two_sources.output;
}

// --file tokenizes the file's whole content exactly as --text does (reference.jsonl case 001 of TinyLlama, the
// smallest bundled tokenizer).
TEST(TokenizeCli, FileGivesTheIdsOfItsWholeContent) {
  const std::string dir = testing::TokenizerFixtureDir("tinyllama-1.1b-chat-v1.0", "tokenize_cli_file");
  const std::string file =
      testing::WriteTempText("tokenize_file", "The quick brown fox jumps over the lazy dog.");
  auto r = RunFp4lab("tokenize --model " + dir + " --file " + file + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto out = nlohmann::json::parse(r.output);
  EXPECT_EQ(out["ids"], nlohmann::json({450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203, 29889}));
  EXPECT_EQ(out["decoded"], "The quick brown fox jumps over the lazy dog.");
}

// The issue's four kinds of malformed tokenizer.json, each through the real binary: exit 2, the message naming the
// file and (where the JSON parses) the field, and nothing printed as if tokenized.
TEST(TokenizeCli, MalformedTokenizerJsonExitsTwoNamingTheFileAndField) {
  const nlohmann::json good = nlohmann::json::parse(R"({
    "added_tokens": [], "normalizer": null, "post_processor": null, "decoder": null,
    "pre_tokenizer": {"type": "Split", "pattern": {"Regex": " ?[a-z]+"}, "behavior": "Isolated", "invert": false},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}
  })");
  nlohmann::json unknown_model = good, missing_token = good, bad_regex = good;
  unknown_model["model"]["type"] = "WordPiece";
  missing_token["model"]["merges"].push_back("ab c");
  bad_regex["pre_tokenizer"]["pattern"]["Regex"] = "[a-";
  const std::string text = good.dump();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {text.substr(0, text.size() / 2), "not valid JSON"},
      {unknown_model.dump(), "field 'model.type'"},
      {missing_token.dump(), "field 'model.merges[1]'"},
      {bad_regex.dump(), "field 'pre_tokenizer.pattern.Regex'"}};
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string dir = testing::TempDir("tokenize_cli_malformed_" + std::to_string(i));
    std::ofstream(dir + "/tokenizer.json", std::ios::binary | std::ios::trunc) << cases[i].first;
    auto r = RunFp4lab("tokenize --model " + dir + " --text ab --json");
    EXPECT_EQ(r.exit_code, 2) << cases[i].second << ": " << r.output;
    EXPECT_NE(r.output.find(dir + "/tokenizer.json: " + cases[i].second), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("\"ids\""), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace fp4lab
