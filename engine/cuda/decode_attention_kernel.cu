#include "engine/cuda/decode_attention_kernel.h"

#include <cstdint>

#include "engine/cuda/attention_scores.cuh"
#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/launch.h"

namespace fp4lab::cuda {
namespace {

constexpr unsigned kFullMask = 0xFFFFFFFFu;
constexpr int kCombineThreads = 128;

// The kVec floats a lane handles at once (one float4 load, or one float).
template <int kVec>
struct VecOps;

template <>
struct VecOps<4> {
  using T = float4;
  __device__ __forceinline__ static T Zero() { return make_float4(0.0f, 0.0f, 0.0f, 0.0f); }
  __device__ __forceinline__ static T Load(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }
  __device__ __forceinline__ static void Store(float* p, T v) { *reinterpret_cast<float4*>(p) = v; }
  __device__ __forceinline__ static float Dot(T a, T b, float acc) {
    acc = fmaf(a.x, b.x, acc);
    acc = fmaf(a.y, b.y, acc);
    acc = fmaf(a.z, b.z, acc);
    return fmaf(a.w, b.w, acc);
  }
  __device__ __forceinline__ static T Scale(T a, float c) { return make_float4(a.x * c, a.y * c, a.z * c, a.w * c); }
  __device__ __forceinline__ static T Axpy(float p, T v, T o) {  // o + p v, fused
    return make_float4(fmaf(p, v.x, o.x), fmaf(p, v.y, o.y), fmaf(p, v.z, o.z), fmaf(p, v.w, o.w));
  }
};

template <>
struct VecOps<1> {
  using T = float;
  __device__ __forceinline__ static T Zero() { return 0.0f; }
  __device__ __forceinline__ static T Load(const float* p) { return __ldg(p); }
  __device__ __forceinline__ static void Store(float* p, T v) { *p = v; }
  __device__ __forceinline__ static float Dot(T a, T b, float acc) { return fmaf(a, b, acc); }
  __device__ __forceinline__ static T Scale(T a, float c) { return a * c; }
  __device__ __forceinline__ static T Axpy(float p, T v, T o) { return fmaf(p, v, o); }
};

// Block (i, split, kv_head * head_blocks + head block): query i's keys in chunk `split` for query heads
// first_head .. first_head + n_heads - 1 (decode_attention_kernel.h). Stream `stream` (threads stream * kLanes ..)
// takes keys step + stream * kBatch .. + kBatch - 1 of every block step; lane `lane` holds vectors
// lane + kLanes * j (j < kChunks) of each row: q and the running output per head in registers. Scratch layout:
// attention_plan.h (AttentionPlan::scratch_bytes).
template <int kVec, int kLanes, int kChunks, int kHeads>
__global__ void __launch_bounds__(kDecodeThreads) DecodeAttentionKernel(
    const float* __restrict__ q, const float* __restrict__ k_cache, const float* __restrict__ v_cache,
    const int32_t* __restrict__ positions, const int32_t* __restrict__ cache_rows, int heads, int kv_heads,
    int head_dim, int heads_per_block, int head_blocks, int splits, ScoreRule rule, float* __restrict__ partial_o,
    float* __restrict__ partial_ml, float* __restrict__ out) {
  LetDependentGridsLaunch();  // the o_proj GEMV may start loading its weights (PDL, kernel_util.cuh)
  using V = VecOps<kVec>;
  using T = typename V::T;
  constexpr DecodeTier kTier{kVec, kLanes, kChunks};
  constexpr int kStreams = kDecodeThreads / kLanes;
  constexpr int kBatch = DecodeBatchKeys(kTier);
  constexpr int kStep = DecodeStepKeys(kTier);
  constexpr int kRowFloats = kLanes * kChunks * kVec;  // >= head_dim (attention_plan.cc picks the tier)
  __shared__ float max_s[kStreams][kHeads], sum_s[kStreams][kHeads], weight_s[kStreams][kHeads], total_s[kHeads];
  __shared__ __align__(16) float out_s[kStreams][kHeads][kRowFloats];  // at most 4096 floats (16 KiB)

  const int64_t i = blockIdx.x;
  const int split = static_cast<int>(blockIdx.y);
  const int group = heads / kv_heads;
  const int kv_head = static_cast<int>(blockIdx.z) / head_blocks;
  const int first_head = kv_head * group + static_cast<int>(blockIdx.z) % head_blocks * heads_per_block;
  const int group_left = (kv_head + 1) * group - first_head;
  const int n_heads = heads_per_block < group_left ? heads_per_block : group_left;  // >= 1 (attention_plan.cc)
  const int64_t behind = AttendedKeys(rule, positions[i]);  // its sequence up to itself (or its window)
  const int64_t n = behind + KeysAhead(rule, positions[i]);   // and, non-causal, the pass's later rows
  const int64_t chunk = DecodeChunkKeys(n, splits, kStep);
  const int64_t begin = split * chunk;
  if (begin >= n) return;  // a chunk past the query's keys (block-uniform, before any barrier): nothing to merge
  const int64_t end = begin + chunk < n ? begin + chunk : n;

  const int stream = static_cast<int>(threadIdx.x) / kLanes, lane = static_cast<int>(threadIdx.x) % kLanes;
  const int row_vectors = head_dim / kVec;
  const int64_t q_dim = static_cast<int64_t>(heads) * head_dim, kv_dim = static_cast<int64_t>(kv_heads) * head_dim;
  const int64_t first = static_cast<int64_t>(cache_rows[i]) - (behind - 1);  // the first cache row it attends to
  const float* k_rows = k_cache + first * kv_dim + static_cast<int64_t>(kv_head) * head_dim;
  const float* v_rows = v_cache + first * kv_dim + static_cast<int64_t>(kv_head) * head_dim;

  T q_r[kHeads][kChunks], o_r[kHeads][kChunks];
  float max_r[kHeads], sum_r[kHeads];  // the same in every lane of a stream
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
#pragma unroll
    for (int j = 0; j < kChunks; ++j) {
      const int e = lane + kLanes * j;
      q_r[h][j] = h < n_heads && e < row_vectors
                      ? V::Load(q + i * q_dim + static_cast<int64_t>(first_head + h) * head_dim + e * kVec)
                      : V::Zero();
      o_r[h][j] = V::Zero();
    }
    max_r[h] = -INFINITY;
    sum_r[h] = 0.0f;
  }

