// generation_config.json of a DiffusionGemma checkpoint: transformers' defaults for missing and null fields, its
// validation rules, and errors naming the file and the field.
#include "engine/diffusion/diffusion_generation_config.h"

#include <fstream>

#include <gtest/gtest.h>

#include "test_util.h"

namespace fp4lab {
namespace {

constexpr char kWhere[] = "ckpt/generation_config.json";

// The released google/diffusiongemma-26B-A4B-it generation_config.json (REAL_CHECKPOINTS.md section 5).
constexpr char kReleased[] = R"({
  "confidence_threshold": 0.005, "eos_token_id": [1, 106, 50], "max_denoising_steps": 48, "max_new_tokens": 256,
  "pad_token_id": 0, "sampler_config": {"_cls_name": "EntropyBoundSamplerConfig", "entropy_bound": 0.1},
  "stability_threshold": 1, "t_max": 0.8, "t_min": 0.4, "transformers_version": "5.8.0.dev0"})";

void ExpectDefaults(const DiffusionGenerationConfig& config) {
  EXPECT_EQ(config.max_denoising_steps, 48);
  EXPECT_EQ(config.max_new_tokens, 256);
  EXPECT_EQ(config.entropy_bound, 0.1);
  EXPECT_EQ(config.t_min, 0.4);
  EXPECT_EQ(config.t_max, 0.8);
  EXPECT_EQ(config.stability_threshold, 1);
  EXPECT_EQ(config.confidence_threshold, 0.005);
}

// `json` must be refused with InvalidArgument naming kWhere and `field`.
void ExpectRefused(const std::string& json, const std::string& field) {
  auto config = ParseDiffusionGenerationConfig(json, kWhere);
  ASSERT_FALSE(config.ok()) << json;
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << config.status().ToString();
  EXPECT_NE(config.status().message().find(kWhere), std::string::npos) << config.status().ToString();
  EXPECT_NE(config.status().message().find("'" + field + "'"), std::string::npos) << config.status().ToString();
}

TEST(DiffusionGenerationConfig, ReleasedCheckpointIsReadAsWritten) {
  auto config = ParseDiffusionGenerationConfig(kReleased, kWhere);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ExpectDefaults(*config);  // the release writes transformers' defaults explicitly
  EXPECT_EQ(config->eos_token_ids, (std::vector<int32_t>{1, 106, 50}));
  ASSERT_TRUE(config->pad_token_id.has_value());
  EXPECT_EQ(*config->pad_token_id, 0);
}

TEST(DiffusionGenerationConfig, NonDefaultValuesAreKept) {
  auto config = ParseDiffusionGenerationConfig(
      R"({"max_denoising_steps": 7, "max_new_tokens": 33, "sampler_config": {"_cls_name": "EntropyBoundSamplerConfig",
          "entropy_bound": 0.25}, "t_min": 0, "t_max": 1.5, "stability_threshold": 0, "confidence_threshold": 0.5,
          "eos_token_id": 9})",
      kWhere);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->max_denoising_steps, 7);
  EXPECT_EQ(config->max_new_tokens, 33);
  EXPECT_EQ(config->entropy_bound, 0.25);
  EXPECT_EQ(config->t_min, 0.0);  // an integer is a valid temperature (transformers only compares it)
  EXPECT_EQ(config->t_max, 1.5);
  EXPECT_EQ(config->stability_threshold, 0);
  EXPECT_EQ(config->confidence_threshold, 0.5);
  EXPECT_EQ(config->eos_token_ids, (std::vector<int32_t>{9}));
  EXPECT_FALSE(config->pad_token_id.has_value());
}

TEST(DiffusionGenerationConfig, MissingAndNullFieldsTakeTransformersDefaults) {
  auto empty = ParseDiffusionGenerationConfig("{}", kWhere);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  ExpectDefaults(*empty);
  EXPECT_TRUE(empty->eos_token_ids.empty());
  EXPECT_FALSE(empty->pad_token_id.has_value());
  // The tiny DiffusionGemma fixture's file, as transformers 5.17 wrote it: every diffusion field null.
  auto nulls = ParseDiffusionGenerationConfig(
      R"({"confidence_threshold": null, "max_denoising_steps": null, "return_dict_in_generate": true,
          "sampler_config": null, "stability_threshold": null, "t_max": null, "t_min": null,
          "eos_token_id": null, "pad_token_id": null, "transformers_version": "5.17.0"})",
      kWhere);
  ASSERT_TRUE(nulls.ok()) << nulls.status().ToString();
  ExpectDefaults(*nulls);
  EXPECT_TRUE(nulls->eos_token_ids.empty());
  EXPECT_FALSE(nulls->pad_token_id.has_value());
}

