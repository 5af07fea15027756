// LatencyTask::Aggregate: metrics from the stored samples (sample layout and metric list: tasks/latency.h).
#include <map>
#include <optional>

#include "results/stats.h"
#include "tasks/latency_metrics.h"
#include "tasks/diffusion_latency.h"
#include "tasks/latency.h"

namespace fp4lab {

namespace {

Status BadSample(const SampleRecord& s, const std::string& what) {
  return Status::InvalidArgument("latency: sample '" + s.sample_id + "': " + what);
}

Result<double> Number(const SampleRecord& s, const char* key) {
  if (!s.data.is_object() || !s.data.contains(key) || !s.data[key].is_number()) {
    return BadSample(s, std::string("data field '") + key + "' must be a number");
  }
  return s.data[key].get<double>();
}

// "prefill@128/rep3" -> ("prefill@128", 3); nullopt when the id has no "/rep<r>" suffix.
std::optional<std::string> RepShape(const std::string& id) {
  const size_t slash = id.rfind("/rep");
  if (slash == std::string::npos || slash + 4 >= id.size()) return std::nullopt;
  for (size_t i = slash + 4; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return std::nullopt;
  }
  return id.substr(0, slash);
}

// "<prefix><digits>" -> the number (a prefill length or a decode batch); nullopt otherwise.
std::optional<int64_t> ShapeNumber(const std::string& shape, const std::string& prefix) {
  if (shape.rfind(prefix, 0) != 0 || shape.size() == prefix.size() || shape.size() - prefix.size() > 12) {
    return std::nullopt;
  }
  int64_t number = 0;
  for (size_t i = prefix.size(); i < shape.size(); ++i) {
    if (shape[i] < '0' || shape[i] > '9') return std::nullopt;
    number = number * 10 + (shape[i] - '0');
  }
  return number;
}

// The repetitions of one decode batch.
struct DecodeSamples {
  std::vector<double> tok_s, ttft_ms, itl_ms;  // tok_s and ttft_ms per repetition; itl_ms pools every step
};

MetricRecord Bytes(const std::string& name, double value, const char* higher_is) {
  return LatencyMetric(name, value, 1, "bytes", higher_is);
}

}  // namespace

Result<std::vector<MetricRecord>> LatencyTask::Aggregate(const std::vector<SampleRecord>& samples) const {
  std::map<int64_t, std::vector<double>> prefill_tok_s;  // by length, ascending
  std::map<int64_t, DecodeSamples> decode;               // by batch, ascending
  const SampleRecord* memory = nullptr;
  std::vector<const SampleRecord*> diffusion;  // a block-diffusion model's samples (tasks/diffusion_latency.h)
  for (const SampleRecord& s : samples) {
    if (IsDiffusionLatencySample(s.sample_id)) {
      diffusion.push_back(&s);
      continue;
    }
    if (s.sample_id == "memory") {
      memory = &s;
      continue;
    }
    // Version 1 stored each batch above 1 as one "decode@b<B>" row without figures.
    if (s.outcome == "not_measured" && s.sample_id.rfind("decode@b", 0) == 0) continue;
    const std::optional<std::string> shape = RepShape(s.sample_id);
    if (!shape) return BadSample(s, "unknown sample id (expected prefill@<L>/rep<r>, decode@b<B>/rep<r> or memory)");
    if (const std::optional<int64_t> length = ShapeNumber(*shape, "prefill@")) {
      FP4LAB_ASSIGN_OR_RETURN(const double tokens, Number(s, "tokens"));
      FP4LAB_ASSIGN_OR_RETURN(const double seconds, Number(s, "seconds"));
      if (!(seconds > 0.0)) return BadSample(s, "seconds must be positive");
      prefill_tok_s[*length].push_back(tokens / seconds);
    } else if (const std::optional<int64_t> batch = ShapeNumber(*shape, "decode@b"); batch && *batch >= 1) {
      FP4LAB_ASSIGN_OR_RETURN(const double tokens, Number(s, "decode_tokens"));
      FP4LAB_ASSIGN_OR_RETURN(const double ttft, Number(s, "ttft_ms"));
      if (!s.data.contains("itl_ms") || !s.data["itl_ms"].is_array() || s.data["itl_ms"].empty()) {
        return BadSample(s, "data field 'itl_ms' must be a non-empty array of numbers");
      }
      DecodeSamples& d = decode[*batch];
      double total_ms = 0.0;
      for (const auto& v : s.data["itl_ms"]) {
        if (!v.is_number()) return BadSample(s, "data field 'itl_ms' must hold numbers only");
        d.itl_ms.push_back(v.get<double>());
        total_ms += v.get<double>();
      }
      if (!(total_ms > 0.0)) return BadSample(s, "itl_ms must sum to a positive time");
      d.tok_s.push_back(1e3 * static_cast<double>(*batch) * tokens / total_ms);
      d.ttft_ms.push_back(ttft);
    } else {
      return BadSample(s, "unknown shape '" + *shape + "'");
    }
  }

  FP4LAB_ASSIGN_OR_RETURN(std::vector<MetricRecord> metrics, AggregateDiffusionLatency(diffusion));
  for (const auto& [length, values] : prefill_tok_s) {
    FP4LAB_ASSIGN_OR_RETURN(MetricRecord m,
                            LatencyMeanMetric("prefill_tok_s@" + std::to_string(length), values, "tok/s", "better"));
    metrics.push_back(std::move(m));
  }
  for (const auto& [batch, d] : decode) {
    const std::string at = "@b" + std::to_string(batch);
    const std::string suffix = batch == 1 ? "" : at;  // batch 1 keeps the version 1 names
    FP4LAB_ASSIGN_OR_RETURN(MetricRecord tok_s, LatencyMeanMetric("decode_tok_s" + at, d.tok_s, "tok/s", "better"));
    metrics.push_back(std::move(tok_s));
    FP4LAB_ASSIGN_OR_RETURN(MetricRecord ttft, LatencyMeanMetric("ttft_ms" + suffix, d.ttft_ms, "ms", "worse"));
    metrics.push_back(std::move(ttft));
    for (const auto& [name, q] : {std::pair<const char*, double>{"itl_ms_p50", 50.0}, {"itl_ms_p90", 90.0},
                                  {"itl_ms_p99", 99.0}}) {
      FP4LAB_ASSIGN_OR_RETURN(const double value, Percentile(d.itl_ms, q));
      metrics.push_back(LatencyMetric(name + suffix, value, static_cast<int64_t>(d.itl_ms.size()), "ms", "worse"));
    }
  }
  if (memory != nullptr) {
    FP4LAB_ASSIGN_OR_RETURN(const double weight, Number(*memory, "weight_bytes"));
    FP4LAB_ASSIGN_OR_RETURN(const double predicted, Number(*memory, "predicted_weight_bytes"));
    FP4LAB_ASSIGN_OR_RETURN(const double kv, Number(*memory, "kv_cache_bytes"));
    metrics.push_back(Bytes("weight_bytes", weight, "worse"));
    metrics.push_back(Bytes("predicted_weight_bytes", predicted, ""));
    metrics.push_back(Bytes("kv_cache_bytes", kv, "worse"));
    if (memory->data.contains("peak_device_bytes")) {
      FP4LAB_ASSIGN_OR_RETURN(const double peak, Number(*memory, "peak_device_bytes"));
      metrics.push_back(Bytes("peak_device_bytes", peak, "worse"));
    }
  }
  return metrics;
}

}  // namespace fp4lab
