// `fp4lab chat` end to end through the real binary: the rendered prompt equals the reference rendering, the ids
// are the tokenizer's encoding of exactly that text, and bad input exits 2 naming the file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/file_util.h"
#include "engine/tokenizer.h"
#include "harness/cli_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::RunFp4lab;
using testing::SourcePath;
using testing::TempDir;

const std::string kTinyLlama = "tokenizers/tinyllama-1.1b-chat-v1.0";

// The reference case of the TinyLlama fixture, with its messages written to a file.
struct ReferenceCase {
  std::string messages_file;
  std::string rendered;
};

ReferenceCase TinyLlamaCase(const std::string& name) {
  auto text = ReadFile(FixturePath(kTinyLlama + "/chat_template.json"));
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  const auto reference = nlohmann::ordered_json::parse(*text)["renders"]["two_turn_with_system"];
  ReferenceCase c;
  c.messages_file = TempDir(name) + "/messages.json";
  EXPECT_TRUE(WriteFileAtomically(c.messages_file, [&](std::ostream& out) {
                out << reference["messages"].dump();
                return Status::Ok();
              }).ok());
  c.rendered = reference["rendered"].get<std::string>();
  return c;
}

TEST(ChatCliTest, PrintsTheReferenceRenderingAsJson) {
  const ReferenceCase c = TinyLlamaCase("chat_cli_json");
  auto r = RunFp4lab("chat --model " + FixturePath(kTinyLlama) + " --messages " + c.messages_file +
                     " --generation-prompt --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto out = nlohmann::json::parse(r.output);
  EXPECT_EQ(out["rendered"], c.rendered);
  EXPECT_EQ(out["template"], FixturePath(kTinyLlama) + "/tokenizer_config.json: chat_template");
}

TEST(ChatCliTest, EncodesTheRenderedPromptWithTheModelsTokenizer) {
  // stories260K has a tokenizer but no template: borrow TinyLlama's (same </s> eos token).
  const ReferenceCase c = TinyLlamaCase("chat_cli_ids");
  const std::string model = SourcePath("datasets/models/stories260K");
  auto r = RunFp4lab("chat --model " + model + " --chat-template " + FixturePath(kTinyLlama) +
                     "/tokenizer_config.json --messages " + c.messages_file + " --generation-prompt --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto out = nlohmann::json::parse(r.output);
  EXPECT_EQ(out["rendered"], c.rendered);
  auto tokenizer = Tokenizer::Open(model, -1, -1);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  auto ids = (*tokenizer)->Encode(c.rendered);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(out["ids"].get<std::vector<int32_t>>(), *ids);

  auto text = RunFp4lab("chat --model " + model + " --chat-template " + FixturePath(kTinyLlama) +
                        "/tokenizer_config.json --messages " + c.messages_file);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("--- rendered ("), std::string::npos) << text.output;
  EXPECT_NE(text.output.find(" token ids ---\n"), std::string::npos) << text.output;
}

TEST(ChatCliTest, BadInputExitsTwoNamingTheProblem) {
  const ReferenceCase c = TinyLlamaCase("chat_cli_bad");
  auto no_template = RunFp4lab("chat --model " + SourcePath("datasets/models/stories260K") + " --messages " +
                               c.messages_file);
  EXPECT_EQ(no_template.exit_code, 2) << no_template.output;
  EXPECT_NE(no_template.output.find("no chat template"), std::string::npos) << no_template.output;

  const std::string bad_messages = TempDir("chat_cli_bad_messages") + "/messages.json";
  ASSERT_TRUE(WriteFileAtomically(bad_messages, [](std::ostream& out) {
                out << R"([{"role": "user"}])";
                return Status::Ok();
              }).ok());
  auto missing_content = RunFp4lab("chat --model " + FixturePath(kTinyLlama) + " --messages " + bad_messages);
  EXPECT_EQ(missing_content.exit_code, 2) << missing_content.output;
  EXPECT_NE(missing_content.output.find(bad_messages + ": messages[0]: field content"), std::string::npos)
      << missing_content.output;

  auto bad_var = RunFp4lab("chat --model " + FixturePath(kTinyLlama) + " --messages " + c.messages_file +
                           " --var nonsense");
  EXPECT_EQ(bad_var.exit_code, 2) << bad_var.output;
  EXPECT_NE(bad_var.output.find("expected NAME=VALUE"), std::string::npos) << bad_var.output;
}

// Every JSON input of `chat` (messages, --var values, tokenizer_config.json, special_tokens_map.json, a .json
// --chat-template) is parsed with the depth bound: a value nested 100,000 deep is exit 2 naming the file. (A message
// content nested that deep segfaulted while copied into the template's variables; the config files were accepted.)
TEST(ChatCliTest, DeeplyNestedJsonExitsTwoNamingTheFile) {
  const ReferenceCase c = TinyLlamaCase("chat_cli_deep");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string dir = TempDir("chat_cli_deep_inputs");
  auto write = [](const std::string& path, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomically(path, [&](std::ostream& out) {
                  out << text;
                  return Status::Ok();
                }).ok());
  };
  const std::string too_deep = ": JSON nested deeper than 64 levels";

  write(dir + "/messages.json", R"([{"role": "user", "content": )" + deep + "}]");
  auto messages = RunFp4lab("chat --model " + FixturePath(kTinyLlama) + " --messages " + dir + "/messages.json");
  EXPECT_EQ(messages.exit_code, 2) << messages.output;
  EXPECT_NE(messages.output.find(dir + "/messages.json" + too_deep), std::string::npos) << messages.output;

  // 60,000 deep on the command line: one argument (and the shell's command string) is at most 128 KiB on Linux.
  const std::string deep_var = std::string(60000, '[') + std::string(60000, ']');
  auto var = RunFp4lab("chat --model " + FixturePath(kTinyLlama) + " --messages " + c.messages_file + " --var 'x=" +
                       deep_var + "'");
  EXPECT_EQ(var.exit_code, 2) << var.output.substr(0, 500);
  EXPECT_NE(var.output.find("--var 'x'" + too_deep), std::string::npos) << var.output.substr(0, 500);

  for (const std::string file : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const std::string model = TempDir("chat_cli_deep_" + file);
    write(model + "/" + file, R"({"chat_template": "{{ 1 }}", "deep": )" + deep + "}");
    auto r = RunFp4lab("chat --model " + model + " --messages " + c.messages_file);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(model + "/" + file + too_deep), std::string::npos) << r.output;
  }

  write(dir + "/template.json", R"({"chat_template": )" + deep + "}");
  auto template_file = RunFp4lab("chat --model " + FixturePath(kTinyLlama) + " --chat-template " + dir +
                                 "/template.json --messages " + c.messages_file);
  EXPECT_EQ(template_file.exit_code, 2) << template_file.output;
  EXPECT_NE(template_file.output.find(dir + "/template.json" + too_deep), std::string::npos) << template_file.output;
}

}  // namespace
}  // namespace fp4lab
