// TensorManifest: every weight tensor a model family's config implies, declared once by the family
// (engine/arch/<family>.cc) and read by everything that needs the list: the weight loader (which checks the
// checkpoint against it), synthetic weights (engine/synthetic_weights.h), the memory inventory and parameter count
// (engine/memory_model.h), and `fp4lab inspect`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fp4lab {

enum class TensorKind {
  kLinear,     // a Linear layer's weight [out, in] (quantizable), at "<name>.weight" (+ "<name>.bias")
  kEmbedding,  // a dense matrix [rows, cols] that is never quantized, at "<name>" (the token embedding)
  kVector,     // a 1-D tensor [n] kept in bf16 (norm weights), at "<name>"
};

struct ManifestTensor {
  std::string name;  // kLinear: the module prefix ("model.layers.0.self_attn.q_proj"); else the tensor name
  TensorKind kind = TensorKind::kVector;
  // The part of the model it belongs to (memory report rows): "embedding", "attention", "mlp", "norms",
  // "lm_head", "experts", "router", ...
  std::string part;
  std::vector<int64_t> shape;  // kLinear [out, in]; kEmbedding [rows, cols]; kVector [n]
  bool bias = false;           // kLinear with a bias [out]
  // kLinear: the name of the fused Linear it runs in (q|k|v -> "<layer>.self_attn.qkv_proj"); members of one
  // fused group share their global scales when quantized. Empty: runs alone.
  std::string fused_as;
  // kLinear that stays bf16 under every scheme, and why (lm_head, as ModelOpt exports it). Empty: quantizable.
  std::string keep_bf16;
  // kVector: the value synthetic weights give it (1 for a y = x * w norm, 0 for Gemma's y = x * (1 + w)).
  float synthetic_value = 1.0f;
  // kLinear of a mixture-of-experts layer: the entry stands for `experts` Linears of this shape, one per routed
  // expert, and its name holds one '*' where the expert index goes ("model.layers.0.mlp.experts.*.gate_proj",
  // part "experts"; ExpertName(5) = "model.layers.0.mlp.experts.5.gate_proj"). 0: one ordinary Linear.
  int64_t experts = 0;

  int64_t Elements() const;  // product of shape (of one expert's Linear for an experts entry)
  // Every parameter the entry stands for (all experts of an experts entry).
  int64_t Parameters() const { return (Elements() + (bias ? shape.at(0) : 0)) * (experts > 0 ? experts : 1); }
  // The name of expert e's Linear (an experts entry).
  std::string ExpertName(int64_t e) const;
};

// The name of expert e under an experts pattern (one '*' for the index).
std::string ExpertTensorName(const std::string& pattern, int64_t e);

struct TensorManifest {
  std::vector<ManifestTensor> tensors;  // in checkpoint order

  int64_t ParameterCount() const;
  // The entry called `name`, or nullptr.
  const ManifestTensor* Find(const std::string& name) const;
  // The Linears that share `name`'s fused group, in manifest order (just `name` when it runs alone).
  std::vector<std::string> FusedGroup(const std::string& name) const;

  // Builders for family files.
  void AddLinear(const std::string& name, const std::string& part, int64_t out, int64_t in,
                 const std::string& fused_as = "", bool bias = false);
  void AddEmbedding(const std::string& name, int64_t rows, int64_t cols);
  void AddVector(const std::string& name, const std::string& part, int64_t size, float synthetic_value = 1.0f);
  // A MoE router [experts, in], part "router": stays bf16 in every scheme (ModelOpt never quantizes routers).
  void AddRouter(const std::string& name, int64_t experts, int64_t in);
  // `count` routed experts' Linears [out, in] under `pattern` (one '*' for the index), part "experts". Experts
  // entries with the same `fused_as` (also holding the '*') fuse per expert, as gate|up does.
  void AddExperts(const std::string& pattern, int64_t count, int64_t out, int64_t in, const std::string& fused_as = "");
};

}  // namespace fp4lab
