// SplitExpertsSource: a checkpoint whose routed experts are stored fused, as transformers 5 saves Mixtral-style
// experts (Qwen3-MoE, Gemma 4):
//   "<p>.experts.gate_up_proj" [E, 2I, H]  (rows 0 .. I-1 of expert e are gate_proj, rows I .. 2I-1 up_proj: the
//                                           chunk(2) order of transformers' experts forward)
//   "<p>.experts.down_proj"    [E, H, I]
// served under the per-expert names of the other layout (and of ModelOpt's exports, which split them the same way):
//   "<p>.experts.<e>.gate_proj.weight", "<p>.experts.<e>.up_proj.weight" [I, H], "<p>.experts.<e>.down_proj.weight"
//   [H, I]
// as views into the fused tensors' bytes (nothing is copied). Every other tensor passes through unchanged. So a
// family's loader reads one layout, whichever the checkpoint has.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "engine/safetensors.h"
#include "engine/status.h"

namespace fp4lab {

class SplitExpertsSource : public TensorSource {
 public:
  // Wraps `reader` (owned). InvalidArgument naming the file and tensor when a fused experts tensor is not 3-D, its
  // gate_up rows are odd, or a per-expert name it would serve is also stored (two layouts of one layer at once).
  static Result<std::unique_ptr<SplitExpertsSource>> Wrap(std::unique_ptr<SafetensorsReader> reader);

  const TensorView* Find(std::string_view name) const override;
  const std::string& path() const override { return reader_->path(); }
  const SafetensorsReader& reader() const { return *reader_; }

 private:
  explicit SplitExpertsSource(std::unique_ptr<SafetensorsReader> reader) : reader_(std::move(reader)) {}
  Status AddSlices(const TensorView& fused, bool gate_up);

  std::unique_ptr<SafetensorsReader> reader_;
  std::map<std::string, TensorView, std::less<>> slices_;  // per-expert name -> view into a fused tensor
};

}  // namespace fp4lab
