// PerExpertTensors: a checkpoint's fused 3-D expert tensors seen as the per-expert 2-D Linears that ModelOpt exports
// and the families' manifests name. transformers >= 5 saves the E experts of a layer as
//   "<p>.experts.gate_up_proj" [E, 2I, H]  (expert e's gate rows 0 .. I-1, then its up rows I .. 2I-1)
//   "<p>.experts.down_proj"    [E, H, I]
// and this source answers, for every e < E,
//   "<p>.experts.<e>.gate_proj.weight" = gate_up_proj[e, :I, :]   [I, H]
//   "<p>.experts.<e>.up_proj.weight"   = gate_up_proj[e, I:, :]   [I, H]
//   "<p>.experts.<e>.down_proj.weight" = down_proj[e]             [H, I]
// as views into the wrapped source's bytes (no copy). Every name the wrapped source has itself (a checkpoint stored
// per expert, ModelOpt's NVFP4 export) passes through unchanged.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/safetensors.h"

namespace fp4lab {

class PerExpertTensors : public TensorSource {
 public:
  // `base` must outlive this source.
  explicit PerExpertTensors(const TensorSource& base) : base_(base) {}

  // nullptr when neither the wrapped source has `name` nor it is a per-expert view of a well-formed fused tensor
  // (3-D, the expert index in range, an even gate_up_proj middle dimension).
  const TensorView* Find(std::string_view name) const override;
  const std::string& path() const override { return base_.path(); }

 private:
  const TensorSource& base_;
  mutable std::mutex mutex_;  // guards views_ (Find is const and may be called from several threads)
  mutable std::map<std::string, std::unique_ptr<TensorView>, std::less<>> views_;  // made on first request
};

}  // namespace fp4lab
