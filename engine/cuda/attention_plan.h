// How one Attention call of the CUDA backend is divided among kernels and blocks, decided on the host from shapes
// alone: positions and cache rows live on the device, so a recorded call replays at new positions under the same plan
// (and the scratch it carved at the first, unrecorded call still fits). CUDA-free header: the GPU tests check plans.
#pragma once

#include <cstdint>

namespace fp4lab::cuda {

inline constexpr int kMaxAttentionHeadDim = 1024;
// The tiled prefill kernel (attention_kernel.cu) takes calls of one sequence with at least this many query rows.
inline constexpr int kPrefillRows = 16;

// One Attention call (engine/backend.h): q [rows, heads * head_dim], caches [*, kv_heads * head_dim].
struct AttentionShape {
  int64_t rows = 0;  // query rows
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int64_t max_keys = 0;       // an upper bound on every query's key count positions[i] + 1 (the cache's row count)
  bool one_sequence = false;  // RowPlacement::one_sequence
};

// The split-K decode kernel (decode_attention_kernel.h). A block of kDecodeThreads threads works as
// kDecodeThreads / lanes "streams" of `lanes` threads. A stream reads one key (and value) row at a time, each lane
// `chunks` vectors of `vec` floats of it (vec 4: float4 loads, when head_dim % 4 == 0; else 1), keys
// DecodeBatchKeys at a time, so that one step of the block covers DecodeStepKeys consecutive keys.
inline constexpr int kDecodeThreads = 128;
inline constexpr int kMaxDecodeSplits = 64;      // key chunks per query at most (combine pass and scratch size)
inline constexpr int kDecodeBlocksPerSm = 4;     // blocks the split count aims for, per multiprocessor

struct DecodeTier {
  int vec = 1;
  int lanes = 32;
  int chunks = 1;
};
// Floats of a row one lane holds (registers per query head, for q and for the output).
constexpr int DecodeLaneFloats(const DecodeTier& t) { return t.vec * t.chunks; }
// Keys a stream loads per step: 16 floats of K and 16 of V per lane in flight, 1 to 4 keys.
constexpr int DecodeBatchKeys(const DecodeTier& t) {
  const int keys = 16 / DecodeLaneFloats(t);
  return keys < 1 ? 1 : (keys > 4 ? 4 : keys);
}
constexpr int DecodeStepKeys(const DecodeTier& t) { return kDecodeThreads / t.lanes * DecodeBatchKeys(t); }
// Query heads one block serves (q and output in registers: at most 32 floats per lane each); vec 1 serves one.
constexpr int DecodeMaxHeads(const DecodeTier& t) {
  const int heads = 32 / DecodeLaneFloats(t);
  return t.vec == 1 ? 1 : (heads > 8 ? 8 : heads);
}
// Keys per chunk of a query with n keys split `splits` ways: ceil(n / splits) rounded up to a multiple of
// step_keys. Chunks 0 .. ceil(n / chunk) - 1 hold keys (the last one possibly fewer), later chunks none. Evaluated
// on the device, where n is known.
constexpr int64_t DecodeChunkKeys(int64_t n, int splits, int step_keys) {
  const int64_t per_split = (n + splits - 1) / splits;
  return (per_split + step_keys - 1) / step_keys * step_keys;
}

struct AttentionPlan {
  bool prefill = false;  // the tiled prefill kernel; otherwise the split-K decode kernel with the fields below
  DecodeTier tier;
  int heads_per_block = 1;   // query heads of one kv head that one block serves (all of them when they fit)
  int head_blocks = 1;       // blocks per kv head: ceil(group / heads_per_block)
  int splits = 1;            // key chunks per (query, kv head); 1: the blocks write the output, no combine pass
  int64_t scratch_bytes = 0;  // device scratch when splits > 1: f32 partial outputs [rows, heads, splits, head_dim],
                              // then (max, sum) pairs [rows, heads, splits, 2]
};

// The plan on a device of `sm_count` multiprocessors. Prefill: one_sequence, rows >= kPrefillRows and head_dim 64
// or 128. Decode: splits = ceil(kDecodeBlocksPerSm * sm_count / (rows * kv_heads * head_blocks)), at most
// kMaxDecodeSplits and at most ceil(max_keys / step keys); blocks of chunks past a query's keys exit at once.
// REQUIRES heads % kv_heads == 0, 1 <= head_dim <= kMaxAttentionHeadDim, rows >= 1, max_keys >= 1.
AttentionPlan PlanAttention(const AttentionShape& shape, int sm_count);

}  // namespace fp4lab::cuda
