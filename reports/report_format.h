// Number formatting for reports: sensible precision and units, signed deltas, intervals and direction words.
// Pure functions; the output is plain text (renderers escape it).
#pragma once

#include <optional>
#include <string>

#include "reports/report_document.h"

namespace fp4lab {

// `digits` significant digits in fixed notation for 1e-3 <= |v| < 1e7 (e.g. 0.001234, 12.35, 1234568),
// scientific otherwise ("1.234e-05"); "0" for zero; "nan" / "inf" / "-inf" for non-finite values.
std::string FormatSignificant(double v, int digits = 4);

// Same with an explicit leading sign ("+0.0123", "-1.5", "0" for zero).
std::string FormatSignedSignificant(double v, int digits = 4);

// Short axis/bin labels: `digits` significant digits without trailing zeros ("0.001", "10", "2.5e-05").
std::string FormatCompact(double v, int digits = 3);

// A count: integral values without decimals ("400", "1200000"), others as FormatSignificant(v, 6).
std::string FormatCount(double v);

// Binary units: "512 B", "1.50 KiB", "3.25 MiB", "7.93 GiB" (3 significant digits above 1 KiB).
std::string FormatBytes(double bytes);

// True for metrics stored as a fraction in [0, 1] and shown as a percentage: "acc", "acc/<subject>",
// "acc_cat/<category>", "acc_macro", "pass@<k>", "same_top_p", when `unit` is empty.
bool IsProportionMetric(const std::string& metric, const std::string& unit);

// The value in percent for proportions (value * 100) and metrics stored in "%" (as is); nullopt otherwise.
std::optional<double> AsPercent(const std::string& metric, const std::string& unit, double value);

// A metric value with its unit: proportions as "61.25%", bytes via FormatBytes, ms / tok/s / others as
// FormatSignificant plus " <unit>".
std::string FormatMetricValue(const std::string& metric, const std::string& unit, double value);

// A standard error: "± 1.20%" for proportions, "± 0.050" (2 significant digits) plus unit otherwise.
std::string FormatStderr(const std::string& metric, const std::string& unit, double stderr_value);

// A signed difference in the metric's unit: proportions in percentage points ("-1.20 pp"), bytes
// ("+1.50 MiB"), otherwise FormatSignedSignificant plus unit.
std::string FormatDelta(const std::string& metric, const std::string& unit, double delta);

// "[-3.10, +0.40] pp": a 95% interval of a delta, formatted like FormatDelta.
std::string FormatDeltaInterval(const std::string& metric, const std::string& unit, double low, double high);

// Direction of a change, never colour alone: "▲ better", "▼ worse", "▲ higher" (neutral metric),
// "= no change"; with `within_noise` (interval contains 0) appends " (within noise)".
// higher_is: "better" | "worse" | "" (neutral).
std::string ChangeLabel(const std::string& higher_is, double delta, bool within_noise);
Tone ChangeTone(const std::string& higher_is, double delta, bool within_noise);

}  // namespace fp4lab
