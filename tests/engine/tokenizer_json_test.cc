// tokenizer.json behaviour the bundled references do not reach (legacy files, merges as pairs, added-token
// options, Metaspace, unk handling, NFKC/NFD) and malformed files: each error names the file, the JSON field and
// what was expected. Expected ids follow the Hugging Face tokenizers source (models/bpe, added_vocabulary.rs).
#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/tokenizer/hf_tokenizer.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::Text;
using tokenizer::HfTokenizer;

// A small BPE over "a", "b", "c", " ": merges a+b then ab+c.
nlohmann::json TinyTokenizer() {
  return nlohmann::json::parse(R"({
    "version": "1.0",
    "added_tokens": [{"id": 6, "content": "<eos>", "single_word": false, "lstrip": false, "rstrip": false,
                      "normalized": false, "special": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "Split", "pattern": {"Regex": " ?[a-z]+"}, "behavior": "Isolated", "invert": false},
    "post_processor": null,
    "decoder": null,
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": false, "byte_fallback": false,
              "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "abc": 5, "<eos>": 6, " ": 7},
              "merges": ["a b", "ab c"]}
  })");
}

Result<std::unique_ptr<HfTokenizer>> Parse(const nlohmann::json& json) {
  return HfTokenizer::Parse(json.dump(), "tiny/tokenizer.json");
}

std::vector<int32_t> EncodeOk(const HfTokenizer& tok, const std::string& text) {
  auto ids = tok.Encode(text, false);
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

TEST(TokenizerJson, MergesAsStringsAndAsPairsAgree) {
  auto strings = Parse(TinyTokenizer());
  ASSERT_TRUE(strings.ok()) << strings.status().ToString();
  auto json = TinyTokenizer();
  json["model"]["merges"] = nlohmann::json::parse(R"([["a", "b"], ["ab", "c"]])");
  auto pairs = Parse(json);
  ASSERT_TRUE(pairs.ok()) << pairs.status().ToString();
  EXPECT_EQ(EncodeOk(**strings, "abcab"), (std::vector<int32_t>{5, 4}));
  EXPECT_EQ(EncodeOk(**pairs, "abcab"), (std::vector<int32_t>{5, 4}));
}

TEST(TokenizerJson, LegacyModelWithoutTypeIsBpe) {
  auto json = TinyTokenizer();
  json["model"].erase("type");
  auto tok = Parse(json);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(EncodeOk(**tok, "abc"), (std::vector<int32_t>{5}));
}

TEST(TokenizerJson, UnknownCharactersBecomeUnkFusedOnlyWithFuseUnk) {
  auto tok = Parse(TinyTokenizer());
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(EncodeOk(**tok, "axyb"), (std::vector<int32_t>{1, 0, 0, 2}));
  auto json = TinyTokenizer();
  json["model"]["fuse_unk"] = true;
  auto fused = Parse(json);
  ASSERT_TRUE(fused.ok());
  EXPECT_EQ(EncodeOk(**fused, "axyb"), (std::vector<int32_t>{1, 0, 2}));
}

TEST(TokenizerJson, AddedTokenIsMatchedInTheTextAndLstripRstripTakeSpaces) {
  auto tok = Parse(TinyTokenizer());
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(EncodeOk(**tok, "ab <eos> c"), (std::vector<int32_t>{4, 7, 6, 7, 3}));
  auto json = TinyTokenizer();
  json["added_tokens"][0]["lstrip"] = true;
  json["added_tokens"][0]["rstrip"] = true;
  auto stripping = Parse(json);
  ASSERT_TRUE(stripping.ok());
  EXPECT_EQ(EncodeOk(**stripping, "ab <eos> c"), (std::vector<int32_t>{4, 6, 3}));
}

TEST(TokenizerJson, SingleWordAddedTokenIsNotMatchedInsideAWord) {
  auto json = TinyTokenizer();
  json["added_tokens"][0]["single_word"] = true;
  auto tok = Parse(json);
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(EncodeOk(**tok, "<eos> a"), (std::vector<int32_t>{6, 7, 1}));
  // Inside "a<eos>b" it is not a word of its own: the text goes to the model, which knows no "<", "e", ...
  EXPECT_EQ(EncodeOk(**tok, "a<eos>b")[0], 1);
  EXPECT_NE(EncodeOk(**tok, "a<eos>b")[1], 6);
}

TEST(TokenizerJson, MetaspacePreTokenizerAndDecoder) {
  auto json = TinyTokenizer();
  json["model"]["vocab"] = nlohmann::json::parse(R"({"<unk>": 0, "\u2581": 1, "a": 2, "\u2581a": 3, "b": 4})");
  json["model"]["merges"] = nlohmann::json::parse(R"(["\u2581 a"])");
  json["pre_tokenizer"] = nlohmann::json::parse(R"({"type": "Metaspace", "replacement": "\u2581",
                                                    "prepend_scheme": "always", "split": true})");
  json["decoder"] = nlohmann::json::parse(R"({"type": "Metaspace", "replacement": "\u2581",
                                              "prepend_scheme": "always", "split": true})");
  auto tok = Parse(json);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const auto ids = EncodeOk(**tok, "a ab");
  EXPECT_EQ(ids, (std::vector<int32_t>{3, 3, 4}));
  EXPECT_EQ(Text((*tok)->Decode(ids, false)), "a ab");
}