  for (int64_t step = begin; step < end; step += kStep) {  // the same trip count in every thread
    const int64_t key0 = step + static_cast<int64_t>(stream) * kBatch;
    // Every load of the step first: 2 kBatch kChunks vectors in flight per lane.
    T k_r[kBatch][kChunks], v_r[kBatch][kChunks];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
#pragma unroll
      for (int j = 0; j < kChunks; ++j) {
        const int e = lane + kLanes * j;
        const bool load = key0 + b < end && e < row_vectors;
        k_r[b][j] = load ? V::Load(k_rows + (key0 + b) * kv_dim + e * kVec) : V::Zero();
        v_r[b][j] = load ? V::Load(v_rows + (key0 + b) * kv_dim + e * kVec) : V::Zero();
      }
    }
    float score[kBatch][kHeads];
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      if (h >= n_heads) break;  // block-uniform: the shuffles below stay convergent
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < kChunks; ++j) dot = V::Dot(q_r[h][j], k_r[b][j], dot);
#pragma unroll
        for (int offset = kLanes / 2; offset > 0; offset >>= 1) dot += __shfl_xor_sync(kFullMask, dot, offset);
        score[b][h] = key0 + b < end ? AttentionScore(rule, dot) : -INFINITY;
      }
    }
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      if (h >= n_heads) break;
      float batch_max = -INFINITY;
#pragma unroll
      for (int b = 0; b < kBatch; ++b) batch_max = fmaxf(batch_max, score[b][h]);
      const float new_max = fmaxf(max_r[h], batch_max);
      if (new_max == -INFINITY) continue;  // no key of this stream yet: nothing to add (stream-uniform)
      const float correction = expf(max_r[h] - new_max);  // 0 at the stream's first keys; exactly 1 if the max stands
      sum_r[h] *= correction;
#pragma unroll
      for (int j = 0; j < kChunks; ++j) o_r[h][j] = V::Scale(o_r[h][j], correction);
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const float p = expf(score[b][h] - new_max);  // 0 for a key past the chunk (score -inf)
        sum_r[h] += p;
#pragma unroll
        for (int j = 0; j < kChunks; ++j) o_r[h][j] = V::Axpy(p, v_r[b][j], o_r[h][j]);
      }
      max_r[h] = new_max;
    }
  }

  // Merge the streams: each publishes its (max, sum, output) per head; a stream without keys has (-inf, 0, 0).
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    if (h >= n_heads) break;
    if (lane == 0) {
      max_s[stream][h] = max_r[h];
      sum_s[stream][h] = sum_r[h];
    }
