// How big a batched pass may be: the memory budget of batched scoring (Engine::ScoreBatch, LogitsBatch) and batched
// generation (Engine::GenerateBatch), and what a pass costs against it.
//
// Budget: EngineOptions::batch_memory_bytes when set, else half of the memory free on the device when the batch
// starts (engine/device_memory.h AvailableMemory: cudaMemGetInfo on CUDA, host MemAvailable on the CPU backend).
// The other half is headroom for what the cost below does not count: backend scratch (the cuBLASLt workspace,
// attention and expert scratch), the CUDA graph pool, the host's own allocations.
// Cost, from the model's blueprint (engine/arch/architecture.h), in the f32 buffers the engine allocates:
//   activations  4 * rows * ActivationFloatsPerRow()   (the model's buffers at their largest per row, the logits
//                                                        row of the pass included)
//   KV cache     KvCacheBytes(sequences * capacity)      (per layer 2 * kv_width f32 values per position; a cache
//                                                        gives every sequence the same capacity, so a pass of
//                                                        sequences of unequal length pays for the longest)
//   host logits  4 * rows * vocab when the logits come to the host (LogitsBatch, a decode step's sampling rows)
// Passes are never smaller than one sequence: a single sequence that exceeds the budget still runs alone (and fails
// with the backend's out-of-memory error if it truly does not fit).
#pragma once

#include <cstdint>

#include "engine/arch/architecture.h"
#include "engine/backend.h"
#include "engine/status.h"

namespace fp4lab {

// The budget above. `override_bytes` > 0 wins; else half of AvailableMemory(backend, weight_bytes). When the backend
// reports no memory figure (Unimplemented), no budget applies: returns INT64_MAX. IoError from the host figure.
Result<int64_t> BatchMemoryBudget(const Backend& backend, int64_t weight_bytes, int64_t override_bytes);

// Bytes of one scoring pass of `sequences` sequences, `rows` tokens in all, the longest `longest` tokens; with
// `host_logits`, the pass's logits are also copied to the host.
int64_t ScorePassBytes(const ModelBlueprint& blueprint, int64_t rows, int64_t sequences, int64_t longest,
                       bool host_logits);

// Most requests one batched generation can decode at once: the largest S with
//   4 * longest_prompt * ActivationFloatsPerRow()                          (one prompt's prefill at a time)
//   + S * (KvCacheBytes(capacity) + 4 * ActivationFloatsPerRow() + 4 * vocab)   (each slot: its cache, its decode
//                                                                               row, its logits row on the host)
// <= budget, clamped to [1, min(requests, kMaxGenerationSlots)].
int GenerationSlots(const ModelBlueprint& blueprint, int64_t budget, int64_t capacity, int64_t longest_prompt,
                    int64_t requests);
// Decode steps sample on the host, so each step downloads slots x vocab f32 logits (128 MiB at 256 slots and
// Llama 3's vocab): more slots than this would make the transfer, not the model, the cost of a step.
inline constexpr int kMaxGenerationSlots = 256;

}  // namespace fp4lab
