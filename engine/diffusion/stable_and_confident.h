// The adaptive stop of one canvas's denoising loop, as transformers' StableAndConfidentStoppingCriteria decides it.
//
// After each step: the canvas is *stable* when the step's argmax canvas equals each of the previous
// `stability_threshold` steps' argmax canvases (of this canvas; fewer steps than that so far is not stable, as
// transformers' history starts filled with -1), always stable when the threshold is 0; it is *confident* when the
// mean over positions of the temperature-scaled entropies is below `confidence_threshold` (strictly). Denoising
// stops when both hold. (transformers' docstring says "accepted canvas"; its code, and vLLM's, compare argmax
// canvases, and so does this.)
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

namespace fp4lab {

class StableAndConfidentRule {
 public:
  StableAndConfidentRule(int stability_threshold, double confidence_threshold)
      : stability_threshold_(stability_threshold), confidence_threshold_(confidence_threshold) {}

  // Forgets the history: call at the start of each canvas.
  void Reset() { history_.clear(); }
  // Records this step's argmax canvas and returns whether denoising stops after it.
  bool Update(std::span<const int32_t> argmax_canvas, double mean_entropy);

 private:
  int stability_threshold_;
  double confidence_threshold_;
  std::deque<std::vector<int32_t>> history_;  // the last <= stability_threshold_ argmax canvases, oldest first
};

}  // namespace fp4lab