TEST(DiffusionGenerationConfig, BadValuesNameTheFileAndField) {
  ExpectRefused(R"({"max_denoising_steps": 0})", "max_denoising_steps");
  ExpectRefused(R"({"max_denoising_steps": 48.0})", "max_denoising_steps");  // transformers: isinstance(x, int)
  ExpectRefused(R"({"max_denoising_steps": "48"})", "max_denoising_steps");
  ExpectRefused(R"({"max_new_tokens": -1})", "max_new_tokens");
  ExpectRefused(R"({"t_min": -0.1})", "t_min");
  ExpectRefused(R"({"t_max": -1.0, "t_min": -2.0})", "t_min");
  ExpectRefused(R"({"t_max": 0.4, "t_min": 0.4})", "t_max");  // t_max must exceed t_min
  ExpectRefused(R"({"t_min": 0.9})", "t_max");  // checked after the defaults: t_max 0.8 <= t_min 0.9
  ExpectRefused(R"({"stability_threshold": -1})", "stability_threshold");
  ExpectRefused(R"({"confidence_threshold": 0.0})", "confidence_threshold");
  ExpectRefused(R"({"confidence_threshold": 1})", "confidence_threshold");  // an int: transformers wants a float
  ExpectRefused(R"({"eos_token_id": [1, "<eos>"]})", "eos_token_id[1]");
  ExpectRefused(R"({"eos_token_id": -1})", "eos_token_id");
  ExpectRefused(R"({"pad_token_id": 1.5})", "pad_token_id");
  ExpectRefused(R"({"sampler_config": 0.1})", "sampler_config");
}

TEST(DiffusionGenerationConfig, SamplerConfigMustBeAnEntropyBoundSamplerConfig) {
  ExpectRefused(R"({"sampler_config": {"entropy_bound": 0.1}})", "sampler_config._cls_name");
  ExpectRefused(R"({"sampler_config": {"_cls_name": "TopKSamplerConfig", "entropy_bound": 0.1}})",
                "sampler_config._cls_name");
  ExpectRefused(R"({"sampler_config": {"_cls_name": "EntropyBoundSamplerConfig"}})", "sampler_config.entropy_bound");
  ExpectRefused(R"({"sampler_config": {"_cls_name": "EntropyBoundSamplerConfig", "entropy_bound": 0.0}})",
                "sampler_config.entropy_bound");
  ExpectRefused(R"({"sampler_config": {"_cls_name": "EntropyBoundSamplerConfig", "entropy_bound": 1}})",
                "sampler_config.entropy_bound");  // an int: transformers' __post_init__ wants a float
  ExpectRefused(R"({"sampler_config": {"_cls_name": "EntropyBoundSamplerConfig", "entropy_bound": 0.1, "k": 2}})",
                "sampler_config.k");
}

TEST(DiffusionGenerationConfig, NotJsonOrNotAnObjectIsRefused) {
  for (const char* text : {"{", "[1, 2]", "48"}) {
    auto config = ParseDiffusionGenerationConfig(text, kWhere);
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(kWhere), std::string::npos) << config.status().ToString();
  }
}

TEST(DiffusionGenerationConfig, ReadFromACheckpointDirectory) {
  const std::string dir = testing::TempDir("diffusion_generation_config_read");
  auto absent = ReadDiffusionGenerationConfig(dir);  // no file: every default, as transformers
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  ExpectDefaults(*absent);
  std::ofstream(dir + "/generation_config.json") << R"({"max_denoising_steps": 12, "eos_token_id": [1, 106]})";
  auto present = ReadDiffusionGenerationConfig(dir);
  ASSERT_TRUE(present.ok()) << present.status().ToString();
  EXPECT_EQ(present->max_denoising_steps, 12);
  EXPECT_EQ(present->eos_token_ids, (std::vector<int32_t>{1, 106}));
  std::ofstream(dir + "/generation_config.json") << R"({"t_max": 0.1})";
  auto bad = ReadDiffusionGenerationConfig(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find(dir + "/generation_config.json: field 't_max'"), std::string::npos)
      << bad.status().ToString();
}

}  // namespace
}  // namespace fp4lab
