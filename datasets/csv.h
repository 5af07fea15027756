// RFC 4180 CSV parsing: quoted fields may hold commas, doubled quotes ("") and line breaks; records end with
// CRLF, LF or a lone CR. No header handling: every record is returned.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

struct CsvRecord {
  std::vector<std::string> fields;  // unquoted, "" collapsed to "; line breaks inside quotes kept verbatim
  int line = 0;                     // 1-based physical line on which the record starts
};

// Parses `text` (a leading UTF-8 byte order mark is skipped). Empty physical lines between records are skipped,
// as Python's csv module and pandas do. `file_name` only labels errors:
//   "<file>:<line>: unterminated quoted field (the quote opens on line L)"
//   "<file>:<line>: expected ',' or end of line after closing quote, got 'x'"
//   "<file>:<line>: '\"' inside an unquoted field (quote the whole field)"
Result<std::vector<CsvRecord>> ParseCsv(std::string_view text, std::string_view file_name);

}  // namespace fp4lab
