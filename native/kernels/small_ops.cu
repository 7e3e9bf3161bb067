// The small fp32 ops of M3DFEL's forward pass, so that a whole pass on the cuda backend is native:
//   permute_f32       : PermuteOp (src/Dfer.Engine/Ops/Permute/Permute.cs): view the input, permute its axes,
//                       view the result as the output (a dense copy in permuted order). One thread per output
//                       element (grid-stride): the output index is split over the output extents d0..d5 and
//                       dotted with the input strides s0..s5 of those axes. Writes are coalesced, reads gather.
//                       The host drops unit axes and merges output axes that stay adjacent in the input
//                       (M3DFEL's clip [B,4,4,3,112,112] -> [B,4,4,112,112,3] becomes [B*16, 12544, 3]),
//                       then pads on the left with extent 1 / stride 0 up to 6 axes.
//   softmax_rows_f32  : SoftmaxOp, over the last axis (rows of n): one warp per row (grid-stride over rows),
//                       lanes stride over the row; max (warp_max), then e = exp(x - max) stored in y and
//                       summed (warp_sum), then y = e / sum. In place (y == x) is allowed.
//   avgpool3d_f32     : AvgPool3dOp, [N, T, H, W, C] channels-last -> [N, C], the mean over P = T*H*W positions.
//                       Block = one sample x 32 channels (a warp reads 32 consecutive channels: coalesced);
//                       its 8 warps split the positions (warp g sums positions g, g+8, ...), then the 8
//                       partial sums meet in shared memory in a fixed order (deterministic). Grid-stride over
//                       the (sample, channel tile) pairs.
// All exact fp32 (fp32 accumulation, accurate expf, IEEE division).
// Launch table; grid = (min(ceil(work / tile_m), 1 << 20), 1, 1) with work = output elements (permute), rows
// (softmax; tile_m rows per block, one per warp), N * ceil(C / tile_n) (avgpool; tile_n channels per block,
// tile_m position groups = warps); every kernel loops grid-stride over the rest.
// launch permute_f32: block 256, tile_m 256, tile_n 1, smem 0
// launch softmax_rows_f32: block 256, tile_m 8, tile_n 1, smem 0
// launch avgpool3d_f32: block 256, tile_m 8, tile_n 32, smem 0
// Limits (the hosts check them): permute: view rank <= 6, fewer than 2^31 elements (32-bit index split);
// softmax: n >= 1 and below 2^31 (the rows' count and offsets are 64-bit); avgpool: T*H*W below 2^31.
#include "common.cuh"

using namespace dfer;

// Layout mirrored by the C# host (PermuteCudaParams, StructLayout.Sequential, 96 bytes).
struct PermuteParams {
  const float* x;               // input, dense
  float* y;                     // output, dense, total elements in permuted order
  i64 total;                    // elements, below 2^31
  i64 s0, s1, s2, s3, s4, s5;   // input stride (elements) of output axis 0..5 (0 for padding axes)
  int d0, d1, d2, d3, d4, d5;   // output extents, axis 5 fastest (1 for padding axes); product = total
};

// Layout mirrored by the C# host (SoftmaxCudaParams, 32 bytes).
struct SoftmaxParams {
  const float* x;   // [rows, n]
  float* y;         // [rows, n]; may equal x
  i64 rows;
  int n;            // >= 1
  int unused;       // keeps the size a multiple of 8 explicitly
};

// Layout mirrored by the C# host (AvgPool3dCudaParams, 40 bytes).
struct AvgPool3dParams {
  const float* x;   // [n, positions, c]
  float* y;         // [n, c]
  i64 tiles;        // n * ceil(c / 32): (sample, channel tile) pairs
  int n, positions, c, ctiles;  // positions = T*H*W; ctiles = ceil(c / 32)
};

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kSoftmaxRowsPerBlock = kWarps;  // tile_m of softmax_rows_f32
constexpr int kPoolChannels = 32;             // tile_n of avgpool3d_f32: one channel per lane
constexpr int kPoolGroups = kWarps;           // tile_m of avgpool3d_f32: position groups, one per warp

// One axis of the output index split: r -> r / d, adding (r % d) * s to the offset. Skipped for unit axes.
__device__ __forceinline__ void split_axis(u32& r, i64& off, int d, i64 s) {
  if (d == 1) return;
  const u32 q = r / static_cast<u32>(d);
  off += static_cast<i64>(r - q * static_cast<u32>(d)) * s;
  r = q;
}

}  // namespace

// ---- kernels ----

// One thread per output element, grid-stride.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 4) permute_f32(PermuteParams p) {
  const i64 stride = static_cast<i64>(blockDim.x) * gridDim.x;
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.total; i += stride) {
    u32 r = static_cast<u32>(i);
    i64 off = 0;
    split_axis(r, off, p.d5, p.s5);
    split_axis(r, off, p.d4, p.s4);
    split_axis(r, off, p.d3, p.s3);
    split_axis(r, off, p.d2, p.s2);
    split_axis(r, off, p.d1, p.s1);
    off += static_cast<i64>(r) * p.s0;  // r < d0 now
    p.y[i] = p.x[off];
  }
}

// One warp per row (warp-uniform loop: every lane takes part in the shuffles), lanes stride over the row.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 4) softmax_rows_f32(SoftmaxParams p) {
  const int lane = threadIdx.x & 31;
  const i64 warps = static_cast<i64>(gridDim.x) * kSoftmaxRowsPerBlock;
  const float neg_inf = bits_to_float(0xff800000u);
  for (i64 row = static_cast<i64>(blockIdx.x) * kSoftmaxRowsPerBlock + (threadIdx.x >> 5); row < p.rows; row += warps) {
    const float* xr = p.x + row * p.n;
    float* yr = p.y + row * p.n;
    float mx = neg_inf;
    for (int j = lane; j < p.n; j += 32) mx = fmaxf(mx, xr[j]);
    mx = warp_max(mx);
    float sum = 0.f;
    for (int j = lane; j < p.n; j += 32) {
      const float e = expf(xr[j] - mx);
      yr[j] = e;  // each lane rereads only its own elements below: no barrier needed, in place works
      sum += e;
    }
    sum = warp_sum(sum);
    for (int j = lane; j < p.n; j += 32) yr[j] = yr[j] / sum;
  }
}

// Block = (sample, 32-channel tile), grid-stride over those pairs; lane = channel, warp = position group.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 4) avgpool3d_f32(AvgPool3dParams p) {
  __shared__ float s_part[kPoolGroups][kPoolChannels];
  const int lane = threadIdx.x & 31, g = threadIdx.x >> 5;
  for (i64 tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int b = static_cast<int>(tile / p.ctiles);
    const int c = static_cast<int>(tile % p.ctiles) * kPoolChannels + lane;
    float sum = 0.f;
    if (c < p.c) {
      const float* xp = p.x + static_cast<i64>(b) * p.positions * p.c + c;
#pragma unroll 4
      for (int q = g; q < p.positions; q += kPoolGroups) sum += xp[static_cast<i64>(q) * p.c];
    }
    s_part[g][lane] = sum;
    __syncthreads();
    if (g == 0 && c < p.c) {
      float s = 0.f;
#pragma unroll
      for (int w = 0; w < kPoolGroups; w++) s += s_part[w][lane];
      p.y[static_cast<i64>(b) * p.c + c] = s / static_cast<float>(p.positions);
    }
    __syncthreads();  // the partial sums are read before the next tile overwrites them
  }
}
