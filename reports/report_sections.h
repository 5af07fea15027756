// One builder per report section (section ids in report_builder.h). Each returns the whole Section, including
// the "not measured in this run" text for runs without the data. Errors only for malformed stored data the
// section cannot show honestly (e.g. a KLD histogram whose counts do not match its bin edges). Internal to
// reports/; report_builder.h is the public entry point.
#pragma once

#include "engine/status.h"
#include "reports/report_data.h"
#include "reports/report_document.h"

namespace fp4lab {

Result<Section> BuildVerdictSection(const ReportData& data);             // section_verdict.cc
Result<Section> BuildPerplexityFidelitySection(const ReportData& data);  // section_fidelity.cc
Result<Section> BuildMmluSection(const ReportData& data);                // section_mmlu.cc
Result<Section> BuildHumanEvalSection(const ReportData& data);           // section_humaneval.cc
Result<Section> BuildDiffusionSection(const ReportData& data);           // section_diffusion.cc
Result<Section> BuildLatencySection(const ReportData& data);             // section_performance.cc
Result<Section> BuildMemorySection(const ReportData& data);              // section_performance.cc
Result<Section> BuildLayerPrecisionSection(const ReportData& data);      // section_layers.cc
Result<Section> BuildDevicesSection(const ReportData& data);             // section_devices.cc
Result<Section> BuildProvenanceSection(const ReportData& data);          // section_provenance.cc

// For every run merged from shards: which device ran which shard, throughput per rank and the run's parallel
// efficiency; empty when no run of the report was merged. Part of the device section.  // section_shards.cc
std::vector<Block> BuildShardBlocks(const ReportData& data);

// Weights vs KV cache for a run holding FP8-KV precisions ("W+kv-fp8"): each delta against the reference split into
// weight effect, KV-cache effect, combined and interaction; empty when no precision of the run used the FP8 cache.
// Part of the verdict section.  // section_kv_cache.cc
std::vector<Block> BuildKvAttributionBlocks(const RunReportData& run);

// How each precision of a run was executed, from provenance["nvfp4_path"]: for precision p, a string value
// ("native" | "emulated" | "weight-only") or an object {"path", "reason"}; a reason may also sit in
// nvfp4_path["<p>_reason"] or nvfp4_path["reasons"][p]. Empty path when the run does not record one.
struct PrecisionPath {
  std::string path;
  std::string reason;
};
PrecisionPath LookupPrecisionPath(const RunRecord& run, const std::string& precision);  // section_devices.cc

}  // namespace fp4lab
