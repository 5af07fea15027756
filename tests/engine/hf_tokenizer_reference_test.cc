// Every case of every bundled tokenizer.json against the reference encodings of the Rust HF tokenizers library
// (cross-checked with transformers.js): ids without and with special tokens, and the decoded text; and the ids of
// the reference chat renderings.
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/file_util.h"
#include "engine/tokenizer/hf_tokenizer.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::Text;
using tokenizer::HfTokenizer;

std::vector<nlohmann::json> ReadReference(const std::string& family) {
  std::ifstream in(testing::FixturePath("tokenizers/" + family + "/reference.jsonl"));
  std::vector<nlohmann::json> cases;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) cases.push_back(nlohmann::json::parse(line));
  }
  return cases;
}

std::unique_ptr<HfTokenizer> OpenFamily(const std::string& family) {
  const std::string path = testing::FixturePath("tokenizers/" + family + "/tokenizer.json.gz");
  auto text = ReadGzipFile(path);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  if (!text.ok()) return nullptr;
  auto tokenizer = HfTokenizer::Parse(*text, path);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  return tokenizer.ok() ? std::move(tokenizer).value() : nullptr;
}

class HfTokenizerReference : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTokenizerReference, EveryCaseMatchesIdsAndDecodedText) {
  const auto tokenizer = OpenFamily(GetParam());
  ASSERT_NE(tokenizer, nullptr);
  const auto cases = ReadReference(GetParam());
  ASSERT_EQ(cases.size(), 59u);
  for (const nlohmann::json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE("case " + c["id"].get<std::string>() + " (" + c["category"].get<std::string>() + ")");
    auto ids = tokenizer->Encode(text, /*add_special_tokens=*/false);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    EXPECT_EQ(*ids, c["ids"].get<std::vector<int32_t>>());
    auto with_special = tokenizer->Encode(text, /*add_special_tokens=*/true);
    ASSERT_TRUE(with_special.ok()) << with_special.status().ToString();
    EXPECT_EQ(*with_special, c["ids_with_special"].get<std::vector<int32_t>>());
    const auto reference_ids = c["ids"].get<std::vector<int32_t>>();
    const auto reference_with_special = c["ids_with_special"].get<std::vector<int32_t>>();
    EXPECT_EQ(Text(tokenizer->Decode(reference_ids, /*skip_special_tokens=*/false)),
              c["decoded"].get<std::string>());
    EXPECT_EQ(Text(tokenizer->Decode(reference_with_special, /*skip_special_tokens=*/true)),
              c["decoded_skip_special"].get<std::string>());
    const auto tokens = c["tokens"].get<std::vector<std::string>>();
    ASSERT_EQ(tokens.size(), reference_ids.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string* token = tokenizer->IdToToken(reference_ids[i]);
      ASSERT_NE(token, nullptr);
      EXPECT_EQ(*token, tokens[i]);
    }
  }
  // The rendered conversations of chat_template.json (special tokens written in the text) encode to the ids the
  // reference gives them, encode(rendered, add_special_tokens=false): what `fp4lab chat` prints
  // (tests/harness/chat_cli_test.cc checks that it prints the tokenizer's Encode).
  auto chat_text = ReadFile(testing::FixturePath("tokenizers/" + GetParam() + "/chat_template.json"));
  ASSERT_TRUE(chat_text.ok()) << chat_text.status().ToString();
  const auto renders = nlohmann::json::parse(*chat_text)["renders"];
  ASSERT_GE(renders.size(), 2u);
  for (const auto& [name, render] : renders.items()) {
    auto ids = tokenizer->Encode(render["rendered"].get<std::string>(), /*add_special_tokens=*/false);
    ASSERT_TRUE(ids.ok()) << name << ": " << ids.status().ToString();
    EXPECT_EQ(*ids, render["ids"].get<std::vector<int32_t>>()) << "chat_template.json " << name;
  }
}

// Long runs of one class (the regexes backtrack over them) encode without hitting a PCRE2 limit and decode back.
TEST(HfTokenizerLongInput, WhitespaceAndDigitRunsRoundTrip) {
  const auto tokenizer = OpenFamily("llama3.1-8b-instruct");
  ASSERT_NE(tokenizer, nullptr);
  const std::string text = std::string(200000, ' ') + "x" + std::string(100000, '\n') + std::string(50000, '7') + " .";
  auto ids = tokenizer->Encode(text, /*add_special_tokens=*/false);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(Text(tokenizer->Decode(*ids, /*skip_special_tokens=*/false)), text);
}

INSTANTIATE_TEST_SUITE_P(Families, HfTokenizerReference,
                         ::testing::Values("llama3.1-8b-instruct", "qwen3", "gemma3", "tinyllama-1.1b-chat-v1.0"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace fp4lab
