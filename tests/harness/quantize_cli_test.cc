// `fp4lab quantize` and `fp4lab inspect --config` end to end: the real binary (FP4LAB_EXE) on the repository's
// fixtures, checking exit codes (0 ok, 2 bad input), what lands on disk and that a failed run leaves nothing.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "engine/file_util.h"
#include "engine/safetensors.h"
#include "test_util.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;
using testing::FixturePath;
using testing::SourcePath;
using testing::TempDir;

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `fp4lab <args>` through the shell (arguments are repository paths without spaces or quotes).
CommandResult RunFp4lab(const std::string& args, const std::string& output_dir) {
  const std::string log = output_dir + "/fp4lab_output.txt";
  const std::string command = std::string(FP4LAB_EXE) + " " + args + " > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto text = ReadFile(log);
  result.output = text.ok() ? *text : text.status().ToString();
  std::filesystem::remove(log);
  return result;
}

std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// --recipe experts-only on gemma4moe_tiny (weight-only, so no calibration text is needed: the fixture has no
// tokenizer): 72 expert Linears quantized, the 23 others listed as kept bf16 with lm_head, and the expert weights
// byte for byte those of the independently produced gemma4moe_tiny_nvfp4 (the W4A4 run with its input scales is
// tests/engine/quantize_experts_only_test.cc); an unknown recipe exits 2.
TEST(QuantizeCliTest, ExpertsOnlyRecipeQuantizesOnlyTheExperts) {
  const std::string root = TempDir("quantize_cli_experts_only");
  const std::string out = root + "/experts";
  CommandResult r = RunFp4lab("quantize --model " + FixturePath("gemma4moe_tiny") + " --out " + out +
                                  " --scheme nvfp4-w4a16 --recipe experts-only",
                              root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("72 Linear layers quantized, 24 kept bf16"), std::string::npos) << r.output;
  auto ours = SafetensorsReader::Open(out);
  auto fixture = SafetensorsReader::Open(FixturePath("gemma4moe_tiny_nvfp4"));
  ASSERT_TRUE(ours.ok() && fixture.ok());
  int compared = 0;
  for (const TensorView& want : (*fixture)->tensors()) {
    if (want.name.find(".experts.") == std::string::npos || want.name.ends_with(".input_scale")) continue;
    const TensorView* got = (*ours)->Find(want.name);
    ASSERT_NE(got, nullptr) << want.name;
    EXPECT_TRUE(std::equal(got->bytes.begin(), got->bytes.end(), want.bytes.begin(), want.bytes.end()))
        << want.name;
    ++compared;
  }
  EXPECT_EQ(compared, 3 * 8 * 3 * 3);  // layers x experts x {gate, up, down} x {weight, scale, scale_2}
  CommandResult bad = RunFp4lab("quantize --model " + FixturePath("gemma4moe_tiny") + " --out " + root +
                                    "/bad --scheme nvfp4-w4a16 --recipe experts",
                                root);
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("experts-only"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(root + "/bad"));
}

TEST(QuantizeCliTest, WritesACheckpointAndRefusesToOverwriteIt) {
  const std::string root = TempDir("quantize_cli");
  const std::string out = root + "/tiny_w4a16";
  const std::string args = "quantize --model " + FixturePath("llama_tiny") + " --out " + out +
                           " --scheme nvfp4-w4a16";
  CommandResult first = RunFp4lab(args, root);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("14 Linear layers quantized"), std::string::npos) << first.output;
  for (const char* file : {"model.safetensors", "config.json", "hf_quant_config.json", "generation_config.json"}) {
    EXPECT_TRUE(fs::exists(out + "/" + file)) << file;
  }
  auto reader = SafetensorsReader::Open(out);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const TensorView* q = (*reader)->Find("model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::kU8);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{128, 64}));
  reader->reset();

  // The same output again: refused with exit code 2, the existing checkpoint untouched.
  const auto before = fs::last_write_time(out + "/model.safetensors");
  CommandResult again = RunFp4lab(args, root);
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("--force"), std::string::npos) << again.output;
  EXPECT_EQ(fs::last_write_time(out + "/model.safetensors"), before);
  CommandResult forced = RunFp4lab(args + " --force", root);
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_EQ(Entries(root), (std::set<std::string>{"tiny_w4a16"}));
}

TEST(QuantizeCliTest, DefaultCalibrationTextQuantizesTheBundledModel) {
  // nvfp4 (W4A4) calibrates on the bundled wikitext2 sample by default; stories260K has a tokenizer.
  const std::string root = TempDir("quantize_cli_calib");
  const std::string out = root + "/stories_nvfp4";
  CommandResult r = RunFp4lab("quantize --model " + SourcePath("datasets/models/stories260K") + " --out " + out +
                                  " --calib-tokens 64 --format compressed-tensors",
                              root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("calibrated on 64 tokens"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out + "/tokenizer.model"));
  auto config = ReadJsonFile(out + "/config.json");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ((*config)["quantization_config"]["format"], "nvfp4-pack-quantized");
  EXPECT_EQ((*config)["quantization_config"]["ignore"].size(), 5u);  // the five down_proj with K = 172
}

