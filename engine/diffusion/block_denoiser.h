// BlockDenoiser: a block-diffusion language model (DiffusionGemma) as its sampler and its tasks see it.
//
// The model has two modes over one set of weights: a causal encoder that appends tokens to the committed context
// (it fills the KV cache, as an autoregressive prefill does), and a bidirectional decoder that denoises a canvas of
// canvas_length() token ids, attending to the committed context and to the whole canvas, without writing the cache.
// The sampler (engine/diffusion/) drives it: Commit(prompt), then DenoiseStep calls on a canvas until it is
// accepted, then Commit(canvas), and the next block. DenoiseStep keeps the logits where the model computes them and
// returns O(canvas) numbers; Denoise returns the whole [canvas, vocab] logits to the host (the `logits` command, the
// fidelity task, test fakes), and the default DenoiseStep is built on it.
//
// The engine implements it for a loaded diffusion_gemma checkpoint; tests implement it with fakes so the sampler and
// the tasks are tested without weights. Thread safety: none; one caller at a time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/diffusion/canvas_row.h"
#include "engine/status.h"

namespace fp4lab {

// One denoising step's settings (DenoiseStep).
struct DenoiseStepSettings {
  float temperature = 1.0f;          // T(s) of this step (block_diffusion_sampler.h); > 0
  std::span<const double> uniforms;  // [canvas_length()]: position p's sampling draw, in [0, 1)
  // Condition on the previous DenoiseStep's processed logits (false on a block's first step: no self-conditioning).
  bool self_condition = false;
  // Round those logits to bf16 before their softmax (transformers' cast; BlockDiffusionOptions).
  bool self_conditioning_in_bf16 = true;
};

class BlockDenoiser {
 public:
  virtual ~BlockDenoiser() = default;

  virtual int64_t vocab_size() const = 0;
  // Tokens per canvas (config.json `canvas_length`; 256 for the released DiffusionGemma).
  virtual int canvas_length() const = 0;
  // Most tokens the committed context plus one canvas may hold (max_position_embeddings).
  virtual int64_t max_context() const = 0;

  // Forgets the committed context (the next Commit starts a new sequence at position 0).
  virtual void Reset() = 0;
  // Tokens committed since the last Reset.
  virtual int64_t committed_tokens() const = 0;
  // Runs the causal encoder over `tokens` at positions committed_tokens() .. + tokens.size() - 1 and keeps their K/V
  // as context for later Denoise calls. InvalidArgument when an id is outside the vocabulary or the context would
  // exceed max_context() - canvas_length().
  virtual Status Commit(std::span<const int32_t> tokens) = 0;
  // One decoder pass over `canvas` (exactly canvas_length() ids, at positions committed_tokens() onward), reading
  // the committed context and leaving it unchanged. `self_conditioning` is the previous step's logits, row-major
  // [canvas_length(), vocab_size()] f32, or empty on a block's first step (no self-conditioning). Writes the logits
  // (after the final softcap, before any temperature), row-major [canvas_length(), vocab_size()] f32, into `logits`.
  // InvalidArgument for wrong sizes or ids outside the vocabulary.
  virtual Status Denoise(std::span<const int32_t> canvas, std::span<const float> self_conditioning,
                         std::span<float> logits) = 0;
  // One denoising step as the sampler takes it: the decoder pass over `canvas` (as Denoise), self-conditioned when
  // settings.self_condition on the processed logits the previous DenoiseStep kept (rounded to bf16 first when
  // settings.self_conditioning_in_bf16, then softmax: SelfConditioningSoftmaxRow); then per position p,
  // outcomes[p] = ProcessCanvasRow(row p, settings.temperature, settings.uniforms[p]), whose scaled rows are kept as
  // the next step's self-conditioning input. Only `outcomes` ([canvas_length()]) reaches the caller.
  // InvalidArgument for wrong sizes or a temperature <= 0; FailedPrecondition for self_condition when no previous
  // step's logits are kept (none ran yet; on a model, also after Reset or a Denoise call, which discard them).
  // The default runs Denoise into host buffers and ProcessCanvasRow on the host (every fake gets it); a model
  // overrides it to keep the logits on its device (Backend::ProcessCanvasRows, Backend::SelfConditioningSoftmax),
  // with the same results on the CPU backend.
  virtual Status DenoiseStep(std::span<const int32_t> canvas, const DenoiseStepSettings& settings,
                             std::span<CanvasRowOutcome> outcomes);

 private:
  // The default DenoiseStep's host buffers, [canvas_length(), vocab_size()] f32 each: this step's logits, and the
  // previous step's processed logits (empty until a step has run).
  std::vector<float> step_logits_, previous_logits_;
};

}  // namespace fp4lab
