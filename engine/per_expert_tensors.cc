#include "engine/per_expert_tensors.h"

#include <charconv>

namespace fp4lab {

namespace {

// "<p>.experts.<e>.<leaf>.weight" split into its fused tensor's name, the expert and the leaf; false otherwise.
bool ParseExpertName(std::string_view name, std::string* fused, int64_t* expert, std::string_view* leaf) {
  constexpr std::string_view kExperts = ".experts.", kWeight = ".weight";
  const size_t at = name.rfind(kExperts);
  if (at == std::string_view::npos || !name.ends_with(kWeight)) return false;
  std::string_view rest = name.substr(at + kExperts.size());
  rest.remove_suffix(kWeight.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  const std::string_view digits = rest.substr(0, dot);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), *expert);
  if (error != std::errc() || end != digits.data() + digits.size()) return false;
  *leaf = rest.substr(dot + 1);
  const std::string stem(name.substr(0, at + kExperts.size()));
  if (*leaf == "gate_proj" || *leaf == "up_proj") {
    *fused = stem + "gate_up_proj";
  } else if (*leaf == "down_proj") {
    *fused = stem + "down_proj";
  } else {
    return false;
  }
  return true;
}

}  // namespace

const TensorView* PerExpertTensors::Find(std::string_view name) const {
  if (const TensorView* t = base_.Find(name)) return t;
  std::string fused_name;
  int64_t expert = 0;
  std::string_view leaf;
  if (!ParseExpertName(name, &fused_name, &expert, &leaf)) return nullptr;
  const TensorView* fused = base_.Find(fused_name);
  if (fused == nullptr || fused->shape.size() != 3 || expert >= fused->shape[0]) return nullptr;
  const bool gate_up = leaf != "down_proj";
  if (gate_up && fused->shape[1] % 2 != 0) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto found = views_.find(name); found != views_.end()) return found->second.get();
  const int64_t rows = gate_up ? fused->shape[1] / 2 : fused->shape[1], cols = fused->shape[2];
  const size_t bytes = static_cast<size_t>(rows * cols) * DTypeSize(fused->dtype);
  const size_t offset = static_cast<size_t>(expert * fused->shape[1] * cols) * DTypeSize(fused->dtype) +
                        (leaf == "up_proj" ? bytes : 0);
  auto view = std::make_unique<TensorView>();
  view->name = std::string(name);
  view->dtype = fused->dtype;
  view->shape = {rows, cols};
  view->bytes = fused->bytes.subspan(offset, bytes);
  view->file = fused->file;
  return views_.emplace(std::string(name), std::move(view)).first->second.get();
}

}  // namespace fp4lab
