#include "datasets/text_corpus.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

const std::string kRoot = FP4LAB_SOURCE_DIR;

// Writes `content` to a fresh file in this process's scratch folder and returns its path.
std::string WriteTempFile(const std::string& name, std::string_view content) {
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / ("fp4lab_text_corpus_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

// datasets/SOURCES.md: the sample is the first 20 TinyStories validation stories joined by "\n<|endoftext|>\n",
// the first starting mid-sentence; 18,509 bytes; sha256 65a183d1...
TEST(TextCorpusTest, TinyStoriesSampleSplitsIntoTwentyStories) {
  const auto corpus = ReadTextCorpus(kRoot + "/datasets/tinystories/tinystories_valid_sample.txt");
  ASSERT_TRUE(corpus.ok()) << corpus.status().ToString();
  EXPECT_EQ(corpus->documents.size(), 20u);
  EXPECT_EQ(corpus->file_bytes, 18509u);
  EXPECT_EQ(corpus->sha256, "65a183d17346854b90dd65da11a2b6e0d68077d4960e008993f0b46626d5a994");
  EXPECT_TRUE(corpus->documents.front().starts_with("u don't have to be scared of the loud dog"));
  EXPECT_TRUE(corpus->documents.back().ends_with("dreaming about their next adventure on the mattress boat."));
  for (const std::string& document : corpus->documents) {
    EXPECT_FALSE(document.empty());
    EXPECT_EQ(document.find(kEndOfTextSeparator), std::string::npos);
    EXPECT_FALSE(std::isspace(static_cast<unsigned char>(document.front())));
    EXPECT_FALSE(std::isspace(static_cast<unsigned char>(document.back())));
  }
}

// WikiText-2 has no separator: the whole file is one document, byte for byte (leading " \n" included).
TEST(TextCorpusTest, WikitextSampleIsOneUnchangedDocument) {
  const std::string path = kRoot + "/datasets/wikitext2/wikitext2_sample.txt";
  const auto corpus = ReadTextCorpus(path);
  ASSERT_TRUE(corpus.ok()) << corpus.status().ToString();
  ASSERT_EQ(corpus->documents.size(), 1u);
  EXPECT_EQ(corpus->documents[0].size(), 179154u);
  EXPECT_TRUE(corpus->documents[0].starts_with(" \n = Robert Boulter = \n"));
  EXPECT_EQ(corpus->sha256, "7b076f51036b722edb6213d4ba653c3df64906e3e5eafa4a945547e8caf87a2c");
}

TEST(TextCorpusTest, SplitStripsAndDropsEmptyDocuments) {
  EXPECT_EQ(SplitDocuments("  one \n<|endoftext|>\n\n<|endoftext|>\ttwo\r\n<|endoftext|>"),
            (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(SplitDocuments("a<|endoftext|>b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(SplitDocuments("  no separator \n"), (std::vector<std::string>{"  no separator \n"}));
}

TEST(TextCorpusTest, MissingFileIsNotFoundNamingThePath) {
  const auto corpus = ReadTextCorpus("/nonexistent/corpus.txt");
  ASSERT_FALSE(corpus.ok());
  EXPECT_EQ(corpus.status().code(), StatusCode::kNotFound);
  EXPECT_NE(corpus.status().message().find("/nonexistent/corpus.txt"), std::string::npos);
}

TEST(TextCorpusTest, EmptyFileIsRejected) {
  const std::string path = WriteTempFile("empty.txt", "");
  const auto corpus = ReadTextCorpus(path);
  ASSERT_FALSE(corpus.ok());
  EXPECT_EQ(corpus.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(corpus.status().message(), path + ": file is empty");
}

TEST(TextCorpusTest, InvalidUtf8NamesOffsetAndLine) {
  const std::string path = WriteTempFile("latin1.txt", "first line\ncaf\xE9 au lait\n");
  const auto corpus = ReadTextCorpus(path);
  ASSERT_FALSE(corpus.ok());
  EXPECT_EQ(corpus.status().code(), StatusCode::kInvalidArgument);
  // "first line\n" is 11 bytes, "caf" 3 more: the Latin-1 e-acute sits at offset 14 on line 2.
  EXPECT_EQ(corpus.status().message(), path + ": invalid UTF-8 at byte offset 14 (line 2)");
}

TEST(TextCorpusTest, OnlySeparatorsAndWhitespaceIsRejected) {
  for (const char* content : {"<|endoftext|>\n<|endoftext|>\n", " \n\t\n"}) {
    const auto corpus = ReadTextCorpus(WriteTempFile("blank.txt", content));
    ASSERT_FALSE(corpus.ok()) << content;
    EXPECT_EQ(corpus.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace fp4lab
