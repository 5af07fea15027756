// mbarrier and bulk-copy (cp.async.bulk, the copy engine behind TMA) primitives in PTX, for kernels that stage
// global memory in shared memory without spending registers or per-thread load instructions (the W4A16 GEMV's
// kernel T). sm_90+ only: below it every primitive traps, so a kernel that uses them must only be launched on compute
// capability 9.0+. Device code; include from .cu files only.
#pragma once

#include <cstdint>

namespace fp4lab::cuda {

__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// mbarrier and bulk-copy primitives (PTX, sm_90+; kernel T is only launched on compute capability 9.0+).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ void BarrierInit(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(SharedAddress(bar)), "r"(count) : "memory");
}
// Makes the initializations visible to the copy engine (and, with a __syncthreads after it, to the block).
__device__ __forceinline__ void BarrierInitFence() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}
__device__ __forceinline__ void BarrierArrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.release.cta.shared::cta.b64 _, [%0];" ::"r"(SharedAddress(bar)) : "memory");
}
// The calling thread's arrival, announcing `bytes` that copies will complete on the barrier.
__device__ __forceinline__ void BarrierArriveExpectBytes(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.release.cta.shared::cta.b64 _, [%0], %1;" ::"r"(SharedAddress(bar)),
               "r"(bytes)
               : "memory");
}
// Returns once the phase of parity `parity` has completed (acquire: its writes, copies included, are visible).
__device__ __forceinline__ void BarrierWait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.acquire.cta.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n"
      "}" ::"r"(SharedAddress(bar)),
      "r"(parity)
      : "memory");
}
// Copies `bytes` (a multiple of 16; both addresses 16-byte aligned) from global to shared memory on the copy engine;
// completion counts `bytes` on `bar`.
__device__ __forceinline__ void BulkLoad(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   SharedAddress(dst)),
               "l"(src), "r"(bytes), "r"(SharedAddress(bar))
               : "memory");
}
#else
__device__ __forceinline__ void BarrierInit(uint64_t*, uint32_t) { __trap(); }
__device__ __forceinline__ void BarrierInitFence() { __trap(); }
__device__ __forceinline__ void BarrierArrive(uint64_t*) { __trap(); }
__device__ __forceinline__ void BarrierArriveExpectBytes(uint64_t*, uint32_t) { __trap(); }
__device__ __forceinline__ void BarrierWait(uint64_t*, uint32_t) { __trap(); }
__device__ __forceinline__ void BulkLoad(void*, const void*, uint32_t, uint64_t*) { __trap(); }
#endif

}  // namespace fp4lab::cuda
