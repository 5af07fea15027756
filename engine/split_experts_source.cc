#include "engine/split_experts_source.h"

namespace fp4lab {

namespace {

constexpr std::string_view kGateUp = ".experts.gate_up_proj", kDown = ".experts.down_proj";

}  // namespace

Result<std::unique_ptr<SplitExpertsSource>> SplitExpertsSource::Wrap(std::unique_ptr<SafetensorsReader> reader) {
  auto source = std::unique_ptr<SplitExpertsSource>(new SplitExpertsSource(std::move(reader)));
  for (const TensorView& t : source->reader_->tensors()) {
    if (t.name.ends_with(kGateUp)) FP4LAB_RETURN_IF_ERROR(source->AddSlices(t, /*gate_up=*/true));
    if (t.name.ends_with(kDown)) FP4LAB_RETURN_IF_ERROR(source->AddSlices(t, /*gate_up=*/false));
  }
  return source;
}

Status SplitExpertsSource::AddSlices(const TensorView& fused, bool gate_up) {
  const std::string what = gate_up ? "fused experts gate|up [E, 2I, H]" : "fused experts down [E, H, I]";
  if (fused.shape.size() != 3 || (gate_up && fused.shape[1] % 2 != 0)) {
    return Status::InvalidArgument(fused.file + ": tensor '" + fused.name + "' (" + what + ") has shape " +
                                   fused.ShapeString());
  }
  const std::string parent = fused.name.substr(0, fused.name.size() - (gate_up ? kGateUp : kDown).size());
  const int64_t experts = fused.shape[0], rows = gate_up ? fused.shape[1] / 2 : fused.shape[1], cols = fused.shape[2];
  const size_t slice_bytes = fused.bytes.size() / static_cast<size_t>(experts) / (gate_up ? 2 : 1);
  for (int64_t e = 0; e < experts; ++e) {
    const std::string prefix = parent + ".experts." + std::to_string(e) + ".";
    const std::vector<std::string> leaves =
        gate_up ? std::vector<std::string>{"gate_proj", "up_proj"} : std::vector<std::string>{"down_proj"};
    for (size_t part = 0; part < leaves.size(); ++part) {
      TensorView view;
      view.name = prefix + leaves[part] + ".weight";
      if (reader_->Find(view.name) != nullptr) {
        return Status::InvalidArgument(fused.file + ": tensor '" + view.name + "' is stored both per expert and in '" +
                                       fused.name + "'");
      }
      view.dtype = fused.dtype;
      view.shape = {rows, cols};
      view.file = fused.file;
      view.bytes = fused.bytes.subspan((static_cast<size_t>(e) * leaves.size() + part) * slice_bytes, slice_bytes);
      slices_.emplace(view.name, std::move(view));
    }
  }
  return Status::Ok();
}

const TensorView* SplitExpertsSource::Find(std::string_view name) const {
  const auto it = slices_.find(name);
  return it != slices_.end() ? &it->second : reader_->Find(name);
}

}  // namespace fp4lab
