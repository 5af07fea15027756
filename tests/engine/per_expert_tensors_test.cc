// PerExpertTensors against the fused 3-D expert tensors of gemma4moe_tiny (experts.gate_up_proj [8, 64, 128],
// experts.down_proj [8, 128, 32]): each per-expert view holds exactly the bytes of its slice, names that are not
// experts pass through, and names outside the fused tensors are absent.
#include "engine/per_expert_tensors.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;

TEST(PerExpertTensors, SlicesFusedExpertsAndPassesEverythingElseThrough) {
  auto reader = SafetensorsReader::Open(FixturePath("gemma4moe_tiny"));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const PerExpertTensors views(**reader);
  const TensorView* gate_up = (*reader)->Find("model.layers.1.experts.gate_up_proj");
  const TensorView* down = (*reader)->Find("model.layers.1.experts.down_proj");
  ASSERT_TRUE(gate_up && down);
  constexpr int64_t kExperts = 8, kI = 32, kH = 128;
  ASSERT_EQ(gate_up->shape, (std::vector<int64_t>{kExperts, 2 * kI, kH}));
  ASSERT_EQ(down->shape, (std::vector<int64_t>{kExperts, kH, kI}));
  constexpr size_t kBf16 = 2, kSlice = kI * kH * kBf16;  // one [I, H] or [H, I] matrix
  for (int64_t e = 0; e < kExperts; ++e) {
    const std::string p = "model.layers.1.experts." + std::to_string(e) + ".";
    const TensorView* gate = views.Find(p + "gate_proj.weight");
    const TensorView* up = views.Find(p + "up_proj.weight");
    const TensorView* d = views.Find(p + "down_proj.weight");
    ASSERT_TRUE(gate && up && d) << p;
    EXPECT_EQ(gate->shape, (std::vector<int64_t>{kI, kH}));
    EXPECT_EQ(up->shape, (std::vector<int64_t>{kI, kH}));
    EXPECT_EQ(d->shape, (std::vector<int64_t>{kH, kI}));
    EXPECT_EQ(gate->dtype, DType::kBF16);
    EXPECT_EQ(gate->bytes.data(), gate_up->bytes.data() + 2 * e * kSlice) << p;
    EXPECT_EQ(up->bytes.data(), gate_up->bytes.data() + (2 * e + 1) * kSlice) << p;
    EXPECT_EQ(d->bytes.data(), down->bytes.data() + e * kSlice) << p;
    EXPECT_EQ(gate->bytes.size(), kSlice);
    EXPECT_EQ(views.Find(p + "gate_proj.weight"), gate) << "a second lookup returns the same view";
  }
  EXPECT_EQ(views.Find("model.embed_tokens.weight"), (*reader)->Find("model.embed_tokens.weight"));
  EXPECT_EQ(views.Find("model.layers.1.experts.8.gate_proj.weight"), nullptr);   // expert out of range
  EXPECT_EQ(views.Find("model.layers.1.experts.x.gate_proj.weight"), nullptr);   // not an index
  EXPECT_EQ(views.Find("model.layers.1.experts.0.gate_proj.bias"), nullptr);     // not a weight
  EXPECT_EQ(views.Find("model.layers.9.experts.0.down_proj.weight"), nullptr);   // no such layer
  EXPECT_EQ(views.path(), (*reader)->path());
}

}  // namespace
}  // namespace fp4lab
