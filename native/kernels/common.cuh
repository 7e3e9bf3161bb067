// Device helpers shared by every kernel file in native/kernels (docs/architecture.md, "Native boundary";
// contract: docs/kernel-interface.md). Kernel files hold kernels only, declared extern "C" so the
// driver finds them by name.
//
// Wrapper rule: kernels reach PTX-level features (mma, ldmatrix, cp.async, conversions, shuffles)
// only through the dfer:: functions below. Two reasons: NVRTC compiles these sources without include
// paths (so no cuda_fp16.h / cuda_bf16.h / std headers), and the CPU emulator (native/emu, g++
// -DDFER_EMULATE) swaps this one section for its own definitions so the same kernels run on the host.
#pragma once

namespace dfer {

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

// Storage-only 16-bit types: arithmetic happens in fp32 after to_float.
struct bf16 { u16 bits; };
struct f16 { u16 bits; };

}  // namespace dfer

#ifdef DFER_EMULATE
// Defines the wrapper functions below, DFER_DYNAMIC_SMEM and the CUDA built-ins; it sees the
// typedefs and the bf16/f16 structs above and must not redefine them.
#include "../emu/cuda_emu.h"
#else

// Dynamic shared memory of the block, 128-byte aligned (ldmatrix/cp.async need 16).
#define DFER_DYNAMIC_SMEM(name) \
  extern __shared__ __align__(128) unsigned char dfer_smem_[]; \
  unsigned char* name = dfer_smem_

namespace dfer {

__device__ __forceinline__ float to_float(float v) { return v; }
// bf16 is the high half of an fp32: widening is a shift, exact (cvt.f32.bf16 needs sm_90).
__device__ __forceinline__ float to_float(bf16 v) { return __uint_as_float(static_cast<u32>(v.bits) << 16); }
__device__ __forceinline__ float to_float(f16 v) {
  float r;
  asm("cvt.f32.f16 %0, %1;" : "=f"(r) : "h"(v.bits));
  return r;
}

template <class T> __device__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float v) {
  bf16 r;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r.bits) : "f"(v));
  return r;
}
template <> __device__ __forceinline__ f16 from_float<f16>(float v) {
  f16 r;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(v));
  return r;
}

// cvt.rn.{bf16,f16}x2.f32 d, a, b puts a in the upper half: pass hi first so lo lands in bits 0..15.
__device__ __forceinline__ u32 pack_bf16x2(float lo, float hi) {
  u32 r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}
__device__ __forceinline__ u32 pack_f16x2(float lo, float hi) {
  u32 r;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

__device__ __forceinline__ u32 to_tf32(float v) {
  u32 r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
  return r;
}

// mma has no side effects: plain asm lets the scheduler interleave it with the fragment loads.
__device__ __forceinline__ void mma_bf16_16816(float d[4], const u32 a[4], const u32 b[2]) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma_f16_16816(float d[4], const u32 a[4], const u32 b[2]) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma_tf32_1688(float d[4], const u32 a[4], const u32 b[2]) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Shared-memory reads and async copies are volatile with a memory clobber so the compiler never
// moves them across __syncthreads or the cp.async waits that make their data valid.
__device__ __forceinline__ void ldmatrix_x4(u32 r[4], const void* smem_row) {
  const u32 s = static_cast<u32>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s)
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x2(u32 r[2], const void* smem_row) {
  const u32 s = static_cast<u32>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(s)
               : "memory");
}

// src-size 0 zero-fills the 16 bytes without touching gmem: padding and out-of-range rows cost no reads.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const u32 s = static_cast<u32>(__cvta_generic_to_shared(smem));
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(gmem), "r"(n) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

__device__ __forceinline__ float shfl_xor(float v, int lane_mask) { return __shfl_xor_sync(0xffffffffu, v, lane_mask); }

// Global-memory synchronisation at gpu scope (sm_70+), for grid-wide barriers between co-resident
// blocks: the arrival is an acq_rel atomic, the wait an acquire load, so writes made before a
// block's arrival are visible to every block after its wait. Generic addresses of global memory.
__device__ __forceinline__ u32 atom_add_acq_rel_gpu(u32* p, u32 v) {
  u32 old;
  asm volatile("atom.add.acq_rel.gpu.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
  return old;
}
__device__ __forceinline__ u32 ld_acquire_gpu(const u32* p) {
  u32 v;
  asm volatile("ld.acquire.gpu.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void st_release_gpu(u32* p, u32 v) {
  asm volatile("st.release.gpu.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ void fence_acq_rel_gpu() { asm volatile("fence.acq_rel.gpu;" ::: "memory"); }

// *p += v in global memory, fp32, no result (red: relaxed, gpu scope; like atomicAdd, subnormals flush to
// zero). For accumulating into a buffer the kernel never reads back (conv3d's pooled epilogue): no
// "memory" clobber, so ordinary loads and stores may move across it. p is a generic address of global memory.
__device__ __forceinline__ void atomic_add_f32(float* p, float v) {
  asm volatile("{\n\t.reg .u64 ga;\n\tcvta.to.global.u64 ga, %0;\n\tred.global.add.f32 [ga], %1;\n\t}" ::"l"(p), "f"(v));
}

}  // namespace dfer

#endif  // DFER_EMULATE

// Launch bounds are a register-allocation hint only; the emulator has no use for them.
#ifndef DFER_LAUNCH_BOUNDS
#ifdef DFER_EMULATE
#define DFER_LAUNCH_BOUNDS(threads, blocks)
#else
#define DFER_LAUNCH_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
#endif
#endif

namespace dfer {

__host__ __device__ constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Sum across the 32 lanes of a warp; every lane gets the result.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += shfl_xor(v, o);
  return v;
}

// Maximum across the 32 lanes of a warp; every lane gets the result.
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, shfl_xor(v, o));
  return v;
}

// Reinterpret between float and its bits in plain C++ (no __uint_as_float) so the emulator compiles it as is.
__device__ __forceinline__ float bits_to_float(u32 u) {
  union { u32 u; float f; } c;
  c.u = u;
  return c.f;
}
__device__ __forceinline__ u32 float_to_bits(float f) {
  union { float f; u32 u; } c;
  c.f = f;
  return c.u;
}

// 16-byte vector load/store; the caller guarantees 16-byte alignment.
__device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ void store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }

}  // namespace dfer
