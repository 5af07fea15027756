// Device comparison: one column per device among the report's runs; for each precision, how it ran there
// (native / emulated / weight-only, or "not measured"), why, and the headline numbers side by side; for a run merged
// from shards, which device ran which shard (section_shards.cc).
#include <algorithm>

#include "reports/report_format.h"
#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

std::string DeviceOf(const RunRecord& run) {
  if (run.device_name.empty()) return run.device.empty() ? "unknown device" : run.device;
  return run.device_name;
}

bool HasPrecision(const RunReportData& run, const std::string& precision) {
  const std::vector<std::string> precisions = RunPrecisions(run);
  return std::find(precisions.begin(), precisions.end(), precision) != precisions.end();
}

// The runs of `device`, newest last.
std::vector<const RunReportData*> RunsOn(const ReportData& data, const std::string& device) {
  std::vector<const RunReportData*> out;
  for (const RunReportData& run : data.runs) {
    if (DeviceOf(run.run) == device) out.push_back(&run);
  }
  return out;
}

std::string RunIds(const std::vector<const RunReportData*>& runs) {
  std::string ids;
  for (const RunReportData* run : runs) ids += (ids.empty() ? "#" : ", #") + std::to_string(run->run.id);
  return ids;
}

Cell PathCell(const std::vector<const RunReportData*>& runs, const std::string& precision) {
  std::string text;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    const RunReportData& run = **it;
    if (!HasPrecision(run, precision)) continue;
    const PrecisionPath path = LookupPrecisionPath(run.run, precision);
    if (!path.path.empty()) return TextCell(path.path);
    text = precision == ReferencePrecision(run) ? "reference (" + precision + ")" : "measured, path not recorded";
  }
  return text.empty() ? MissingCell() : TextCell(text);
}

// Per run and precision: the weights held on the device and the peak memory measured while that precision was
// the one model resident (harness/runner.cc, provenance "memory"). Empty for runs made before it was recorded.
Table MemoryTable(const ReportData& data) {
  Table table{"Memory while each precision ran (one model resident at a time)",
              {"Run", "Precision", "Weights on device", "Peak", "Measured as"}, {}};
  for (const RunReportData& run : data.runs) {
    const nlohmann::json memory = run.run.provenance.value("memory", nlohmann::json::object());
    const nlohmann::json precisions = memory.value("precisions", nlohmann::json::object());
    if (!precisions.is_object()) continue;
    for (const std::string& p : RunPrecisions(run)) {
      auto entry = precisions.find(p);
      if (entry == precisions.end() || !entry->is_object()) continue;
      const auto bytes = [&](const char* key) {
        auto value = entry->find(key);
        return value != entry->end() && value->is_number() ? TextCell(FormatBytes(value->get<double>()))
                                                          : MissingCell();
      };
      table.rows.push_back({TextCell("#" + std::to_string(run.run.id)), TextCell(p), bytes("weight_device_bytes"),
                            bytes("peak_bytes"), TextCell(JsonText(entry->value("source", nlohmann::json("—"))))});
    }
  }
  return table;
}

}  // namespace

PrecisionPath LookupPrecisionPath(const RunRecord& run, const std::string& precision) {
  PrecisionPath out;
  auto paths = run.provenance.find("nvfp4_path");
  if (paths == run.provenance.end() || !paths->is_object()) return out;
  auto entry = paths->find(precision);
  if (entry != paths->end()) {
    if (entry->is_string()) {
      out.path = entry->get<std::string>();
    } else if (entry->is_object()) {
      auto path = entry->find("path");
      auto reason = entry->find("reason");
      if (path != entry->end()) out.path = JsonText(*path);
      if (reason != entry->end()) out.reason = JsonText(*reason);
    }
  }
  auto reason = paths->find(precision + "_reason");
  if (out.reason.empty() && reason != paths->end()) out.reason = JsonText(*reason);
  auto reasons = paths->find("reasons");
  if (out.reason.empty() && reasons != paths->end() && reasons->is_object()) {
    auto r = reasons->find(precision);
    if (r != reasons->end()) out.reason = JsonText(*r);
  }
  return out;
}