// Unicode normalizers (ICU) against the Unicode standard's decompositions: fullwidth U+FF41..U+FF43 have
// compatibility decompositions to "abc" (folded by NFKC only), and "a" + U+0301 (combining acute) composes to
// U+00E1 under NFC and NFKC, which NFD takes apart again.
TEST(TokenizerJson, UnicodeNormalizersComposeAndFoldAsTheStandardSays) {
  const std::string fullwidth = "\uff41\uff42\uff43", decomposed = "a\u0301", composed = "\u00e1";
  const auto with_normalizer = [](const char* type) {
    auto json = TinyTokenizer();
    json["model"]["vocab"]["\u00e1"] = 8;
    json["normalizer"] = {{"type", type}};
    auto tok = Parse(json);
    EXPECT_TRUE(tok.ok()) << type << ": " << tok.status().ToString();
    return tok.ok() ? std::move(tok).value() : nullptr;
  };
  const auto nfkc = with_normalizer("NFKC"), nfc = with_normalizer("NFC"), nfd = with_normalizer("NFD");
  ASSERT_TRUE(nfkc && nfc && nfd);
  EXPECT_EQ(EncodeOk(*nfkc, fullwidth), (std::vector<int32_t>{5}));
  EXPECT_EQ(EncodeOk(*nfkc, decomposed), (std::vector<int32_t>{8}));
  EXPECT_EQ(EncodeOk(*nfc, fullwidth), (std::vector<int32_t>{0, 0, 0}));  // no compatibility folding: unknown
  EXPECT_EQ(EncodeOk(*nfc, decomposed), (std::vector<int32_t>{8}));
  EXPECT_EQ(EncodeOk(*nfd, composed), (std::vector<int32_t>{1, 0}));  // "a", then the lone combining mark
}

// added_tokens' `normalized`: true matches the token in the normalized text, false in the raw text (tokenizers'
// added_vocabulary.rs splits on raw-text tokens, normalizes the rest, then splits on normalized tokens).
TEST(TokenizerJson, NormalizedAddedTokensAreMatchedAfterTheNormalizer) {
  auto json = TinyTokenizer();
  json["normalizer"] = {{"type", "Lowercase"}};
  json["added_tokens"][0]["normalized"] = true;
  auto normalized = Parse(json);
  ASSERT_TRUE(normalized.ok()) << normalized.status().ToString();
  EXPECT_EQ(EncodeOk(**normalized, "ab<EOS>"), (std::vector<int32_t>{4, 6}));
  json["added_tokens"][0]["normalized"] = false;
  auto raw = Parse(json);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(EncodeOk(**raw, "ab<eos>"), (std::vector<int32_t>{4, 6}));
  const auto upper = EncodeOk(**raw, "ab<EOS>");  // not in the raw text: "<", "eos", ">" reach the model
  EXPECT_EQ(std::count(upper.begin(), upper.end(), 6), 0) << ::testing::PrintToString(upper);
}

