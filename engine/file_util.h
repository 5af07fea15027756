// Small file helpers shared by every layer: whole-file reads with clear errors, and atomic writes.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/status.h"

namespace fp4lab {

// NotFound if missing, IoError if unreadable.
Result<std::string> ReadFile(const std::string& path);
// Reads a gzip file (gzip -9 -n, as the bundled fixtures and data are stored) and returns its inflated bytes.
// NotFound if missing, InvalidArgument "<path>: not a valid gzip file" if it does not inflate.
Result<std::string> ReadGzipFile(const std::string& path);
// ReadFile + JSON parse; InvalidArgument "<path>: not valid JSON: ..." on a parse error.
Result<nlohmann::json> ReadJsonFile(const std::string& path);

// Writes through `write` into "<path>.tmp.<pid>" in the same directory, flushes, fsyncs and renames over `path`.
// If `write` fails or anything else goes wrong the temporary is removed and `path` is left as it was.
Status WriteFileAtomically(const std::string& path, const std::function<Status(std::ostream&)>& write);

}  // namespace fp4lab