#pragma unroll
    for (int j = 0; j < kChunks; ++j) {
      const int e = lane + kLanes * j;
      if (e < row_vectors) V::Store(&out_s[stream][h][e * kVec], o_r[h][j]);
    }
  }
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < n_heads) {
    const int h = static_cast<int>(threadIdx.x);
    float block_max = -INFINITY;
    for (int s = 0; s < kStreams; ++s) block_max = fmaxf(block_max, max_s[s][h]);  // finite: stream 0 has key `begin`
    float total = 0.0f;
    for (int s = 0; s < kStreams; ++s) {
      const float w = expf(max_s[s][h] - block_max);  // 0 for a stream without keys
      weight_s[s][h] = w;
      total = fmaf(w, sum_s[s][h], total);
    }
    total_s[h] = total;
    if (splits > 1) {
      float* ml = partial_ml + ((i * heads + first_head + h) * splits + split) * 2;
      ml[0] = block_max;
      ml[1] = total;
    }
  }
  __syncthreads();
  for (int e = static_cast<int>(threadIdx.x); e < n_heads * head_dim; e += kDecodeThreads) {
    const int h = e / head_dim, d = e % head_dim;
    float acc = 0.0f;
    for (int s = 0; s < kStreams; ++s) acc = fmaf(weight_s[s][h], out_s[s][h][d], acc);
    const int64_t head = first_head + h;
    if (splits == 1) {
      out[i * q_dim + head * head_dim + d] = acc / total_s[h];
    } else {
      partial_o[((i * heads + head) * splits + split) * head_dim + d] = acc;
    }
  }
}

// Block (i, h): merges the non-empty chunks of query i, head h (the chunks DecodeAttentionKernel wrote) into
// out[i, h * head_dim ..] with the log-sum-exp rescaling. Launched with programmatic dependent launch right after
// the decode kernel (kernel_util.cuh): it waits for that kernel before touching memory, and reads the partials
// with ordinary loads (no const __restrict__, which the wait does not order).
__global__ void __launch_bounds__(kCombineThreads) CombineSplitsKernel(const float* partial_o, const float* partial_ml,
                                                                       const int32_t* positions, ScoreRule rule,
                                                                       int heads, int head_dim, int splits,
                                                                       int step_keys, float* out) {
  __shared__ float weight_s[kMaxDecodeSplits];
  __shared__ float total_s;
  LetDependentGridsLaunch();  // the o_proj GEMV may start loading its weights (PDL, kernel_util.cuh)
  WaitForPriorGrids();
  const int64_t i = blockIdx.x;
  const int h = static_cast<int>(blockIdx.y);
  const int64_t n = AttendedKeys(rule, positions[i]) + KeysAhead(rule, positions[i]);
  const int64_t chunk = DecodeChunkKeys(n, splits, step_keys);
  const int used = static_cast<int>((n + chunk - 1) / chunk);  // 1 .. splits
  const int64_t first = (i * heads + h) * splits;              // partial (i, h, 0)
  const float* ml = partial_ml + first * 2;
  if (threadIdx.x < 32) {  // warp 0: the chunks' weights exp(m_s - M) and the total sum
    const int lane = static_cast<int>(threadIdx.x);
    float chunk_max = -INFINITY;
    for (int s = lane; s < used; s += 32) chunk_max = fmaxf(chunk_max, ml[2 * s]);
    chunk_max = WarpMax(chunk_max);
    float total = 0.0f;
    for (int s = lane; s < used; s += 32) {
      const float w = expf(ml[2 * s] - chunk_max);
      weight_s[s] = w;
      total = fmaf(w, ml[2 * s + 1], total);
    }
    total = WarpSum(total);
    if (lane == 0) total_s = total;
  }
  __syncthreads();
  const float* o = partial_o + first * head_dim;
  for (int d = static_cast<int>(threadIdx.x); d < head_dim; d += kCombineThreads) {
    float acc = 0.0f;
    for (int s = 0; s < used; ++s) acc = fmaf(weight_s[s], o[static_cast<int64_t>(s) * head_dim + d], acc);
    out[(i * heads + h) * head_dim + d] = acc / total_s;
  }
}

// One launch's arguments, for the instance chosen below.
struct DecodeArgs {
  const AttentionShape* shape;
  const AttentionPlan* plan;
  const float *q, *k_cache, *v_cache;
  const int32_t *positions, *cache_rows;
  ScoreRule rule;
  float *partial_o, *partial_ml, *out;
  cudaStream_t stream;
};

