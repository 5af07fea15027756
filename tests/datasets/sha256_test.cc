#include "datasets/sha256.h"

#include <string>

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

// FIPS 180-4 / NIST CSRC example values for SHA-256.
constexpr const char* kAbcDigest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* k448BitDigest = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* kMillionADigest = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

TEST(Sha256Test, FipsVectors) {
  EXPECT_EQ(Sha256Hex("abc"), kAbcDigest);
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), k448BitDigest);
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')), kMillionADigest);
}

TEST(Sha256Test, EmptyInput) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// Lengths around the padding boundaries (55/56 bytes: length fits / does not fit in the last block; 64: exactly one
// block). Expected values from coreutils `sha256sum` on runs of 'a'.
TEST(Sha256Test, PaddingBoundaries) {
  EXPECT_EQ(Sha256Hex(std::string(55, 'a')), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(Sha256Hex(std::string(56, 'a')), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(Sha256Hex(std::string(63, 'a')), "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
  EXPECT_EQ(Sha256Hex(std::string(64, 'a')), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  EXPECT_EQ(Sha256Hex(std::string(65, 'a')), "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0");
  EXPECT_EQ(Sha256Hex(std::string(119, 'a')), "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
}

TEST(Sha256Test, IncrementalUpdatesInOddPieces) {
  const std::string million(1000000, 'a');
  Sha256 hasher;
  size_t offset = 0;
  const size_t pieces[] = {1, 7, 63, 64, 65, 127, 1000};
  for (size_t i = 0; offset < million.size(); ++i) {
    const size_t n = std::min(pieces[i % 7], million.size() - offset);
    hasher.Update(std::string_view(million).substr(offset, n));
    offset += n;
  }
  const auto digest = hasher.Finish();
  EXPECT_EQ(ToHex(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size())), kMillionADigest);
}

// Checksums published in datasets/SOURCES.md for the bundled files.
TEST(Sha256Test, FilesMatchPublishedChecksums) {
  const std::string root = FP4LAB_SOURCE_DIR;
  const auto humaneval = Sha256FileHex(root + "/datasets/humaneval/humaneval_sample.jsonl");
  ASSERT_TRUE(humaneval.ok()) << humaneval.status().ToString();
  EXPECT_EQ(*humaneval, "2f297bdb74812d59c40759e173034b38b855215a11a3203dbc45ca111b1fdc7d");
  const auto readme = Sha256FileHex(root + "/datasets/mmlu/README.txt");
  ASSERT_TRUE(readme.ok()) << readme.status().ToString();
  EXPECT_EQ(*readme, "00569069f878477234be9cabe8b2b3422bcc4bae12a00cb543426dafcfe1262b");
}

TEST(Sha256Test, MissingFileIsNotFound) {
  const auto missing = Sha256FileHex("/nonexistent/fp4lab/file.bin");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/fp4lab/file.bin"), std::string::npos);
}

}  // namespace
}  // namespace fp4lab
