// Builds the report document (report_document.h) from loaded data: the fixed list of sections below, in
// order, each present even when empty ("Not measured in this run.").
#pragma once

#include <string>
#include <vector>

#include "engine/status.h"
#include "reports/report_data.h"
#include "reports/report_document.h"

namespace fp4lab {

// "verdict", "perplexity-fidelity", "mmlu", "humaneval", "diffusion", "latency", "memory", "layer-precision",
// "devices", "provenance": the section ids (HTML <section id>, Markdown anchors, JSON "id"), in report order.
const std::vector<std::string>& ReportSectionIds();

// REQUIRES: data.runs non-empty. InvalidArgument when stored data cannot be shown honestly (e.g. a KLD
// histogram whose counts and bin edges disagree), naming the section, run and sample.
Result<ReportDocument> BuildReportDocument(const ReportData& data);

}  // namespace fp4lab
