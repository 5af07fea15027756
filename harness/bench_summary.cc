#include "harness/bench_summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "reports/report_format.h"

namespace fp4lab {

namespace {

constexpr char kTask[] = "latency";

std::string Fixed2(double v) {
  char text[64];
  std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

// "8.03 B", "1.24 B", "657.92 K" parameters.
std::string FormatParameters(int64_t n) {
  const double v = static_cast<double>(n);
  if (v >= 1e9) return Fixed2(v / 1e9) + " B";
  if (v >= 1e6) return Fixed2(v / 1e6) + " M";
  return Fixed2(v / 1e3) + " K";
}

std::optional<double> Opt(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<double>();
}

std::string OptionalCell(const std::optional<double>& v, const std::function<std::string(double)>& format) {
  return v ? format(*v) : "—";
}

std::string Ms(double v) { return FormatSignificant(v, 4); }
std::string Bytes(double v) { return FormatBytes(v); }

// "itl_ms_p50@b8" -> {"itl_ms_p50", 8}; a name without an "@b<B>" suffix is batch 1 ("ttft_ms", "itl_ms_p50").
std::pair<std::string, int64_t> SplitBatch(const std::string& metric) {
  const size_t at = metric.rfind("@b");
  if (at == std::string::npos || at + 2 == metric.size() || metric.size() - at > 14) return {metric, 1};
  int64_t batch = 0;
  for (size_t i = at + 2; i < metric.size(); ++i) {
    if (metric[i] < '0' || metric[i] > '9') return {metric, 1};
    batch = batch * 10 + (metric[i] - '0');
  }
  return {metric.substr(0, at), batch};
}

// The path the run's own scheme took on the device, from the engine provenance's linear_paths.
std::string PathOf(const nlohmann::json& engine, const std::string& precision) {
  const nlohmann::json paths = engine.value("linear_paths", nlohmann::json::object());
  if (paths.contains(precision) && paths[precision].is_string()) return paths[precision].get<std::string>();
  return "—";
}

// The block-diffusion table: one row per precision that has one (empty when none has).
std::string RenderDiffusionTable(const std::vector<BenchPrecision>& precisions) {
  std::ostringstream out;
  bool header = false;
  auto steps = [](double v) { return FormatSignificant(v, 4); };
  for (const BenchPrecision& p : precisions) {
    if (!p.diffusion) continue;
    const BenchDiffusion& d = *p.diffusion;
    if (!header) {
      out << "\n| precision | canvas | canvases | steps/canvas | at max steps | step p50 ms | step p90 ms | "
          << "prompt commit ms | canvas commit ms | TTFC ms | tokens/forward |\n"
          << "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
      header = true;
    }
    out << "| " << p.precision << " | " << d.canvas_length << " | " << d.canvases << " | "
        << OptionalCell(d.steps_per_canvas, steps)
        << (d.max_denoising_steps ? " of " + std::to_string(*d.max_denoising_steps) : "") << " | "
        << OptionalCell(d.canvases_at_max_steps, steps) << " | " << OptionalCell(d.step_p50_ms, Ms) << " | "
        << OptionalCell(d.step_p90_ms, Ms) << " | " << OptionalCell(d.prompt_commit_ms, Ms) << " | "
        << OptionalCell(d.canvas_commit_ms, Ms) << " | " << OptionalCell(d.ttfc_ms, Ms) << " | "
        << OptionalCell(d.tokens_per_forward, steps) << " |\n";
  }
  return out.str();
}

// What the block-diffusion figures are (empty when no precision has them).
std::string DiffusionNote(const std::vector<BenchPrecision>& precisions) {
  const auto first = std::find_if(precisions.begin(), precisions.end(),
                                  [](const BenchPrecision& p) { return p.diffusion.has_value(); });
  if (first == precisions.end()) return "";
  const BenchDiffusion& d = *first->diffusion;
  bool all_at_max = true;
  for (const BenchPrecision& p : precisions) {
    if (p.diffusion && p.diffusion->canvases_at_max_steps.value_or(0.0) < static_cast<double>(p.diffusion->canvases)) {
      all_at_max = false;
    }
  }
  std::ostringstream out;
  out << "dg" << d.max_new_tokens << ": block-diffusion generation (the sampler with the checkpoint's "
      << "generation_config.json, transformers' defaults without one) after a " << d.prompt_tokens
      << "-token prompt, batch 1, up to " << d.max_new_tokens << " new tokens in whole canvases of " << d.canvas_length
      << "; t/s = generated tokens / generation time, with every denoising step, the sampler's host work and each "
         "encoder commit on the clock (--prompt-lengths and --batches do not apply). steps/canvas: decoder forwards "
         "actually taken per canvas"
      << (d.max_denoising_steps ? ", at most max_denoising_steps = " + std::to_string(*d.max_denoising_steps) : "")
      << "; at max steps: canvases per generation that did not converge and ran them all"
      << (all_at_max ? " (here every canvas: random weights do not converge, so t/s is the worst case of the sampler)"
                     : "")
      << ". step: one decoder pass with its per-position sampling; commit: the encoder over the prompt or a canvas.\n";
  return out.str();
}

}  // namespace

Result<BenchSummary> LoadBenchSummary(ResultStore& store, int64_t run_id) {
  FP4LAB_ASSIGN_OR_RETURN(const RunRecord run, store.GetRun(run_id));
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<MetricRecord> all_metrics, store.ListMetrics(run_id));
  BenchSummary summary;
  summary.run_id = run_id;
  summary.db = store.path();
  summary.device = run.device;
  summary.device_name = run.device_name;
  const nlohmann::json engines = run.provenance.value("engines", nlohmann::json::object());
  std::vector<std::string> order = run.provenance.value("plan", nlohmann::json::object())
                                       .value("precisions", std::vector<std::string>{});
  std::map<std::string, std::vector<const MetricRecord*>> metrics;
  for (const MetricRecord& m : all_metrics) {
    if (m.task != kTask) continue;
    metrics[m.precision].push_back(&m);
    if (std::find(order.begin(), order.end(), m.precision) == order.end()) order.push_back(m.precision);
  }
  if (metrics.empty()) {
    return Status::NotFound(store.path() + ": run " + std::to_string(run_id) + " has no latency results");
  }
  summary.model = run.model_path;
  for (const auto& [precision, engine] : engines.items()) {
    const nlohmann::json synthetic = engine.value("synthetic", nlohmann::json());
    if (synthetic.is_object() && synthetic.contains("origin")) summary.model = synthetic["origin"].get<std::string>();
    summary.parameters = engine.value("parameters", int64_t{0});
    break;
  }

