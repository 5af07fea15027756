#include "reports/html_renderer.h"

#include <cmath>
#include <cstdio>

#include "reports/html_escape.h"
#include "reports/svg_chart.h"

namespace fp4lab {
namespace {

// System font stacks only: the page must never fetch anything.
constexpr const char* kStyle = R"css(
:root{--fg:#1b1f24;--muted:#5b6470;--line:#d0d7de;--head:#f3f5f7;--better:#0a6b2d;--worse:#b00020;--warn:#8a5a00}
*{box-sizing:border-box}
body{margin:0;padding:16px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:#fff}
header,main{max-width:1180px;margin:0 auto}
h1{font-size:1.6em;margin:.2em 0}
h2{font-size:1.3em;margin:1.4em 0 .4em;padding-bottom:.2em;border-bottom:1px solid var(--line)}
h3{font-size:1.05em;margin:1.1em 0 .3em}
.summary{color:var(--muted);margin:.1em 0}
nav ul{list-style:none;padding:0;margin:.6em 0;display:flex;flex-wrap:wrap;gap:.3em 1em}
nav a{color:#0b57d0}
.table-wrap{overflow-x:auto;margin:.4em 0 1em;max-width:100%}
table{border-collapse:collapse;min-width:50%}
caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--head);white-space:nowrap}
table.sortable th{cursor:pointer}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.tone-better{color:var(--better)}
.tone-worse{color:var(--worse);font-weight:600}
.tone-pass{color:var(--better);font-weight:600}
.tone-fail{color:var(--worse);font-weight:700}
.tone-error{color:var(--warn);font-weight:700}
.tone-muted{color:var(--muted);white-space:nowrap}
p.tone-worse,p.tone-fail,p.tone-error{border-left:4px solid currentColor;padding-left:8px}
figure{margin:0}
p,h1,h2,h3{overflow-wrap:anywhere}
.chart{display:block;width:100%;max-width:720px;height:auto;margin:.4em 0 1em}
.chart text{font-size:12px;fill:var(--fg)}
.chart .chart-title{font-weight:600;font-size:13px}
.chart .axis{stroke:var(--muted);stroke-width:1}
.chart .tick,.chart .legend{fill:var(--muted)}
.s0{fill:#0072b2}.s1{fill:#e69f00}.s2{fill:#009e73}.s3{fill:#cc79a7}.s4{fill:#56b4e9}.s5{fill:#d55e00}
@media (max-width:700px){body{padding:8px;font-size:13px}h1{font-size:1.3em}th,td{padding:2px 5px}}
@media print{body{padding:0;font-size:10pt;color:#000}nav{display:none}.table-wrap{overflow:visible}
section{break-inside:auto}h2,h3{break-after:avoid}tr,.chart{break-inside:avoid}table.sortable th{cursor:auto}
a{color:inherit;text-decoration:none}}
)css";

// Click or Enter/Space on a header sorts by data-sort (numbers) or text; optional, the page works without it.
constexpr const char* kSortScript = R"js(
(function(){
  function key(cell){var v=cell.getAttribute('data-sort');return v===null?null:parseFloat(v);}
  document.querySelectorAll('table.sortable').forEach(function(table){
    var heads=table.tHead?table.tHead.rows[0].cells:[];
    Array.prototype.forEach.call(heads,function(th,col){
      th.tabIndex=0;
      function sort(){
        var asc=th.getAttribute('aria-sort')!=='ascending';
        var body=table.tBodies[0];
        var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){
          var x=a.cells[col],y=b.cells[col];
          var kx=key(x),ky=key(y),r;
          if(kx!==null&&ky!==null){r=kx-ky;}
          else if(kx!==null){r=-1;}else if(ky!==null){r=1;}
          else{r=x.textContent.localeCompare(y.textContent);}
          return asc?r:-r;
        });
        rows.forEach(function(r){body.appendChild(r);});
        Array.prototype.forEach.call(heads,function(h){h.removeAttribute('aria-sort');});
        th.setAttribute('aria-sort',asc?'ascending':'descending');
      }
      th.addEventListener('click',sort);
      th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();sort();}});
    });
  });
})();
)js";

