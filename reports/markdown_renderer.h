// Renders a ReportDocument as GitHub-flavoured Markdown with the same content as the HTML page: tables become
// pipe tables, charts become tables of their data (with a text bar), sections keep their ids as anchors.
// Text from the document is escaped (Markdown punctuation backslashed, < > & as entities), so a database
// string can never inject markup.
#pragma once

#include "results/text_escape.h"

#include <string>
#include <string_view>

#include "reports/report_document.h"

namespace fp4lab {

std::string RenderMarkdown(const ReportDocument& document);


}  // namespace fp4lab