  for (const std::string& precision : order) {
    if (!metrics.count(precision)) continue;
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<SampleRecord> samples, store.ListSamples(run_id, kTask, precision));
    BenchPrecision p;
    p.precision = precision;
    p.path = PathOf(engines.value(precision, nlohmann::json::object()), precision);
    int64_t decode_tokens = 0;
    nlohmann::json memory = nlohmann::json::object();
    nlohmann::json diffusion_rep;  // the first measured block-diffusion repetition
    for (const SampleRecord& s : samples) {
      if (s.sample_id == "memory" || s.sample_id == "diffusion_memory") memory = s.data;
      if (s.sample_id.rfind("diffusion@p", 0) == 0 && diffusion_rep.is_null()) diffusion_rep = s.data;
      if (s.sample_id.rfind("decode@b", 0) == 0 && s.outcome == "measured") {
        decode_tokens = s.data.value("decode_tokens", int64_t{0});
      }
    }
    const nlohmann::json kv_by_batch = memory.value("kv_cache_bytes_by_batch", nlohmann::json::object());
    std::map<int64_t, BenchBatch> batches;
    std::map<int64_t, BenchRow> decode_rows;
    // The init-capture: clang before 16 cannot capture a structured binding (the sanitizer builds use clang 14).
    auto row_of = [&, &precision = precision](const MetricRecord& m, const std::string& test, int64_t batch) {
      BenchRow row{precision, test, batch, m.value, std::nullopt, m.n};
      if (m.stderr_value) row.stddev = *m.stderr_value * std::sqrt(static_cast<double>(m.n));
      return row;
    };
    if (diffusion_rep.is_object()) {
      BenchDiffusion d;
      d.prompt_tokens = diffusion_rep.value("prompt_tokens", int64_t{0});
      d.max_new_tokens = diffusion_rep.value("max_new_tokens", int64_t{0});
      d.canvas_length = diffusion_rep.value("canvas_length", int64_t{0});
      d.canvases = static_cast<int64_t>(diffusion_rep.value("steps_per_canvas", nlohmann::json::array()).size());
      if (diffusion_rep.contains("max_denoising_steps")) {
        d.max_denoising_steps = diffusion_rep.value("max_denoising_steps", int64_t{0});
      }
      p.diffusion = d;
    }
    for (const MetricRecord* m : metrics[precision]) {
      if (p.diffusion) {
        BenchDiffusion& d = *p.diffusion;
        if (m->metric == "diffusion_tok_s") {
          summary.rows.push_back(row_of(*m, "dg" + std::to_string(d.max_new_tokens), 1));
        }
        const std::map<std::string, std::optional<double>*> figures = {
            {"steps_per_canvas", &d.steps_per_canvas},   {"canvases_at_max_steps", &d.canvases_at_max_steps},
            {"step_ms_p50", &d.step_p50_ms},             {"step_ms_p90", &d.step_p90_ms},
            {"prompt_commit_ms", &d.prompt_commit_ms},   {"canvas_commit_ms", &d.canvas_commit_ms},
            {"ttfc_ms", &d.ttfc_ms},                     {"tokens_per_forward", &d.tokens_per_forward}};
        if (const auto it = figures.find(m->metric); it != figures.end()) {
          *it->second = m->value;
          continue;
        }
      }
      if (m->metric.rfind("prefill_tok_s@", 0) == 0) {
        summary.rows.push_back(row_of(*m, "pp" + m->metric.substr(14), 0));
        continue;
      }
      if (m->metric == "weight_bytes") p.weight_bytes = m->value;
      if (m->metric == "predicted_weight_bytes") p.predicted_weight_bytes = m->value;
      if (m->metric == "peak_device_bytes") p.peak_bytes = m->value;
      const auto [name, batch] = SplitBatch(m->metric);
      std::optional<double>* slot = nullptr;
      if (name == "ttft_ms") slot = &batches[batch].ttft_ms;
      if (name == "itl_ms_p50") slot = &batches[batch].itl_p50_ms;
      if (name == "itl_ms_p90") slot = &batches[batch].itl_p90_ms;
      if (name == "itl_ms_p99") slot = &batches[batch].itl_p99_ms;
      if (slot != nullptr) *slot = m->value;
      if (name == "decode_tok_s") {
        const std::string tg = "tg" + std::to_string(decode_tokens);
        decode_rows[batch] = row_of(*m, batch == 1 ? tg : tg + " b" + std::to_string(batch), batch);
      }
    }
    for (const auto& [batch, row] : decode_rows) summary.rows.push_back(row);
    for (auto& [batch, b] : batches) {
      b.batch = batch;
      b.kv_cache_bytes = Opt(kv_by_batch, std::to_string(batch).c_str());
      p.batches.push_back(b);
    }
    p.workspace_bytes = Opt(memory, "workspace_bytes");
    p.workspace_tokens = memory.value("workspace_tokens", int64_t{0});
    p.kv_cache_positions = memory.value("kv_cache_positions", int64_t{0});
    p.peak_source = memory.value("peak_source", std::string());
    p.weight_bytes_by_kind = memory.value("weight_bytes_by_kind", nlohmann::json::object());
    summary.precisions.push_back(std::move(p));
  }
  return summary;
}

