// The real chat templates of four model families (tests/fixtures/tokenizers/<name>/tokenizer_config.json, copied
// unchanged from the checkpoints) render byte-identical to the references in chat_template.json there, which
// transformers.js and Python jinja2 3.1.6 (set up as transformers' apply_chat_template sets it up) agree on.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "engine/chat/chat_template.h"
#include "engine/file_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::TempDir;

// A directory holding the family's tokenizer_config.json (decompressed when the fixture is gzipped).
std::string ModelDir(const std::string& name) {
  const std::string fixture = FixturePath("tokenizers/" + name);
  if (!std::filesystem::exists(fixture + "/tokenizer_config.json.gz")) return fixture;
  const std::string dir = TempDir("chat_template_" + name);
  const std::string command = "gzip -dc " + fixture + "/tokenizer_config.json.gz > " + dir + "/tokenizer_config.json";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return dir;
}

class ChatTemplateReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatTemplateReferenceTest, RendersEveryReferenceConversationByteIdentical) {
  const std::string name = GetParam();
  auto chat = ChatTemplate::FromModelDir(ModelDir(name));
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  auto reference_text = ReadFile(FixturePath("tokenizers/" + name + "/chat_template.json"));
  ASSERT_TRUE(reference_text.ok()) << reference_text.status().ToString();
  const auto reference = nlohmann::ordered_json::parse(*reference_text);
  ASSERT_TRUE(reference["renders"].size() >= 2u);
  for (const auto& [case_name, render] : reference["renders"].items()) {
    ChatRenderOptions options;
    options.add_generation_prompt = reference["add_generation_prompt"].get<bool>();
    options.extra_variables = render["extra_kwargs"];
    auto text = chat->Render(render["messages"], options);
    ASSERT_TRUE(text.ok()) << case_name << ": " << text.status().ToString();
    EXPECT_EQ(*text, render["rendered"].get<std::string>()) << name << " / " << case_name;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, ChatTemplateReferenceTest,
                         ::testing::Values("gemma3", "llama3.1-8b-instruct", "qwen3", "tinyllama-1.1b-chat-v1.0"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string id;
                           for (char c : info.param) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return id;
                         });

TEST(ChatTemplateTest, GenerationPromptAndMissingBosFollowTheConfig) {
  auto chat = ChatTemplate::FromModelDir(ModelDir("qwen3"));
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  const auto messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "Hi"}])");
  auto without = chat->Render(messages, ChatRenderOptions{});
  ASSERT_TRUE(without.ok()) << without.status().ToString();
  EXPECT_EQ(*without, "<|im_start|>user\nHi<|im_end|>\n");
  // Qwen3's bos_token is null: undefined in the template, so it prints as "" rather than "None".
  auto bos =
      ChatTemplate::FromSource("[{{ bos_token }}|{{ eos_token }}]", "inline", *ReadSpecialTokens(ModelDir("qwen3")));
  ASSERT_TRUE(bos.ok()) << bos.status().ToString();
  EXPECT_EQ(*bos->Render(messages, {}), "[|<|im_end|>]");
}

TEST(ChatTemplateTest, SpecialTokensMayBeAddedTokenObjects) {
  const std::string dir = TempDir("chat_template_added_token");
  ASSERT_TRUE(WriteFileAtomically(dir + "/tokenizer_config.json", [](std::ostream& out) {
                out << R"({"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
                           "eos_token": "</s>", "pad_token": null,
                           "chat_template": [{"name": "tool_use", "template": "tools"},
                                             {"name": "default", "template":
                                                 "{{ bos_token }}{{ messages[0].content }}{{ pad_token is defined }}"}
                                            ]})";
                return Status::Ok();
              }).ok());
  auto chat = ChatTemplate::FromModelDir(dir);
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  EXPECT_EQ(chat->origin(), dir + "/tokenizer_config.json: chat_template");
  auto text = chat->Render(nlohmann::ordered_json::parse(R"([{"role": "user", "content": "x"}])"), {});
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "<s>xFalse");
}

TEST(ChatTemplateTest, StandaloneJinjaFileWinsOverTheConfig) {
  const std::string dir = TempDir("chat_template_jinja_file");
  ASSERT_TRUE(WriteFileAtomically(dir + "/tokenizer_config.json", [](std::ostream& out) {
                out << R"({"eos_token": "</s>", "chat_template": "from config"})";
                return Status::Ok();
              }).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/chat_template.jinja", [](std::ostream& out) {
                out << "from file {{ eos_token }}\n";
                return Status::Ok();
              }).ok());
  auto chat = ChatTemplate::FromModelDir(dir);
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  EXPECT_EQ(*chat->Render(nlohmann::ordered_json::array(), {}), "from file </s>");  // final newline dropped
}

TEST(ChatTemplateTest, ErrorsNameTheFileFieldAndPosition) {
  const std::string dir = TempDir("chat_template_errors");
  auto missing = ChatTemplate::FromModelDir(dir);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(WriteFileAtomically(dir + "/tokenizer_config.json", [](std::ostream& out) {
                out << R"({"chat_template":
                           "line one\n{% for m in messages %}{{ m.content | frobnicate }}{% endfor %}"})";
                return Status::Ok();
              }).ok());
  auto bad = ChatTemplate::FromModelDir(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), dir + "/tokenizer_config.json: chat_template:2:39: no filter named 'frobnicate'");

  ASSERT_TRUE(WriteFileAtomically(dir + "/tokenizer_config.json", [](std::ostream& out) {
                out << R"({"chat_template": [{"name": "rag", "template": "x"}]})";
                return Status::Ok();
              }).ok());
  auto no_default = ChatTemplate::FromModelDir(dir);
  EXPECT_NE(no_default.status().message().find("no template named \"default\" (has: rag)"), std::string::npos)
      << no_default.status().ToString();

  ASSERT_TRUE(WriteFileAtomically(dir + "/tokenizer_config.json", [](std::ostream& out) {
                out << R"({"chat_template": "{{ raise_exception('roles must alternate') }}"})";
                return Status::Ok();
              }).ok());
  auto raising = ChatTemplate::FromModelDir(dir);
  ASSERT_TRUE(raising.ok()) << raising.status().ToString();
  auto raised = raising->Render(nlohmann::ordered_json::array(), {});
  EXPECT_EQ(raised.status().message(),
            dir + "/tokenizer_config.json: chat_template:1:4: raise_exception: roles must alternate");
  auto bad_messages = raising->Render(nlohmann::ordered_json::parse(R"([{"role": 1, "content": "x"}])"), {});
  EXPECT_EQ(bad_messages.status().message(), "messages[0]: field role: expected a string");
}

}  // namespace
}  // namespace fp4lab
