// Provenance: everything needed to reproduce or compare each run: identity, build, device facts, hashes,
// command line (the run's provenance object, flattened) and each task's version, dataset hash and config.
#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

// Rows "a.b.c" -> value for every leaf of an object; arrays are shown as compact JSON.
void Flatten(const nlohmann::json& value, const std::string& prefix, Table* table) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, child] : value.items()) Flatten(child, prefix.empty() ? key : prefix + "." + key, table);
    return;
  }
  table->rows.push_back({TextCell(prefix), TextCell(JsonText(value))});
}

// Stored options as shown: a chat template (tasks/chat_prompt.h) by its origin and sha256, without the template
// text and special tokens it keeps for rebuilding the task.
nlohmann::json WithoutTemplateText(nlohmann::json value) {
  if (!value.is_object()) return value;
  for (auto& [key, child] : value.items()) {
    if (key == "chat_template" && child.is_object()) {
      child.erase("source");
      child.erase("special_tokens");
    } else {
      child = WithoutTemplateText(child);
    }
  }
  return value;
}

std::vector<Block> ProvenanceBlocks(const RunReportData& data) {
  const RunRecord& run = data.run;
  Table table{"Run record and provenance", {"Field", "Value"}, {}};
  auto add = [&table](const std::string& field, const std::string& value) {
    table.rows.push_back({TextCell(field), value.empty() ? TextCell("—", Tone::kMuted) : TextCell(value)});
  };
  add("run id", std::to_string(run.id));
  add("tag", run.tag);
  add("status", RunStatusName(run.status));
  add("started at", run.started_at);
  add("finished at", run.finished_at);
  add("model", run.model_path);
  add("reference model", run.reference_path);
  add("device", run.device);
  add("device name", run.device_name);
  add("fp4lab git sha", run.git_sha);
  add("plan key", run.plan_key);
  Flatten(WithoutTemplateText(run.provenance), "", &table);
  std::vector<Block> blocks;
  blocks.push_back(std::move(table));
  if (!data.tasks.empty()) {
    Table tasks{"Tasks", {"Task", "Precision", "Version", "Dataset sha256", "Complete", "Config"}, {}};
    for (const TaskRecord& t : data.tasks) {
      tasks.rows.push_back({TextCell(t.task), TextCell(t.precision), TextCell(t.version), TextCell(t.dataset_sha256),
                            t.complete ? TextCell("yes") : TextCell("no (incomplete)", Tone::kWorse),
                            TextCell(JsonText(WithoutTemplateText(t.config)))});
    }
    blocks.push_back(std::move(tasks));
  }
  return blocks;
}

}  // namespace

Result<Section> BuildProvenanceSection(const ReportData& data) {
  Section section{"provenance", "Provenance", true, {}};
  FP4LAB_RETURN_IF_ERROR(AddPerRunBlocks(
      data, &section, [](const RunReportData& run) -> Result<std::vector<Block>> { return ProvenanceBlocks(run); }));
  return section;
}

}  // namespace fp4lab
