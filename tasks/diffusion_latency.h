// The latency task on a block-diffusion model (LanguageModel::AsBlockDenoiser() not null): LatencyTask::Run hands
// such a model to RunDiffusionLatency, and LatencyTask::Aggregate hands the samples it stores to
// AggregateDiffusionLatency.
//
// What is timed (host steady_clock): one whole generation, batch 1, by TaskRun::diffusion_sampler on a timing
// wrapper of the model's denoiser: the prompt's Commit, every denoising step (DenoiseStep, which returns the
// per-position outcomes to the host, so the clock covers the device work), the sampler's acceptance and renoising,
// and each canvas's Commit. Each Commit and each step is also timed on its own; with an Engine (TaskRun::engine) a Commit is followed by
// Backend::Synchronize so that its time covers the encoder's device work. The sampler runs with the settings the
// runner gives it: the checkpoint's generation_config.json, or transformers' defaults when there is none (synthetic
// weights: max_denoising_steps 48); random weights rarely converge, so their canvases run max_denoising_steps
// (canvases_at_max_steps says how many did). The prompt is
// P = min(decode_prompt, max_context - canvas_length - 1) seeded uniform ids (DenoiserCanvas(P, vocab, seed)), the
// generation at most N = min(decode_tokens, max_context - canvas_length - P) new tokens with seed `seed` (so every
// Commit leaves room for a canvas, as BlockDenoiser::Commit requires). `warmup` untimed runs,
// then `repetitions` timed ones. The wrapper counts the Commit and step calls and checks them against the
// DiffusionStats the sampler reports (Internal error on a mismatch). The sampler emits whole canvases, so a
// generation may hold up to canvas_length - 1 tokens more than N (engine/diffusion/block_diffusion_sampler.h).
//
// Samples:
//   "diffusion@p<P>/rep<r>"  score = tokens_generated / seconds; data {prompt_tokens, max_new_tokens, seconds,
//                            tokens_generated (the tokens the sampler returned), canvas_length,
//                            steps_per_canvas: [...], converged_canvases, canvases_at_max_steps (canvases that did not
//                            converge: they ran max_denoising_steps), decoder_forwards, encoder_commits,
//                            tokens_per_forward (the sampler's, transformers' convention: non-pad canvas tokens per
//                            decoder forward), ttfc_ms, commit_ms: [per Commit, the prompt's first], commit_tokens:
//                            [...], step_ms: [per denoising step], and with an Engine max_denoising_steps}
//     ttfc_ms (time to first canvas): from the start until the end of the last step before the first canvas is
//     committed (the first Commit after a step), or of the last step when no canvas is committed.
//   "diffusion_memory"       {self_conditioning_bytes = 2 x canvas_length x vocab x 4 (the step's logits, kept
//                            processed for the next step, and the self-conditioning probabilities, f32), canvas_length,
//                            vocab; with an Engine: weight_bytes (Model::WeightDeviceBytes), kv_cache_bytes and
//                            kv_cache_positions (the committed context of P + N positions)}
// Metrics (mean over repetitions, stderr = stddev / sqrt(n)):
//   diffusion_tok_s        generated tokens per second, every denoising step on the clock   ("tok/s", better)
//   diffusion_canvas_tok_s decoder_forwards x canvas_length per second (canvas positions denoised)
//                                                                                             ("tok/s", better)
//   ttfc_ms                                                                                   ("ms", worse)
//   steps_per_canvas       mean over every canvas of every repetition (n = canvases)           ("steps", "")
//   tokens_per_forward     the sampler's (transformers' convention), mean over repetitions     ("tokens", better)
//   canvases_at_max_steps  per generation, mean over repetitions                              ("canvases", "")
//   step_ms_p50, step_ms_p90  one denoising step, over every step of every repetition
//                          (results/stats.h Percentile)                                       ("ms", worse)
//   prompt_commit_ms       the prompt's Commit, mean over repetitions                         ("ms", worse)
//   canvas_commit_ms       a canvas's Commit, mean over every one (absent with one canvas)     ("ms", worse)
//   (the last four are absent when the samples predate their fields)
//   self_conditioning_bytes, weight_bytes, kv_cache_bytes (when stored)                        ("bytes", worse)
#pragma once

#include <string>
#include <vector>

#include "tasks/latency.h"
#include "tasks/task.h"

namespace fp4lab {

// FailedPrecondition without run.diffusion_sampler or when a prompt and a canvas leave no room for new tokens;
// sampler, denoiser and emit errors.
Status RunDiffusionLatency(TaskRun& run, BlockDenoiser& denoiser, const LatencyOptions& options);

// True for the sample ids RunDiffusionLatency stores.
bool IsDiffusionLatencySample(const std::string& sample_id);

// The metrics above from those samples (empty when there are none). InvalidArgument naming the sample and field
// for an unknown id or a missing/mistyped field.
Result<std::vector<MetricRecord>> AggregateDiffusionLatency(const std::vector<const SampleRecord*>& samples);

}  // namespace fp4lab
