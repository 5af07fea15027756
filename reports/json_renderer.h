// Renders a ReportDocument as JSON with the same content as the HTML page, for tools and diffs:
// {"format": "fp4lab-report", "version": 1, "title", "summary": [...], "sections": [{"id", "title", "measured",
//  "blocks": [{"type": "heading"|"paragraph"|"table"|"bar_chart"|"histogram", ...}]}]}.
// Table cells are {"text", "value"?, "tone"?}; numbers are the unrounded values behind the formatted text.
#pragma once

#include <nlohmann/json.hpp>

#include "reports/report_document.h"

namespace fp4lab {

nlohmann::json RenderJson(const ReportDocument& document);

const char* ToneName(Tone tone);  // "neutral" | "better" | "worse" | "pass" | "fail" | "error" | "muted"

}  // namespace fp4lab
