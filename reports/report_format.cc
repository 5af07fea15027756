#include "reports/report_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace fp4lab {
namespace {

std::string Printf(const char* format, double v, int precision) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, precision, v);
  return buffer;
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::string_view(s).substr(0, prefix.size()) == prefix;
}

std::string WithUnit(std::string number, const std::string& unit) {
  if (unit.empty()) return number;
  return unit == "%" ? number + unit : number + " " + unit;
}

}  // namespace

std::string FormatSignificant(double v, int digits) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0.0) return "0";
  const double magnitude = std::fabs(v);
  if (magnitude < 1e-3 || magnitude >= 1e7) return Printf("%.*e", v, digits - 1);
  const int exponent = static_cast<int>(std::floor(std::log10(magnitude)));
  const int decimals = std::max(0, digits - 1 - exponent);
  return Printf("%.*f", v, decimals);
}

std::string FormatSignedSignificant(double v, int digits) {
  if (v == 0.0) return "0";
  std::string text = FormatSignificant(v, digits);
  return (v > 0 && text[0] != '+') ? "+" + text : text;
}

std::string FormatCompact(double v, int digits) { return Printf("%.*g", v, digits); }

std::string FormatCount(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) return Printf("%.*f", v, 0);
  return FormatSignificant(v, 6);
}

std::string FormatBytes(double bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (!std::isfinite(bytes)) return FormatSignificant(bytes) + " B";
  double magnitude = std::fabs(bytes);
  int unit = 0;
  while (magnitude >= 1024.0 && unit < 5) {
    magnitude /= 1024.0;
    ++unit;
  }
  const double scaled = bytes < 0 ? -magnitude : magnitude;
  if (unit == 0) return Printf("%.*f", scaled, 0) + " B";
  return FormatSignificant(scaled, 3) + " " + kUnits[unit];
}

bool IsProportionMetric(const std::string& metric, const std::string& unit) {
  if (!unit.empty()) return false;
  return metric == "acc" || metric == "acc_macro" || metric == "same_top_p" || StartsWith(metric, "acc/") ||
         StartsWith(metric, "acc_cat/") || StartsWith(metric, "pass@");
}

std::optional<double> AsPercent(const std::string& metric, const std::string& unit, double value) {
  if (IsProportionMetric(metric, unit)) return 100.0 * value;
  if (unit == "%") return value;
  return std::nullopt;
}

std::string FormatMetricValue(const std::string& metric, const std::string& unit, double value) {
  if (IsProportionMetric(metric, unit)) return Printf("%.*f", 100.0 * value, 2) + "%";
  if (unit == "bytes") return FormatBytes(value);
  return WithUnit(FormatSignificant(value), unit);
}

std::string FormatStderr(const std::string& metric, const std::string& unit, double stderr_value) {
  const double se = std::fabs(stderr_value);
  if (IsProportionMetric(metric, unit) || unit == "bytes") return "± " + FormatMetricValue(metric, unit, se);
  return "± " + WithUnit(FormatSignificant(se, 2), unit);
}

std::string FormatDelta(const std::string& metric, const std::string& unit, double delta) {
  if (IsProportionMetric(metric, unit)) {
    const std::string points = Printf("%.*f", 100.0 * delta, 2);
    return (delta > 0 ? "+" : "") + points + " pp";
  }
  if (unit == "bytes") return (delta > 0 ? "+" : "") + FormatBytes(delta);
  return WithUnit(FormatSignedSignificant(delta), unit);
}

std::string FormatDeltaInterval(const std::string& metric, const std::string& unit, double low, double high) {
  if (IsProportionMetric(metric, unit)) {
    auto points = [](double v) { return (v > 0 ? "+" : "") + Printf("%.*f", 100.0 * v, 2); };
    return "[" + points(low) + ", " + points(high) + "] pp";
  }
  if (unit == "bytes") return "[" + FormatDelta(metric, unit, low) + ", " + FormatDelta(metric, unit, high) + "]";
  return WithUnit("[" + FormatSignedSignificant(low) + ", " + FormatSignedSignificant(high) + "]", unit);
}

std::string ChangeLabel(const std::string& higher_is, double delta, bool within_noise) {
  if (delta == 0.0) return "= no change";
  std::string label = delta > 0 ? "▲ " : "▼ ";
  if (higher_is == "better") {
    label += delta > 0 ? "better" : "worse";
  } else if (higher_is == "worse") {
    label += delta > 0 ? "worse" : "better";
  } else {
    label += delta > 0 ? "higher" : "lower";
  }
  if (within_noise) label += " (within noise)";
  return label;
}

Tone ChangeTone(const std::string& higher_is, double delta, bool within_noise) {
  if (delta == 0.0 || within_noise || higher_is.empty()) return Tone::kNeutral;
  const bool better = (higher_is == "better") == (delta > 0);
  return better ? Tone::kBetter : Tone::kWorse;
}

}  // namespace fp4lab
