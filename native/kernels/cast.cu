// Precision casts at the host's dtype boundaries (contract: docs/kernel-interface.md).
//   cast_f32_bf16, cast_f32_f16 : round to nearest even.   cast_bf16_f32, cast_f16_f32 : exact widening.
// Launch table (grid = (min(ceil(n / tile_m), 1 << 20), 1, 1); a grid-stride loop covers the rest):
// launch cast_f32_bf16: block 256, tile_m 256, tile_n 1, smem 0
// launch cast_f32_f16: block 256, tile_m 256, tile_n 1, smem 0
// launch cast_bf16_f32: block 256, tile_m 256, tile_n 1, smem 0
// launch cast_f16_f32: block 256, tile_m 256, tile_n 1, smem 0
#include "common.cuh"

using namespace dfer;

// One thread per element, grid-stride (i64 count: tensors may pass 2^31 elements).
extern "C" __global__ void cast_f32_bf16(const float* __restrict__ x, bf16* __restrict__ y, i64 n) {
  const i64 stride = static_cast<i64>(blockDim.x) * gridDim.x;
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = from_float<bf16>(x[i]);
}

// One thread per element, grid-stride.
extern "C" __global__ void cast_f32_f16(const float* __restrict__ x, f16* __restrict__ y, i64 n) {
  const i64 stride = static_cast<i64>(blockDim.x) * gridDim.x;
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = from_float<f16>(x[i]);
}

// One thread per element, grid-stride.
extern "C" __global__ void cast_bf16_f32(const bf16* __restrict__ x, float* __restrict__ y, i64 n) {
  const i64 stride = static_cast<i64>(blockDim.x) * gridDim.x;
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = to_float(x[i]);
}

// One thread per element, grid-stride.
extern "C" __global__ void cast_f16_f32(const f16* __restrict__ x, float* __restrict__ y, i64 n) {
  const i64 stride = static_cast<i64>(blockDim.x) * gridDim.x;
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = to_float(x[i]);
}