TEST(QuantizeCliTest, FailedRunExitsWithTwoAndLeavesNoDirectory) {
  const std::string root = TempDir("quantize_cli_fail");
  // A copy of llama_tiny with one NaN weight.
  const std::string model = root + "/nan_model";
  fs::create_directories(model);
  auto reader = SafetensorsReader::Open(FixturePath("llama_tiny"));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<TensorToWrite> tensors;
  for (const TensorView& t : (*reader)->tensors()) {
    tensors.push_back({t.name, t.dtype, t.shape, {t.bytes.begin(), t.bytes.end()}});
    if (t.name == "model.layers.0.self_attn.v_proj.weight") {
      const uint16_t nan = 0x7FC0;
      std::memcpy(tensors.back().bytes.data() + 10, &nan, 2);
    }
  }
  ASSERT_TRUE(WriteSafetensors(model + "/model.safetensors", tensors, {{"format", "pt"}}).ok());
  fs::copy_file(FixturePath("llama_tiny/config.json"), model + "/config.json");

  const std::string out = root + "/out";
  CommandResult nan = RunFp4lab("quantize --model " + model + " --out " + out + " --scheme nvfp4-w4a16", root);
  EXPECT_EQ(nan.exit_code, 2) << nan.output;
  EXPECT_NE(nan.output.find("model.layers.0.self_attn.v_proj.weight"), std::string::npos) << nan.output;
  EXPECT_FALSE(fs::exists(out));
  // W4A4 calibration text needs a tokenizer, which llama_tiny lacks: also bad input, also nothing written.
  CommandResult no_tokenizer =
      RunFp4lab("quantize --model " + FixturePath("llama_tiny") + " --out " + out + " --scheme nvfp4", root);
  EXPECT_EQ(no_tokenizer.exit_code, 2) << no_tokenizer.output;
  CommandResult bad_scheme =
      RunFp4lab("quantize --model " + FixturePath("llama_tiny") + " --out " + out + " --scheme int4", root);
  EXPECT_EQ(bad_scheme.exit_code, 2) << bad_scheme.output;
  EXPECT_EQ(Entries(root), (std::set<std::string>{"nan_model"}));
}

TEST(QuantizeCliTest, InspectPredictsTheFootprintFromAConfig) {
  const std::string root = TempDir("quantize_cli_inspect");
  CommandResult r = RunFp4lab(
      "inspect --config " + SourcePath("datasets/configs/diffusiongemma-26b-a4b.json") + " --scheme nvfp4 --json",
      root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(r.output);
  } catch (const nlohmann::json::exception& e) {
    FAIL() << e.what() << "\n" << r.output;
  }
  EXPECT_EQ(j["scheme"], "nvfp4");
  // The parts add up, and the stored form is larger than "parameters x 4 bits" (scales and bf16 layers).
  int64_t parameters = 0, bytes = 0;
  for (const auto& part : j["parts"]) {
    parameters += part["parameters"].get<int64_t>();
    bytes += part["bytes"].get<int64_t>();
  }
  EXPECT_EQ(parameters, j["parameters"].get<int64_t>());
  EXPECT_EQ(bytes, j["bytes"].get<int64_t>());
  EXPECT_GT(j["bytes"].get<int64_t>(), j["naive_4bit_bytes"].get<int64_t>());
  EXPECT_FALSE(j["kept_bf16"].empty());

  CommandResult text = RunFp4lab(
      "inspect --config " + SourcePath("datasets/configs/llama-3.1-8b.json") + " --scheme fp8", root);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("8030261248 parameters"), std::string::npos) << text.output;
  CommandResult missing = RunFp4lab("inspect --config " + root + "/no_such_config.json", root);
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
}

// The DiffusionGemma preset: bytes by role with the vision tower stored but skipped (fp4lab runs text only), and the
// FP8 KV cache the NVFP4 export declares (kv_cache_quant_algo FP8) chosen by --kv-cache auto.
TEST(QuantizeCliTest, InspectDiffusionGemmaPresetListsTheVisionTowerAsSkipped) {
  const std::string root = TempDir("quantize_cli_inspect_diffusion");
  CommandResult r = RunFp4lab("inspect --config diffusiongemma-26b-a4b --scheme nvfp4 --json", root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  std::map<std::string, bool> skipped;
  for (const auto& part : j["parts"]) skipped[part["part"].get<std::string>()] = part["skipped"].get<bool>();
  EXPECT_TRUE(skipped.at("vision"));
  EXPECT_FALSE(skipped.at("experts"));
  EXPECT_FALSE(skipped.at("self_conditioning"));
  EXPECT_EQ(j["kv_cache"]["format"], "fp8") << j.dump(2);
  CommandResult text = RunFp4lab("inspect --config diffusiongemma-26b-a4b", root);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("vision (skipped)"), std::string::npos) << text.output;
}

}  // namespace
}  // namespace fp4lab
