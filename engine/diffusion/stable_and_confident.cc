#include "engine/diffusion/stable_and_confident.h"

#include <algorithm>

namespace fp4lab {

bool StableAndConfidentRule::Update(std::span<const int32_t> argmax_canvas, double mean_entropy) {
  bool stable = true;
  if (stability_threshold_ > 0) {
    stable = static_cast<int>(history_.size()) == stability_threshold_ &&
             std::all_of(history_.begin(), history_.end(), [&](const std::vector<int32_t>& previous) {
               return std::equal(previous.begin(), previous.end(), argmax_canvas.begin(), argmax_canvas.end());
             });
    history_.emplace_back(argmax_canvas.begin(), argmax_canvas.end());
    if (static_cast<int>(history_.size()) > stability_threshold_) history_.pop_front();
  }
  const bool confident = mean_entropy < confidence_threshold_;
  return stable && confident;
}

}  // namespace fp4lab
