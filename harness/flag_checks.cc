#include "harness/flag_checks.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace fp4lab {

namespace {

// "1" for 1.0, "0.5" for 0.5: bounds as a person writes them.
std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// The check shared by both validators: "" when `text` is a number in [min, max], else the message.
std::string CheckNumber(const std::string& text, double min, double max) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || std::isnan(v)) return "expected a number, got '" + text + "'";
  if (v < min) return "must be >= " + Number(min) + ", got " + text;
  if (v > max) return "must be <= " + Number(max) + ", got " + text;
  return "";
}

}  // namespace

CLI::Validator AtLeast(double min) {
  return CLI::Validator([min](std::string& text) { return CheckNumber(text, min, HUGE_VAL); },
                        "NUMBER >= " + Number(min));
}

CLI::Validator InRange(double min, double max) {
  return CLI::Validator([min, max](std::string& text) { return CheckNumber(text, min, max); },
                        "NUMBER in [" + Number(min) + ", " + Number(max) + "]");
}

Status CheckOutputFile(const std::string& flag, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return Status::InvalidArgument(flag + " " + path + ": is a directory, expected a file path");
  }
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    return Status::InvalidArgument(flag + " " + path + ": folder '" + parent.string() + "' does not exist");
  }
  return Status::Ok();
}

}  // namespace fp4lab