// Malformed files: InvalidArgument naming the file, the field and what was expected.
void ExpectError(const nlohmann::json& json, const std::string& field, const std::string& expected) {
  auto tok = Parse(json);
  ASSERT_FALSE(tok.ok()) << "expected an error about " << field;
  EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = tok.status().message();
  EXPECT_NE(message.find("tiny/tokenizer.json: field '" + field + "'"), std::string::npos) << message;
  EXPECT_NE(message.find(expected), std::string::npos) << message;
}

TEST(TokenizerJsonErrors, TruncatedJsonNamesTheFile) {
  const std::string text = TinyTokenizer().dump();
  auto tok = HfTokenizer::Parse(text.substr(0, text.size() / 2), "tiny/tokenizer.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tok.status().message().find("tiny/tokenizer.json: not valid JSON"), std::string::npos);
}

TEST(TokenizerJsonErrors, UnknownComponentTypes) {
  auto json = TinyTokenizer();
  json["model"]["type"] = "Unigram";
  ExpectError(json, "model.type", "unsupported model \"Unigram\"");
  json = TinyTokenizer();
  json["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "Precompiled"}}}}};
  ExpectError(json, "normalizer.normalizers[0].type", "unsupported normalizer \"Precompiled\"");
  json = TinyTokenizer();
  json["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  ExpectError(json, "pre_tokenizer.type", "unsupported pre-tokenizer \"BertPreTokenizer\"");
  json = TinyTokenizer();
  json["decoder"] = {{"type", "CTC"}};
  ExpectError(json, "decoder.type", "unsupported decoder \"CTC\"");
  json = TinyTokenizer();
  json["post_processor"] = {{"type", "Nonsense"}};
  ExpectError(json, "post_processor.type", "unsupported post-processor \"Nonsense\"");
}

TEST(TokenizerJsonErrors, MergeNamingAMissingToken) {
  auto json = TinyTokenizer();
  json["model"]["merges"].push_back("c d");
  ExpectError(json, "model.merges[2]", "token \"d\" is not in model.vocab");
  json = TinyTokenizer();
  json["model"]["merges"].push_back("b c");  // "bc" is not in the vocabulary
  ExpectError(json, "model.merges[2]", "token \"bc\" is not in model.vocab");
  json = TinyTokenizer();
  json["model"]["merges"].push_back("a b c");
  ExpectError(json, "model.merges[2]", "expected \"left right\"");
}

TEST(TokenizerJsonErrors, BadRegexAndBadFields) {
  auto json = TinyTokenizer();
  json["pre_tokenizer"]["pattern"]["Regex"] = "(unclosed";
  ExpectError(json, "pre_tokenizer.pattern.Regex", "cannot compile regex \"(unclosed\"");
  json = TinyTokenizer();
  json["pre_tokenizer"]["behavior"] = "Sideways";
  ExpectError(json, "pre_tokenizer.behavior", "expected one of Removed, Isolated");
  json = TinyTokenizer();
  json["model"].erase("vocab");
  ExpectError(json, "model.vocab", "missing, expected an object");
  json = TinyTokenizer();
  json["added_tokens"][0]["id"] = "six";
  ExpectError(json, "added_tokens[0].id", "expected a non-negative integer, got string");
}

TEST(TokenizerJsonErrors, DirectoryOrMissingFile) {
  const std::string dir = testing::TempDir("tokenizer_json_dir");
  std::filesystem::create_directories(dir + "/tokenizer.json");
  auto tok = HfTokenizer::Open(dir + "/tokenizer.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tok.status().message().find(dir + "/tokenizer.json: is a directory"), std::string::npos);
  auto missing = HfTokenizer::Open(dir + "/absent.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(TokenizerJsonErrors, InvalidUtf8TextIsRefused) {
  auto tok = Parse(TinyTokenizer());
  ASSERT_TRUE(tok.ok());
  auto ids = (*tok)->Encode("ab\xff", false);
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("not valid UTF-8 (byte 2)"), std::string::npos);
}

}  // namespace
}  // namespace fp4lab
