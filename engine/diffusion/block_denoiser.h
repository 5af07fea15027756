// BlockDenoiser: a block-diffusion language model (DiffusionGemma) as its sampler and its tasks see it.
//
// The model has two modes over one set of weights: a causal encoder that appends tokens to the committed context
// (it fills the KV cache, as an autoregressive prefill does), and a bidirectional decoder that denoises a canvas of
// canvas_length() token ids, attending to the committed context and to the whole canvas, without writing the cache.
// The sampler (engine/diffusion/) drives it: Commit(prompt), then Denoise steps on a canvas until it is accepted,
// then Commit(canvas), and the next block.
//
// The engine implements it for a loaded diffusion_gemma checkpoint; tests implement it with fakes so the sampler and
// the tasks are tested without weights. Thread safety: none; one caller at a time.
#pragma once

#include <cstdint>
#include <span>

#include "engine/status.h"

namespace fp4lab {

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
};

}  // namespace fp4lab
