// Renders a ReportDocument as one self-contained HTML5 page: inline CSS (responsive, print styles), inline SVG
// charts, and a small optional inline script that only makes table headers sortable (the page reads fully with
// scripts off). No external references of any kind: no fonts, images, stylesheets, scripts or links other than
// same-page "#section" anchors. Every string from the document is HTML-escaped.
#pragma once

#include <string>

#include "engine/status.h"
#include "reports/report_document.h"

namespace fp4lab {

// Each Section becomes <section id="<id>">; each Table a horizontally scrollable, sortable <table> whose numeric
// cells carry data-sort="<value>". Fails only if a chart is malformed (see svg_chart.h), naming the section.
Result<std::string> RenderHtml(const ReportDocument& document);

}  // namespace fp4lab
