// The Tokenizer facade: which file it reads, special ids and EOS lists, tokenizer_config.json facts.
#include <fstream>

#include <gtest/gtest.h>

#include "engine/tokenizer.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::TokenizerFixtureDir;

// The decoded text, failing the test on an error.
std::string Text(const Result<std::string>& decoded) {
  EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
  return decoded.ok() ? *decoded : std::string();
}

TEST(Tokenizer, PrefersTokenizerJsonOverTokenizerModel) {
  const std::string dir = TokenizerFixtureDir("tinyllama-1.1b-chat-v1.0", "tok_prefers_json");  // has both
  auto tok = Tokenizer::Open(dir, -1, -1);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->source_file(), "tokenizer.json");
  // Literal special-token text is matched by tokenizer.json (sentencepiece would spell it out).
  auto ids = (*tok)->Encode("<s>Hello world");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 15043, 3186}));
  auto with_special = (*tok)->EncodeWithSpecialTokens("Hello world");
  ASSERT_TRUE(with_special.ok());
  EXPECT_EQ(*with_special, (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(Text((*tok)->Decode(*with_special, /*skip_special_tokens=*/false)), "<s> Hello world");
  EXPECT_EQ(Text((*tok)->Decode(*with_special, /*skip_special_tokens=*/true)), "Hello world");
  EXPECT_EQ((*tok)->IdToPiece(15043), "\u2581Hello");
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  EXPECT_EQ((*tok)->vocab_size(), 32000);
}

TEST(Tokenizer, FallsBackToSentencepieceWithoutTokenizerJson) {
  const std::string dir = TokenizerFixtureDir("tinyllama-1.1b-chat-v1.0", "tok_sentencepiece");
  std::filesystem::remove(dir + "/tokenizer.json");
  auto tok = Tokenizer::Open(dir, -1, -1);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->source_file(), "tokenizer.model");
  auto ids = (*tok)->Encode("Hello world");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{15043, 3186}));  // the same ids as tokenizer.json (reference case 000)
  auto with_special = (*tok)->EncodeWithSpecialTokens("Hello world");
  ASSERT_TRUE(with_special.ok());
  EXPECT_EQ(*with_special, (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ((*tok)->eos_ids(), (std::vector<int32_t>{2}));
}

TEST(Tokenizer, BundledStoriesModelStillReadsTokenizerModel) {
  auto tok = Tokenizer::Open(testing::SourcePath("datasets/models/stories260K"), 1, 2);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->source_file(), "tokenizer.model");
  EXPECT_EQ((*tok)->vocab_size(), 512);
}

TEST(Tokenizer, EosIdsGatherConfigGenerationConfigAndTokenizerConfig) {
  const std::string dir = TokenizerFixtureDir("llama3.1-8b-instruct", "tok_eos_ids");
  std::ofstream(dir + "/config.json") << R"({"eos_token_id": [128001, 128008, 128009]})";
  std::ofstream(dir + "/generation_config.json") << R"({"eos_token_id": 128009, "bos_token_id": 128000})";
  auto tok = Tokenizer::Open(dir, -1, -1);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->bos_id(), 128000);  // tokenizer_config.json bos_token "<|begin_of_text|>"
  EXPECT_EQ((*tok)->eos_id(), 128009);  // eos_token "<|eot_id|>"
  EXPECT_EQ((*tok)->eos_ids(), (std::vector<int32_t>{128009, 128001, 128008}));
  EXPECT_EQ((*tok)->config().bos_token, "<|begin_of_text|>");
  EXPECT_EQ((*tok)->config().eos_token, "<|eot_id|>");
  ASSERT_TRUE((*tok)->config().chat_template.is_string());
  EXPECT_NE((*tok)->config().chat_template.get<std::string>().find("<|start_header_id|>"), std::string::npos);
}

TEST(Tokenizer, ModelConfigIdsComeFirst) {
  const std::string dir = TokenizerFixtureDir("qwen3", "tok_config_ids");
  auto tok = Tokenizer::Open(dir, 151643, 151645);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->bos_id(), 151643);
  EXPECT_EQ((*tok)->eos_ids(), (std::vector<int32_t>{151645}));  // tokenizer_config eos "<|im_end|>" is 151645
}

TEST(Tokenizer, MissingTokenizerIsNotFoundNamingBothFiles) {
  const std::string dir = testing::TempDir("tokenizer_none");
  auto tok = Tokenizer::Open(dir, -1, -1);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kNotFound);
  EXPECT_NE(tok.status().message().find(dir + "/tokenizer.json"), std::string::npos) << tok.status().message();
  EXPECT_NE(tok.status().message().find(dir + "/tokenizer.model"), std::string::npos) << tok.status().message();
}

TEST(Tokenizer, EosTokenIdOfWrongTypeNamesTheFile) {
  const std::string dir = TokenizerFixtureDir("qwen3", "tok_eos_wrong_type");
  std::ofstream(dir + "/generation_config.json") << R"({"eos_token_id": "<|im_end|>"})";
  auto tok = Tokenizer::Open(dir, -1, -1);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tok.status().message().find("generation_config.json: field 'eos_token_id'"), std::string::npos)
      << tok.status().message();
}

}  // namespace
}  // namespace fp4lab