const char* ToneClass(Tone tone) {
  switch (tone) {
    case Tone::kNeutral:
      return "";
    case Tone::kBetter:
      return "tone-better";
    case Tone::kWorse:
      return "tone-worse";
    case Tone::kPass:
      return "tone-pass";
    case Tone::kFail:
      return "tone-fail";
    case Tone::kError:
      return "tone-error";
    case Tone::kMuted:
      return "tone-muted";
  }
  return "";
}

// Shortest decimal that parses back to the same double, for data-sort.
std::string SortKey(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", v);
  return buffer;
}

void AppendTable(const Table& table, std::string* out) {
  *out += "<div class=\"table-wrap\"><table class=\"sortable\">";
  if (!table.caption.empty()) *out += "<caption>" + HtmlEscape(table.caption) + "</caption>";
  *out += "<thead><tr>";
  for (const std::string& column : table.columns) *out += "<th scope=\"col\">" + HtmlEscape(column) + "</th>";
  *out += "</tr></thead><tbody>";
  for (const std::vector<Cell>& row : table.rows) {
    *out += "<tr>";
    for (const Cell& cell : row) {
      std::string classes = ToneClass(cell.tone);
      if (cell.value) classes = classes.empty() ? "num" : "num " + classes;
      *out += "<td";
      if (!classes.empty()) *out += " class=\"" + classes + "\"";
      if (cell.value && std::isfinite(*cell.value)) *out += " data-sort=\"" + SortKey(*cell.value) + "\"";
      *out += ">" + HtmlEscape(cell.text) + "</td>";
    }
    *out += "</tr>";
  }
  *out += "</tbody></table></div>\n";
}

Status AppendBlock(const Block& block, std::string* out) {
  if (const auto* heading = std::get_if<Heading>(&block)) {
    *out += "<h3>" + HtmlEscape(heading->text) + "</h3>\n";
  } else if (const auto* paragraph = std::get_if<Paragraph>(&block)) {
    const char* tone = ToneClass(paragraph->tone);
    *out += std::string("<p") + (*tone ? std::string(" class=\"") + tone + "\"" : "") + ">" +
            HtmlEscape(paragraph->text) + "</p>\n";
  } else if (const auto* table = std::get_if<Table>(&block)) {
    AppendTable(*table, out);
  } else if (const auto* chart = std::get_if<BarChart>(&block)) {
    FP4LAB_ASSIGN_OR_RETURN(std::string svg, RenderBarChartSvg(*chart));
    *out += "<figure>" + svg + "</figure>\n";
  } else if (const auto* histogram = std::get_if<Histogram>(&block)) {
    FP4LAB_ASSIGN_OR_RETURN(std::string svg, RenderHistogramSvg(*histogram));
    *out += "<figure>" + svg + "</figure>\n";
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> RenderHtml(const ReportDocument& document) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"fp4lab report\">\n<title>" +
      HtmlEscape(document.title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<header>\n<h1>" +
      HtmlEscape(document.title) + "</h1>\n";
  for (const std::string& line : document.summary) out += "<p class=\"summary\">" + HtmlEscape(line) + "</p>\n";
  out += "<nav aria-label=\"Sections\"><ul>";
  for (const Section& section : document.sections) {
    out += "<li><a href=\"#" + HtmlEscape(section.id) + "\">" + HtmlEscape(section.title) + "</a></li>";
  }
  out += "</ul></nav>\n</header>\n<main>\n";
  for (const Section& section : document.sections) {
    out += "<section id=\"" + HtmlEscape(section.id) + "\">\n<h2>" + HtmlEscape(section.title) + "</h2>\n";
    for (const Block& block : section.blocks) {
      Status status = AppendBlock(block, &out);
      if (!status.ok()) return status.WithContext("section \"" + section.id + "\"");
    }
    out += "</section>\n";
  }
  out += "</main>\n<script>" + std::string(kSortScript) + "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace fp4lab