template <int kVec, int kLanes, int kChunks, int kHeads>
cudaError_t LaunchInstance(const DecodeArgs& a) {
  const AttentionShape& s = *a.shape;
  const AttentionPlan& p = *a.plan;
  const dim3 grid(static_cast<unsigned>(s.rows), static_cast<unsigned>(p.splits),
                  static_cast<unsigned>(s.kv_heads * p.head_blocks));
  DecodeAttentionKernel<kVec, kLanes, kChunks, kHeads><<<grid, kDecodeThreads, 0, a.stream>>>(
      a.q, a.k_cache, a.v_cache, a.positions, a.cache_rows, s.heads, s.kv_heads, s.head_dim, p.heads_per_block,
      p.head_blocks, p.splits, a.rule, a.partial_o, a.partial_ml, a.out);
  return cudaGetLastError();
}

// The instance of a tier for plan.heads_per_block heads: the smallest power of two that holds them.
template <int kVec, int kLanes, int kChunks>
cudaError_t LaunchTier(const DecodeArgs& a) {
  constexpr int kMaxHeads = DecodeMaxHeads(DecodeTier{kVec, kLanes, kChunks});
  const int heads = a.plan->heads_per_block;
  if (heads <= 1) return LaunchInstance<kVec, kLanes, kChunks, 1>(a);
  if constexpr (kMaxHeads >= 2) {
    if (heads <= 2) return LaunchInstance<kVec, kLanes, kChunks, 2>(a);
  }
  if constexpr (kMaxHeads >= 4) {
    if (heads <= 4) return LaunchInstance<kVec, kLanes, kChunks, 4>(a);
  }
  if constexpr (kMaxHeads >= 8) {
    if (heads <= 8) return LaunchInstance<kVec, kLanes, kChunks, 8>(a);
  }
  return cudaErrorInvalidValue;  // more heads than the tier serves: not a plan of PlanAttention
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

cudaError_t LaunchDecodeAttention(const AttentionShape& shape, const AttentionPlan& plan, const float* q,
                                  const float* k_cache, const float* v_cache, const int32_t* positions,
                                  const int32_t* cache_rows, ScoreRule rule, void* scratch, float* out,
                                  cudaStream_t stream) {
  const DecodeTier& t = plan.tier;
  if (t.vec == 4 && !(Aligned16(q) && Aligned16(k_cache) && Aligned16(v_cache) && Aligned16(out))) {
    return cudaErrorInvalidValue;
  }
  float* partial_o = plan.splits > 1 ? static_cast<float*>(scratch) : nullptr;
  float* partial_ml =
      plan.splits > 1 ? partial_o + shape.rows * shape.heads * plan.splits * int64_t{shape.head_dim} : nullptr;
  const DecodeArgs a{&shape, &plan, q, k_cache, v_cache, positions, cache_rows, rule, partial_o, partial_ml, out,
                     stream};
  cudaError_t error = cudaErrorInvalidValue;  // a tier attention_plan.cc never picks
  if (t.vec == 4 && t.lanes == 8 && t.chunks == 1) error = LaunchTier<4, 8, 1>(a);
  if (t.vec == 4 && t.lanes == 16 && t.chunks == 1) error = LaunchTier<4, 16, 1>(a);
  if (t.vec == 4 && t.lanes == 16 && t.chunks == 2) error = LaunchTier<4, 16, 2>(a);
  if (t.vec == 4 && t.lanes == 32 && t.chunks == 2) error = LaunchTier<4, 32, 2>(a);
  if (t.vec == 4 && t.lanes == 32 && t.chunks == 4) error = LaunchTier<4, 32, 4>(a);
  if (t.vec == 4 && t.lanes == 32 && t.chunks == 8) error = LaunchTier<4, 32, 8>(a);
  if (t.vec == 1 && t.lanes == 32 && t.chunks == 1) error = LaunchTier<1, 32, 1>(a);
  if (t.vec == 1 && t.lanes == 32 && t.chunks == 8) error = LaunchTier<1, 32, 8>(a);
  if (t.vec == 1 && t.lanes == 32 && t.chunks == 32) error = LaunchTier<1, 32, 32>(a);
  if (error != cudaSuccess || plan.splits == 1) return error;
  const dim3 grid(static_cast<unsigned>(shape.rows), static_cast<unsigned>(shape.heads));
  return LaunchKernel(CombineSplitsKernel, grid, dim3(kCombineThreads), 0, stream, /*programmatic=*/true, partial_o,
                      partial_ml, positions, rule, shape.heads, shape.head_dim, plan.splits, DecodeStepKeys(t), out);
}

}  // namespace fp4lab::cuda
