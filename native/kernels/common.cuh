// Device helpers shared by every kernel file in native/kernels (design.md, "Native boundary").
// Kernel files hold kernels only, declared extern "C" so the driver finds them by name.
#pragma once
#include <cstdint>

namespace dfer {

__host__ __device__ constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Sum across the 32 lanes of a warp; every lane gets the result.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Maximum across the 32 lanes of a warp; every lane gets the result.
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// 16-byte vector load/store; the caller guarantees 16-byte alignment.
__device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ void store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }

}  // namespace dfer