std::string RenderBenchSummary(const BenchSummary& s) {
  std::map<std::string, std::string> paths;
  for (const BenchPrecision& p : s.precisions) paths[p.precision] = p.path;
  std::ostringstream out;
  out << "| model | params | precision | path | device | test | t/s |\n"
      << "| :--- | ---: | :--- | :--- | :--- | ---: | ---: |\n";
  for (const BenchRow& row : s.rows) {
    out << "| " << s.model << " | " << FormatParameters(s.parameters) << " | " << row.precision << " | "
        << paths[row.precision] << " | " << s.device << " | " << row.test << " | " << Fixed2(row.tok_s)
        << (row.stddev ? " ± " + Fixed2(*row.stddev) : "") << " |\n";
  }
  const bool causal = std::any_of(s.precisions.begin(), s.precisions.end(),
                                  [](const BenchPrecision& p) { return !p.batches.empty(); });
  if (causal) {
    out << "\n| precision | batch | TTFT ms | ITL p50 ms | ITL p90 ms | ITL p99 ms | KV cache |\n"
        << "| :--- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  }
  for (const BenchPrecision& p : s.precisions) {
    for (const BenchBatch& b : p.batches) {
      out << "| " << p.precision << " | " << b.batch << " | " << OptionalCell(b.ttft_ms, Ms) << " | "
          << OptionalCell(b.itl_p50_ms, Ms) << " | " << OptionalCell(b.itl_p90_ms, Ms) << " | "
          << OptionalCell(b.itl_p99_ms, Ms) << " | " << OptionalCell(b.kv_cache_bytes, Bytes) << " |\n";
    }
  }
  out << RenderDiffusionTable(s.precisions);
  out << "\n| precision | weights | predicted | workspace | peak |\n"
      << "| :--- | ---: | ---: | ---: | ---: |\n";
  std::set<std::string> peak_sources;
  int64_t kv_positions = 0, workspace_tokens = 0;
  for (const BenchPrecision& p : s.precisions) {
    out << "| " << p.precision << " | " << OptionalCell(p.weight_bytes, Bytes) << " | "
        << OptionalCell(p.predicted_weight_bytes, Bytes) << " | " << OptionalCell(p.workspace_bytes, Bytes) << " | "
        << OptionalCell(p.peak_bytes, Bytes) << " |\n";
    if (!p.peak_source.empty()) peak_sources.insert(p.peak_source);
    kv_positions = std::max(kv_positions, p.kv_cache_positions);
    workspace_tokens = std::max(workspace_tokens, p.workspace_tokens);
  }
  out << "\n" << s.device << " (" << s.device_name << "). t/s: mean ± stddev over the repetitions after warm-up";
  if (causal) {
    out << "; tokenization and sampling excluded (Model::Forward / Model::DecodeStep and the logits download are "
        << "timed). tg<N> b<B>: B sequences decoded together, t/s = B * N / decode time; ITL = one step of all B.\n"
        << "KV cache: f32, B sequences of " << kv_positions << " positions (decode prompt + decode tokens); "
        << "workspace: activation buffers and logits of a " << workspace_tokens << "-token pass (analytic)";
  }
  out << "; weights: Model::WeightDeviceBytes; predicted: engine/memory_model.h.\n";
  out << DiffusionNote(s.precisions);
  for (const std::string& source : peak_sources) out << "peak: " << source << "\n";
  return out.str();
}

nlohmann::json BenchSummaryJson(const BenchSummary& s) {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  nlohmann::json rows = nlohmann::json::array();
  for (const BenchRow& r : s.rows) {
    nlohmann::json row = {{"precision", r.precision}, {"test", r.test}, {"tok_s", r.tok_s},
                          {"stddev", opt(r.stddev)}, {"repetitions", r.repetitions}};
    if (r.batch > 0) row["batch"] = r.batch;
    rows.push_back(row);
  }
  nlohmann::json precisions = nlohmann::json::array();
  for (const BenchPrecision& p : s.precisions) {
    nlohmann::json batches = nlohmann::json::array();
    for (const BenchBatch& b : p.batches) {
      batches.push_back({{"batch", b.batch},
                         {"ttft_ms", opt(b.ttft_ms)},
                         {"itl_ms_p50", opt(b.itl_p50_ms)},
                         {"itl_ms_p90", opt(b.itl_p90_ms)},
                         {"itl_ms_p99", opt(b.itl_p99_ms)},
                         {"kv_cache_bytes", opt(b.kv_cache_bytes)}});
    }
    nlohmann::json diffusion;
    if (p.diffusion) {
      const BenchDiffusion& d = *p.diffusion;
      diffusion = {{"prompt_tokens", d.prompt_tokens},
                   {"max_new_tokens", d.max_new_tokens},
                   {"canvas_length", d.canvas_length},
                   {"canvases", d.canvases},
                   {"max_denoising_steps",
                    d.max_denoising_steps ? nlohmann::json(*d.max_denoising_steps) : nlohmann::json()},
                   {"steps_per_canvas", opt(d.steps_per_canvas)},
                   {"canvases_at_max_steps", opt(d.canvases_at_max_steps)},
                   {"step_ms_p50", opt(d.step_p50_ms)},
                   {"step_ms_p90", opt(d.step_p90_ms)},
                   {"prompt_commit_ms", opt(d.prompt_commit_ms)},
                   {"canvas_commit_ms", opt(d.canvas_commit_ms)},
                   {"ttfc_ms", opt(d.ttfc_ms)},
                   {"tokens_per_forward", opt(d.tokens_per_forward)}};
    }
    precisions.push_back({{"precision", p.precision},
                          {"diffusion", diffusion},
                          {"path", p.path},
                          {"batches", batches},
                          {"weight_bytes", opt(p.weight_bytes)},
                          {"predicted_weight_bytes", opt(p.predicted_weight_bytes)},
                          {"weight_bytes_by_kind", p.weight_bytes_by_kind},
                          {"kv_cache_positions", p.kv_cache_positions},
                          {"workspace_bytes", opt(p.workspace_bytes)},
                          {"workspace_tokens", p.workspace_tokens},
                          {"peak_device_bytes", opt(p.peak_bytes)},
                          {"peak_source", p.peak_source}});
  }
  return {{"run_id", s.run_id}, {"db", s.db},     {"model", s.model},         {"parameters", s.parameters},
          {"device", s.device}, {"device_name", s.device_name}, {"rows", rows}, {"precisions", precisions}};
}

}  // namespace fp4lab