Result<Section> BuildDevicesSection(const ReportData& data) {
  Section section{"devices", "Device comparison", true, {}};
  std::vector<std::string> devices;
  std::vector<std::string> precisions;
  for (const RunReportData& run : data.runs) {
    const std::string device = DeviceOf(run.run);
    if (std::find(devices.begin(), devices.end(), device) == devices.end()) devices.push_back(device);
    for (const std::string& p : RunPrecisions(run)) {
      if (std::find(precisions.begin(), precisions.end(), p) == precisions.end()) precisions.push_back(p);
    }
  }
  if (precisions.empty()) {
    section.measured = false;
    section.blocks.push_back(Paragraph{kNotMeasured, Tone::kMuted});
    return section;
  }
  if (devices.size() == 1) {
    section.blocks.push_back(Paragraph{"Every run in this report ran on one device: " + devices[0] +
                                       ". Add runs from other devices (--runs) to compare them."});
  }
  Table paths{"How each precision ran on each device", {"Precision"}, {}};
  for (const std::string& device : devices) {
    paths.columns.push_back(device + " (run " + RunIds(RunsOn(data, device)) + ")");
  }
  for (const std::string& p : precisions) {
    std::vector<Cell> row = {TextCell(p)};
    for (const std::string& device : devices) row.push_back(PathCell(RunsOn(data, device), p));
    paths.rows.push_back(std::move(row));
  }
  section.blocks.push_back(std::move(paths));

  Table reasons{"Why", {"Device", "Run", "Precision", "Path", "Reason"}, {}};
  for (const RunReportData& run : data.runs) {
    for (const std::string& p : RunPrecisions(run)) {
      const PrecisionPath path = LookupPrecisionPath(run.run, p);
      if (path.path.empty()) continue;
      reasons.rows.push_back({TextCell(DeviceOf(run.run)), TextCell("#" + std::to_string(run.run.id)), TextCell(p),
                              TextCell(path.path), TextCell(path.reason.empty() ? "—" : path.reason)});
    }
  }
  if (!reasons.rows.empty()) section.blocks.push_back(std::move(reasons));
  Table memory = MemoryTable(data);
  if (!memory.rows.empty()) section.blocks.push_back(std::move(memory));

  if (devices.size() > 1) {
    Table numbers{"Headline numbers per device (newest run on each device)", {"Task", "Metric", "Precision"}, {}};
    for (const std::string& device : devices) numbers.columns.push_back(device);
    // Rows in report order: by task, then metric as first stored, then precision as listed above.
    std::vector<std::pair<std::string, std::string>> names;
    for (const RunReportData& run : data.runs) {
      for (const MetricRecord& m : run.metrics) {
        auto name = std::make_pair(m.task, m.metric);
        if (IsHeadlineMetric(m.metric) && std::find(names.begin(), names.end(), name) == names.end()) {
          names.push_back(name);
        }
      }
    }
    std::stable_sort(names.begin(), names.end(),
                     [](const auto& a, const auto& b) { return TaskRank(a.first) < TaskRank(b.first); });
    std::vector<std::tuple<std::string, std::string, std::string>> keys;
    for (const auto& [task, metric] : names) {
      for (const std::string& precision : precisions) {
        // Init-captures: clang before 16 cannot capture structured bindings (the sanitizer builds use clang 14).
        const bool any = std::any_of(data.runs.begin(), data.runs.end(),
                                     [&task = task, &metric = metric, &precision](const RunReportData& run) {
                                       return FindMetric(run, task, precision, metric) != nullptr;
                                     });
        if (any) keys.emplace_back(task, metric, precision);
      }
    }
    for (const auto& [task, metric, precision] : keys) {
      std::vector<Cell> row = {TextCell(task), TextCell(metric), TextCell(precision)};
      for (const std::string& device : devices) {
        const MetricRecord* found = nullptr;
        for (const RunReportData* run : RunsOn(data, device)) {
          if (const MetricRecord* m = FindMetric(*run, task, precision, metric)) found = m;
        }
        row.push_back(found ? MetricValueCell(*found) : MissingCell());
      }
      numbers.rows.push_back(std::move(row));
    }
    section.blocks.push_back(std::move(numbers));
  }
  for (Block& block : BuildShardBlocks(data)) section.blocks.push_back(std::move(block));
  return section;
}

}  // namespace fp4lab
