// Config numbers are read through one validated path (engine/arch/config_reader.h): every out-of-range, truncating
// or mistyped value is an InvalidArgument naming the file and the field, never a silently different model.
#include "engine/arch/config_reader.h"

#include <gtest/gtest.h>

#include "engine/arch/architecture.h"

namespace fp4lab {
namespace {

nlohmann::json TinyLlama() {
  return {{"model_type", "llama"}, {"hidden_size", 64},         {"intermediate_size", 128},
          {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"vocab_size", 256}};
}

// The config with `field` set to `value` must be refused, naming the file and `field`.
void ExpectRefused(const std::string& field, const nlohmann::json& value) {
  nlohmann::json config = TinyLlama();
  config[field] = value;
  auto blueprint = ParseModelBlueprint(config, "dir/config.json");
  ASSERT_FALSE(blueprint.ok()) << field << " = " << value.dump();
  EXPECT_EQ(blueprint.status().code(), StatusCode::kInvalidArgument) << blueprint.status().ToString();
  EXPECT_NE(blueprint.status().message().find("dir/config.json"), std::string::npos) << blueprint.status().ToString();
  EXPECT_NE(blueprint.status().message().find("'" + field + "'"), std::string::npos) << blueprint.status().ToString();
}

TEST(ConfigReader, IntegersAreRangeCheckedBeforeNarrowing) {
  ExpectRefused("num_hidden_layers", 1e12);                          // a float, and far too many
  ExpectRefused("num_hidden_layers", (int64_t{1} << 32) + 5);        // would truncate to 5 in 32 bits
  ExpectRefused("num_hidden_layers", 0);
  ExpectRefused("num_hidden_layers", "2");                           // a string
  ExpectRefused("vocab_size", int64_t{2147483647});                  // 2^31 - 1 rows of embedding
  ExpectRefused("intermediate_size", 1000000000);
  ExpectRefused("head_dim", int64_t{1} << 30);
  ExpectRefused("head_dim", 33);                                     // RoPE needs an even head_dim
  ExpectRefused("hidden_size", 1e12);
  ExpectRefused("num_key_value_heads", 3);                           // 4 heads are not a multiple of 3
  ExpectRefused("max_position_embeddings", -5);
  nlohmann::json huge = TinyLlama();
  huge["num_hidden_layers"] = nlohmann::json(uint64_t{18446744073709551615u});  // above INT64_MAX
  EXPECT_EQ(ParseModelBlueprint(huge, "dir/config.json").status().code(), StatusCode::kInvalidArgument);
}

TEST(ConfigReader, NumbersMustBeFiniteAndInRange) {
  ExpectRefused("rms_norm_eps", -1e-6);
  ExpectRefused("rms_norm_eps", 0);
  ExpectRefused("rope_theta", -10000.0);
  ExpectRefused("tie_word_embeddings", "yes");
}

TEST(ConfigReader, NestedFieldsAreNamedByTheirPath) {
  nlohmann::json config = TinyLlama();
  config["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", "eight"}};
  auto blueprint = ParseModelBlueprint(config, "dir/config.json");
  ASSERT_FALSE(blueprint.ok());
  EXPECT_NE(blueprint.status().message().find("'rope_scaling.factor'"), std::string::npos)
      << blueprint.status().ToString();
  config["rope_scaling"] = {{"rope_type", 5}};  // not a string
  EXPECT_EQ(ParseModelBlueprint(config, "dir/config.json").status().code(), StatusCode::kInvalidArgument);
}

TEST(ConfigReader, AValidConfigParsesWithItsParameterCount) {
  auto blueprint = ParseModelBlueprint(TinyLlama(), "dir/config.json");
  ASSERT_TRUE(blueprint.ok()) << blueprint.status().ToString();
  // 2 layers of q/k/v/o 4 * 64 * 64, MLP 3 * 64 * 128, 2 norms of 64; untied embedding and lm_head 2 * 256 * 64;
  // final norm 64.
  EXPECT_EQ((*blueprint)->ParameterCount(), 2 * (4 * 64 * 64 + 3 * 64 * 128 + 2 * 64) + 2 * 256 * 64 + 64);
}

}  // namespace
}  // namespace fp4lab
